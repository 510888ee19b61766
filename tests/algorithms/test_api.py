"""The algorithms API: CRUD with config validation, model uploads validated by really loading them,
test runs on real pictures, start/stop, and deletion refused while a monitoring task uses it."""
from __future__ import annotations

import base64
import shutil

import cv2
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from algorithms import engine
from algorithms.models import Algorithm
from tests.media import bus_image, fall_detector_weights, jpeg_bytes

pytestmark = pytest.mark.django_db


def url(name, pk=None):
    return reverse(f"algorithms:algorithm-{name}", kwargs={"pk": pk} if pk else None)


def model_files(settings):
    return sorted(p.name for p in settings.MODELS_DIR.rglob("*") if p.is_file())


# --- CRUD ----------------------------------------------------------------------------------------
def test_admin_creates_an_algorithm_with_the_default_config_merged(admin_client):
    response = admin_client.post(url("list"), {"name": "Helmets", "version": "2", "config": {"max_batch_size": 4}},
                                 format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "stopped" and body["weights"] == "" and body["in_use"] is False
    assert body["config"]["max_batch_size"] == 4 and body["config"]["confidence_threshold"] == 0.25


@pytest.mark.parametrize(("config", "field"), [
    ({"confidence_threshold": 1.5}, "config"),
    ({"device": "tpu"}, "config"),
    ({"input_size": 100}, "config"),
    ({"max_batch_size": "eight"}, "config"),
    ({"colour": "red"}, "config"),
    ({"target_classes": "person"}, "config"),
])
def test_a_bad_config_is_refused_and_nothing_is_created(admin_client, config, field):
    response = admin_client.post(url("list"), {"name": "Bad", "config": config}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and field in body["errors"]
    assert not Algorithm.objects.exists()


def test_a_duplicate_name_and_version_is_refused(admin_client, make_algorithm):
    make_algorithm(name="Dup", version="1.0")
    response = admin_client.post(url("list"), {"name": "Dup", "version": "1.0"}, format="json")
    assert response.status_code == 400 and "name" in response.json()["errors"]
    assert Algorithm.objects.count() == 1


def test_patching_the_config_merges_and_checks_target_classes_against_the_model(admin_client, detector):
    response = admin_client.patch(url("detail", detector.pk), {"config": {"target_classes": ["Fall"]}}, format="json")
    assert response.status_code == 200
    detector.refresh_from_db()
    assert detector.config["target_classes"] == ["Fall"] and detector.config["iou_threshold"] == 0.7
    response = admin_client.patch(url("detail", detector.pk), {"config": {"target_classes": ["dog"]}}, format="json")
    assert response.status_code == 400 and "unknown class" in response.json()["detail"]
    detector.refresh_from_db()
    assert detector.config["target_classes"] == ["Fall"]


def test_list_filters_by_kind_and_active_and_searches_names(viewer_client, make_algorithm):
    make_algorithm(name="Person detector")
    make_algorithm(name="Faces", kind="face_recognition", framework="opencv")
    make_algorithm(name="Old person detector", is_active=False)
    names = lambda r: sorted(a["name"] for a in r.json()["results"])  # noqa: E731
    assert names(viewer_client.get(url("list"), {"kind": "face_recognition"})) == ["Faces"]
    assert names(viewer_client.get(url("list"), {"is_active": "false"})) == ["Old person detector"]
    assert names(viewer_client.get(url("list"), {"search": "person"})) == ["Old person detector", "Person detector"]


def test_deleting_an_algorithm_in_use_by_a_monitoring_task_is_refused(admin_client, detector):
    from streams.models import MonitorTask, VideoStream

    stream = VideoStream.objects.create(name="Gate", url="rtsp://127.0.0.1:8554/gate")
    MonitorTask.objects.create(name="Gate watch", stream=stream, algorithm=detector)
    response = admin_client.delete(url("detail", detector.pk))
    assert response.status_code == 409
    assert response.json()["code"] == "in_use"
    assert Algorithm.objects.filter(pk=detector.pk).exists()
    assert admin_client.get(url("detail", detector.pk)).json()["in_use"] is True


def test_deleting_an_unused_algorithm_removes_its_weight_files(admin_client, make_algorithm, settings, tmp_path,
                                                               django_capture_on_commit_callbacks):
    folder = settings.MODELS_DIR / "algorithms"
    algorithm = make_algorithm()
    (folder / str(algorithm.pk)).mkdir(parents=True)
    (folder / str(algorithm.pk) / "abc.pt").write_bytes(b"x")
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.delete(url("detail", algorithm.pk)).status_code == 204
    assert not (folder / str(algorithm.pk)).exists()


def test_unknown_ids_answer_404(admin_client):
    response = admin_client.post(url("start", 999))
    assert response.status_code == 404 and response.json()["code"] == "not_found"


# --- upload-model ----------------------------------------------------------------------------------
def upload(client, pk, name, content):
    return client.post(url("upload-model", pk), {"model_file": SimpleUploadedFile(name, content)}, format="multipart")


def test_uploading_the_real_detector_stores_it_with_hash_size_and_class_names(admin_client, make_algorithm, settings):
    algorithm = make_algorithm()
    content = fall_detector_weights().read_bytes()
    response = upload(admin_client, algorithm.pk, "best.pt", content)
    assert response.status_code == 200, response.json()
    algorithm.refresh_from_db()
    import hashlib

    assert algorithm.weights_sha256 == hashlib.sha256(content).hexdigest()
    assert algorithm.weights_size == len(content)
    assert algorithm.class_names == ["Normal", "Fall"] and algorithm.format == "pt"
    assert algorithm.weights_path.is_file() and algorithm.weights_path.is_relative_to(settings.MODELS_DIR)
    assert algorithm.weights_path.read_bytes() == content
    assert not list((settings.MODELS_DIR / ".incoming").iterdir())


def test_a_random_bytes_model_is_refused_and_the_previous_weights_stay(admin_client, detector, settings):
    before = (detector.weights, detector.weights_sha256, detector.weights_size, detector.class_names)
    response = upload(admin_client, detector.pk, "best.pt", np.random.default_rng(1).bytes(4096))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_model" and "model_file" in body["errors"]
    assert "not a loadable" in body["detail"].lower() or "corrupt" in body["detail"].lower()
    detector.refresh_from_db()
    assert (detector.weights, detector.weights_sha256, detector.weights_size, detector.class_names) == before
    assert model_files(settings) == []


def test_a_truncated_checkpoint_is_refused(admin_client, make_algorithm, settings):
    algorithm = make_algorithm()
    response = upload(admin_client, algorithm.pk, "best.pt", fall_detector_weights().read_bytes()[:2_000_000])
    assert response.status_code == 400 and response.json()["code"] == "invalid_model"
    algorithm.refresh_from_db()
    assert algorithm.weights == "" and model_files(settings) == []


@pytest.mark.parametrize("name", ["best.txt", "best", "best.pt.zip"])
def test_a_file_with_a_wrong_extension_is_refused(admin_client, make_algorithm, settings, name):
    algorithm = make_algorithm()
    response = upload(admin_client, algorithm.pk, name, b"\x80\x02}q\x00.")
    assert response.status_code == 400 and response.json()["code"] == "invalid_model"
    assert "model file" in response.json()["detail"]
    assert model_files(settings) == []


def test_an_oversized_model_is_refused_with_413(admin_client, make_algorithm, settings):
    settings.MAX_MODEL_UPLOAD_BYTES = 1000
    algorithm = make_algorithm()
    response = upload(admin_client, algorithm.pk, "big.pt", b"\0" * 1001)
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    algorithm.refresh_from_db()
    assert algorithm.weights == "" and model_files(settings) == []


def test_a_model_that_takes_too_long_to_load_is_refused(admin_client, make_algorithm, settings):
    settings.MODEL_VALIDATION_TIMEOUT = 0.3  # far less than importing torch takes
    algorithm = make_algorithm()
    response = upload(admin_client, algorithm.pk, "best.pt", fall_detector_weights().read_bytes())
    assert response.status_code == 400 and "longer than" in response.json()["detail"]
    assert model_files(settings) == []


def test_an_exported_onnx_model_uploads_as_onnx(admin_client, make_algorithm, detector_onnx):
    algorithm = make_algorithm()
    response = upload(admin_client, algorithm.pk, "detector.onnx", detector_onnx.read_bytes())
    assert response.status_code == 200, response.json()
    assert response.json()["format"] == "onnx" and response.json()["class_names"] == ["Normal", "Fall"]


def test_uploading_to_a_face_recognition_algorithm_is_unprocessable(admin_client, make_algorithm):
    faces = make_algorithm(kind="face_recognition", framework="opencv")
    response = upload(admin_client, faces.pk, "yunet.onnx", b"\0" * 64)
    assert response.status_code == 422 and response.json()["code"] == "unprocessable"


def test_a_tensorrt_engine_upload_is_unprocessable_without_a_gpu(admin_client, make_algorithm):
    if engine.cuda_available():
        pytest.skip("this machine has CUDA")
    algorithm = make_algorithm()
    response = upload(admin_client, algorithm.pk, "model.engine", b"\0" * 64)
    assert response.status_code == 422 and "CUDA" in response.json()["detail"]


def test_upload_without_a_file_is_a_400(admin_client, make_algorithm):
    algorithm = make_algorithm()
    response = admin_client.post(url("upload-model", algorithm.pk), {}, format="multipart")
    assert response.status_code == 400 and "model_file" in response.json()["errors"]


# --- test ------------------------------------------------------------------------------------------
def run_test(client, pk, content, **extra):
    data = {"test_image": SimpleUploadedFile("picture.jpg", content, "image/jpeg"), **extra}
    return client.post(url("test", pk), data, format="multipart")


def bus_file_bytes() -> bytes:
    """The original bus.jpg file (re-encoding it would shift the weakest detection's confidence)."""
    from pathlib import Path

    import ultralytics

    return (Path(ultralytics.__file__).parent / "assets" / "bus.jpg").read_bytes()


def test_testing_the_detector_on_the_bus_finds_four_people_and_draws_them(operator_client, detector):
    response = run_test(operator_client, detector.pk, bus_file_bytes())
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["algorithm_id"] == detector.pk and body["algorithm_name"] == detector.name
    assert len(body["detections"]) == 4 and body["processing_time_ms"] > 0
    assert set(body["detections"][0]) == {"class", "class_id", "confidence", "bbox"}
    drawn = cv2.imdecode(np.frombuffer(base64.b64decode(body["result_image"]), np.uint8), cv2.IMREAD_COLOR)
    assert drawn.shape == bus_image().shape
    assert np.abs(drawn.astype(int) - bus_image().astype(int)).mean() > 1  # boxes were drawn


def test_a_config_override_applies_to_that_run_only(operator_client, detector):
    response = run_test(operator_client, detector.pk, bus_file_bytes(),
                        config_override='{"target_classes": ["Fall"]}', return_image="false")
    assert response.status_code == 200 and response.json()["detections"] == []
    assert response.json()["result_image"] is None
    detector.refresh_from_db()
    assert detector.config["target_classes"] == []


@pytest.mark.parametrize("override", ['{"colour": 1}', "not json", '{"confidence_threshold": 7}'])
def test_a_bad_config_override_is_a_400(operator_client, detector, override):
    response = run_test(operator_client, detector.pk, jpeg_bytes(bus_image()), config_override=override)
    assert response.status_code == 400
    assert any(k.startswith("config_override") for k in response.json()["errors"])


def test_a_non_image_or_corrupt_image_is_a_400(operator_client, detector):
    for content in (b"%PDF-1.4 not a picture", jpeg_bytes(bus_image())[:300], b""):
        response = run_test(operator_client, detector.pk, content)
        assert response.status_code == 400, content[:20]
        assert response.json()["code"] in ("invalid_image", "empty", "invalid")


def test_an_oversized_test_image_is_a_413(operator_client, detector, settings):
    settings.MAX_IMAGE_UPLOAD_BYTES = 1000
    response = run_test(operator_client, detector.pk, jpeg_bytes(bus_image()))
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"


def test_testing_an_algorithm_without_weights_is_a_409(operator_client, make_algorithm):
    response = run_test(operator_client, make_algorithm().pk, jpeg_bytes(bus_image()))
    assert response.status_code == 409 and "upload" in response.json()["detail"]


def test_testing_a_face_recognition_algorithm_here_is_unprocessable(operator_client, make_algorithm):
    faces = make_algorithm(kind="face_recognition", framework="opencv")
    response = run_test(operator_client, faces.pk, jpeg_bytes(bus_image()))
    assert response.status_code == 422


def test_viewers_cannot_run_tests(viewer_client, detector):
    response = run_test(viewer_client, detector.pk, jpeg_bytes(bus_image()))
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


# --- start / stop -----------------------------------------------------------------------------------
def test_start_loads_the_model_on_a_worker_and_marks_it_running(operator_client, detector,
                                                                django_capture_on_commit_callbacks):
    engine.unload(detector.pk)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = operator_client.post(url("start", detector.pk))
    assert response.status_code == 202 and response.json()["status"] == "loading"
    assert detector.pk not in engine.loaded()
    for callback in callbacks:  # the committed transaction queues the load (eager here)
        callback()
    detector.refresh_from_db()
    assert detector.status == "running" and detector.error == ""
    assert detector.pk in engine.loaded()

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(url("stop", detector.pk))
    assert response.status_code == 200 and response.json()["status"] == "stopped"
    assert detector.pk not in engine.loaded()


def test_a_model_that_fails_to_load_marks_the_algorithm_error_with_the_reason(operator_client, make_algorithm,
                                                                             tmp_path,
                                                                             django_capture_on_commit_callbacks):
    broken = tmp_path / "broken.pt"
    shutil.copyfile(fall_detector_weights(), broken)
    algorithm = make_algorithm(broken)
    broken.write_bytes(b"garbage")  # the file went bad after registration
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(url("start", algorithm.pk))
    assert response.status_code == 202
    algorithm.refresh_from_db()
    assert algorithm.status == "error" and "cannot load" in algorithm.error
    assert algorithm.pk not in engine.loaded()


def test_starting_an_algorithm_without_weights_is_a_409(operator_client, make_algorithm):
    algorithm = make_algorithm()
    response = operator_client.post(url("start", algorithm.pk))
    assert response.status_code == 409
    algorithm.refresh_from_db()
    assert algorithm.status == "stopped"


def test_deactivating_a_running_algorithm_stops_it(admin_client, detector):
    Algorithm.objects.filter(pk=detector.pk).update(status="running")
    response = admin_client.patch(url("detail", detector.pk), {"is_active": False}, format="json")
    assert response.status_code == 200
    detector.refresh_from_db()
    assert detector.status == "stopped"
