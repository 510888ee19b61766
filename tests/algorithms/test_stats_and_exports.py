"""Inference statistics (aggregated in memory, flushed, read by the metrics endpoint), exports
through ultralytics' exporter as a background task, and the seed's shipped detector."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from algorithms import engine, services
from algorithms.models import Algorithm, ExportJob, InferenceStat
from tests.media import bus_image

pytestmark = pytest.mark.django_db


# --- statistics --------------------------------------------------------------------------------------
def test_recording_sums_in_memory_and_writes_one_row_per_algorithm_and_day(make_algorithm,
                                                                          django_assert_num_queries):
    algorithm = make_algorithm()
    with django_assert_num_queries(0):
        for _ in range(50):
            services.record_inference(algorithm.pk, 8, 400.0)
        services.record_inference(algorithm.pk, 0, 0.0, errors=1)
    assert not InferenceStat.objects.exists()
    assert services.flush_inference_stats() == 1
    row = InferenceStat.objects.get()
    assert (row.calls, row.frames, row.errors, row.total_ms) == (51, 400, 1, 20000.0)
    assert row.min_ms == row.max_ms == 50.0 and row.day == timezone.localdate()

    services.record_inference(algorithm.pk, 2, 20.0)  # 10 ms a frame: a new fastest
    services.record_inference(algorithm.pk, 1, 90.0)  # 90 ms a frame: a new slowest
    services.flush_inference_stats()
    row.refresh_from_db()
    assert (row.calls, row.frames, row.min_ms, row.max_ms) == (53, 403, 10.0, 90.0)
    assert InferenceStat.objects.count() == 1


def test_a_flush_is_triggered_by_time(make_algorithm, settings):
    algorithm = make_algorithm()
    settings.INFERENCE_STATS_FLUSH_SECONDS = 0
    services.record_inference(algorithm.pk, 4, 100.0)
    assert InferenceStat.objects.get(algorithm=algorithm).frames == 4


def test_an_idle_worker_flushes_its_last_numbers_after_the_interval(make_algorithm, settings):
    """GIVEN a flush interval not yet reached WHEN the worker records and then goes idle THEN a timer
    writes the numbers one interval later (here the timer is driven by hand: the test transaction is
    invisible to another thread)."""
    algorithm = make_algorithm()
    settings.INFERENCE_STATS_FLUSH_SECONDS = 60
    services.record_inference(algorithm.pk, 3, 30.0)
    timer = services._stats.timer
    assert timer is not None and timer.interval == 60 and timer.daemon
    services.record_inference(algorithm.pk, 1, 10.0)
    assert services._stats.timer is timer  # one timer at a time
    services.cancel_pending_flush()
    assert services.flush_inference_stats() == 1
    assert InferenceStat.objects.get(algorithm=algorithm).frames == 4


def test_statistics_of_a_deleted_algorithm_are_dropped(make_algorithm):
    algorithm = make_algorithm()
    services.record_inference(algorithm.pk, 1, 10.0)
    algorithm.delete()
    assert services.flush_inference_stats() == 0
    assert not InferenceStat.objects.exists()


def test_metrics_report_the_period_totals_and_a_daily_series(viewer_client, make_algorithm):
    algorithm = make_algorithm()
    today = timezone.localdate()
    InferenceStat.objects.create(algorithm=algorithm, day=today - timedelta(days=3), calls=10, frames=80,
                                 errors=0, total_ms=4000.0, min_ms=40.0, max_ms=70.0)
    InferenceStat.objects.create(algorithm=algorithm, day=today - timedelta(days=20), calls=5, frames=5,
                                 errors=5, total_ms=500.0, min_ms=100.0, max_ms=100.0)
    services.record_inference(algorithm.pk, 8, 240.0)  # not flushed yet: the endpoint flushes first
    services.record_inference(algorithm.pk, 0, 0.0, errors=1)
    metrics_url = reverse("algorithms:algorithm-metrics", kwargs={"pk": algorithm.pk})

    week = viewer_client.get(metrics_url, {"period": "7d"}).json()
    assert week["total_calls"] == 12 and week["total_frames"] == 88 and week["total_errors"] == 1
    assert week["avg_processing_ms"] == pytest.approx(4240 / 88, abs=1e-3)
    assert week["min_processing_ms"] == 30.0 and week["max_processing_ms"] == 70.0
    assert week["avg_fps"] == pytest.approx(88_000 / 4240, abs=1e-3)
    assert week["error_rate"] == pytest.approx(1 / 12, abs=1e-4)
    assert [d["date"] for d in week["series"]] == [(today - timedelta(days=3)).isoformat(), today.isoformat()]

    month = viewer_client.get(metrics_url, {"period": "30d"}).json()
    assert month["total_calls"] == 17 and month["max_processing_ms"] == 100.0 and len(month["series"]) == 3
    assert viewer_client.get(metrics_url, {"period": "all"}).json()["total_frames"] == 93
    today_only = viewer_client.get(metrics_url, {"period": "1d"}).json()
    assert today_only["total_frames"] == 8 and today_only["since"] == today.isoformat()


def test_metrics_of_an_algorithm_never_run_are_empty_not_an_error(viewer_client, make_algorithm):
    body = viewer_client.get(reverse("algorithms:algorithm-metrics", kwargs={"pk": make_algorithm().pk})).json()
    assert body["total_calls"] == 0 and body["avg_processing_ms"] is None and body["series"] == []


def test_an_unknown_metrics_period_is_a_400(viewer_client, make_algorithm):
    response = viewer_client.get(reverse("algorithms:algorithm-metrics", kwargs={"pk": make_algorithm().pk}),
                                 {"period": "2w"})
    assert response.status_code == 400 and "period" in response.json()["errors"]


def test_a_test_run_is_recorded_in_the_statistics(operator_client, detector):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.media import jpeg_bytes

    response = operator_client.post(reverse("algorithms:algorithm-test", kwargs={"pk": detector.pk}),
                                    {"test_image": SimpleUploadedFile("b.jpg", jpeg_bytes(bus_image())),
                                     "return_image": "false"}, format="multipart")
    assert response.status_code == 200
    services.flush_inference_stats()
    row = InferenceStat.objects.get(algorithm=detector)
    assert row.calls == 1 and row.frames == 1 and row.total_ms > 0


# --- exports -------------------------------------------------------------------------------------
def export_url(pk):
    return reverse("algorithms:algorithm-export", kwargs={"pk": pk})


def test_exporting_to_onnx_runs_in_the_background_and_the_result_can_be_applied(
        admin_client, make_algorithm, random_yolo_pt, settings, django_capture_on_commit_callbacks):
    algorithm = make_algorithm(random_yolo_pt, class_names=[f"c{i}" for i in range(80)],
                               config={"input_size": 64, "device": "cpu"})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(export_url(algorithm.pk), {"format": "onnx", "imgsz": 64, "batch": 2},
                                     format="json")
    assert response.status_code == 202, response.json()
    job = ExportJob.objects.get(pk=response.json()["id"])
    assert job.status == "pending" and job.dynamic is True and job.source_sha256 == algorithm.weights_sha256
    assert len(callbacks) == 1
    callbacks[0]()  # the queued task, run eagerly

    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert job.progress == 100 and job.result_weights.endswith(".onnx") and job.duration_s > 0
    exported = settings.MODELS_DIR / job.result_weights
    assert exported.is_file() and exported.stat().st_size == job.result_size
    assert services.sha256_of(exported) == job.result_sha256
    detail = admin_client.get(reverse("algorithms:algorithm-export-detail", kwargs={"pk": job.pk})).json()
    assert detail["status"] == "succeeded" and detail["progress"] == 100
    assert services.run_export(job.pk) is None  # a second delivery finds it done

    response = admin_client.post(reverse("algorithms:algorithm-export-apply", kwargs={"pk": job.pk}))
    assert response.status_code == 200
    algorithm.refresh_from_db()
    assert algorithm.format == "onnx" and algorithm.weights == job.result_weights
    predictor = engine.get_predictor(algorithm)
    try:
        assert predictor.format == "onnx"
        assert len(predictor.predict([bus_image(), bus_image(), bus_image()])) == 3
    finally:
        engine.unload(algorithm.pk)


def test_tensorrt_export_on_a_machine_without_a_gpu_is_unprocessable(admin_client, detector):
    if engine.cuda_available():
        pytest.skip("this machine has CUDA")
    response = admin_client.post(export_url(detector.pk), {"format": "engine", "half": True}, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "unprocessable" and "GPU" in response.json()["detail"]
    assert "format" in response.json()["errors"]
    assert not ExportJob.objects.exists()


@pytest.mark.parametrize(("payload", "status", "field"), [
    ({"format": "onnx", "half": True}, 422, "half"),
    ({"format": "onnx", "int8": True}, 422, "int8"),
    ({"format": "tflite"}, 400, "format"),
    ({"format": "onnx", "imgsz": 100}, 400, "imgsz"),
    ({"format": "onnx", "batch": 0}, 400, "batch"),
    ({}, 400, "format"),
])
def test_bad_export_requests_are_refused_and_queue_nothing(admin_client, detector, payload, status, field):
    if status == 422 and engine.cuda_available():
        pytest.skip("this machine has CUDA")
    response = admin_client.post(export_url(detector.pk), payload, format="json")
    assert response.status_code == status
    assert field in response.json()["errors"]
    assert not ExportJob.objects.exists()


def test_exporting_non_pt_weights_or_twice_at_once_is_a_conflict(admin_client, detector, make_algorithm,
                                                                detector_onnx):
    onnx_algorithm = make_algorithm(detector_onnx)
    response = admin_client.post(export_url(onnx_algorithm.pk), {"format": "onnx"}, format="json")
    assert response.status_code == 409 and ".pt" in response.json()["detail"]
    ExportJob.objects.create(algorithm=detector, format="onnx")
    response = admin_client.post(export_url(detector.pk), {"format": "onnx"}, format="json")
    assert response.status_code == 409 and ExportJob.objects.count() == 1


def test_an_export_that_fails_records_the_reason(make_algorithm, tmp_path, random_yolo_pt):
    weights = tmp_path / "gone.pt"
    weights.write_bytes(random_yolo_pt.read_bytes())
    algorithm = make_algorithm(weights)
    job = ExportJob.objects.create(algorithm=algorithm, format="onnx", imgsz=64)
    weights.unlink()
    assert services.run_export(job.pk) == "failed"
    job.refresh_from_db()
    assert job.status == "failed" and "missing" in job.error and job.finished_at is not None


def test_applying_an_unfinished_export_is_a_conflict(admin_client, detector):
    job = ExportJob.objects.create(algorithm=detector, format="onnx")
    response = admin_client.post(reverse("algorithms:algorithm-export-apply", kwargs={"pk": job.pk}))
    assert response.status_code == 409
    detector.refresh_from_db()
    assert detector.format == "pt"


# --- seed -------------------------------------------------------------------------------------------
def test_the_seed_registers_the_shipped_person_detector_once(settings):
    out = io.StringIO()
    call_command("seed", stdout=out)
    algorithm = Algorithm.objects.get(name=settings.DEFAULT_ALGORITHM_NAME)
    assert algorithm.kind == "object_detection" and algorithm.framework == "ultralytics"
    assert algorithm.class_names == ["Normal", "Fall"] and algorithm.format == "pt"
    assert algorithm.weights_path.is_file() and algorithm.weights_path.is_relative_to(settings.MODELS_DIR)
    assert services.sha256_of(algorithm.weights_path) == algorithm.weights_sha256
    assert "registered" in out.getvalue()
    call_command("seed", stdout=io.StringIO())
    assert Algorithm.objects.filter(name=settings.DEFAULT_ALGORITHM_NAME).count() == 1
    assert Algorithm.objects.get(pk=algorithm.pk).weights_sha256 == algorithm.weights_sha256
