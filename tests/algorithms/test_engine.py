"""The inference engine with real weights: the shipped person detector on real pictures, a random
YOLOv8n for batching, the ONNX path against the PyTorch path, the registry and device handling."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from algorithms import engine
from algorithms.engine import Detection, DeviceUnavailable, EngineError, Predictor
from tests.algorithms.conftest import iou
from tests.media import bus_image, fall_detector_weights, zidane_image

# Where the people are (hand-measured on the pictures, not taken from the model's output).
BUS_PEOPLE = [(50, 400, 245, 905), (222, 407, 345, 860), (669, 392, 809, 877)]  # plus one cut off at the left edge
ZIDANE_PEOPLE = [(747, 41, 1141, 712), (123, 196, 714, 720)]


@pytest.fixture(scope="module")
def person_detector() -> Predictor:
    # ultralytics' default NMS IoU (0.7): at 0.45 the person cut off at the left edge merges into its neighbour.
    return Predictor(fall_detector_weights(), {"device": "cpu", "iou_threshold": 0.7})


def best_iou(box, detections) -> float:
    return max((iou(box, d.bbox) for d in detections), default=0.0)


def test_detector_finds_four_people_in_the_bus_picture(person_detector):
    [found] = person_detector.predict([bus_image()])
    assert len(found) == 4
    assert {d.class_name for d in found} == {"Normal"}
    for person in BUS_PEOPLE:
        assert best_iou(person, found) > 0.6, (person, found)
    # The fourth person is the one cut off by the left edge of the picture.
    assert min(d.bbox[0] for d in found) < 20


def test_detector_finds_two_people_in_the_zidane_picture(person_detector):
    [found] = person_detector.predict([zidane_image()])
    assert len(found) == 2
    for person in ZIDANE_PEOPLE:
        assert best_iou(person, found) > 0.4, (person, found)


def test_detections_are_in_pixels_of_the_input_frame(person_detector):
    small = cv2.resize(bus_image(), (405, 540))  # half size
    [full] = person_detector.predict([bus_image()])
    [half] = person_detector.predict([small])
    assert len(half) == len(full)
    for person in BUS_PEOPLE:
        scaled = tuple(v / 2 for v in person)
        assert best_iou(scaled, half) > 0.5
    assert all(0 <= d.bbox[0] < d.bbox[2] <= 405 and 0 <= d.bbox[1] < d.bbox[3] <= 540 for d in half)


def test_a_batch_gives_the_same_detections_as_single_frames(person_detector):
    """GIVEN three same-sized frames WHEN predicted in batches of two THEN each frame's detections match
    its own single-frame prediction."""
    bus = bus_image()
    frames = [bus, cv2.flip(bus, 1), bus]
    batched = person_detector.predict(frames, person_detector.run_options({"max_batch_size": 2}))
    assert len(batched) == 3
    for frame, got in zip(frames, batched, strict=True):
        [alone] = person_detector.predict([frame])
        assert len(got) == len(alone)
        for det in alone:
            assert best_iou(det.bbox, got) > 0.95


def test_predict_splits_frames_into_batches_of_the_max_batch_size(random_yolo_pt):
    predictor = Predictor(random_yolo_pt, {"device": "cpu", "input_size": 64, "max_batch_size": 3})
    sizes = []
    real_predict = predictor.model.predict

    def counting_predict(source, **kwargs):
        sizes.append(len(source))
        return real_predict(source, **kwargs)

    predictor.model.predict = counting_predict
    frames = [np.full((48, 64, 3), i * 30, dtype=np.uint8) for i in range(7)]
    results = predictor.predict(frames)
    assert sizes == [3, 3, 1]
    assert len(results) == 7
    assert all(isinstance(r, list) for r in results)


def test_target_classes_by_name_keep_only_those_classes(person_detector):
    only_falls = person_detector.run_options({"target_classes": ["Fall"]})
    only_normal = person_detector.run_options({"target_classes": ["normal"]})
    assert person_detector.predict([bus_image()], only_falls) == [[]]
    assert len(person_detector.predict([bus_image()], only_normal)[0]) == 4


def test_a_higher_confidence_threshold_drops_weak_detections(person_detector):
    strict = person_detector.run_options({"confidence_threshold": 0.6})
    [found] = person_detector.predict([bus_image()], strict)
    assert 0 < len(found) < 4
    assert all(d.confidence >= 0.6 for d in found)


def test_unknown_target_classes_are_refused():
    with pytest.raises(ValueError, match="unknown class"):
        engine.class_ids(["dog"], {0: "Normal", 1: "Fall"})
    with pytest.raises(ValueError, match="not one of"):
        engine.class_ids([7], {0: "Normal", 1: "Fall"})
    assert engine.class_ids(["Fall", 0], {0: "Normal", 1: "Fall"}) == (0, 1)
    assert engine.class_ids([], {0: "Normal"}) is None


def test_a_config_naming_classes_the_model_lacks_is_an_engine_error(random_yolo_pt):
    with pytest.raises(EngineError, match="config does not fit"):
        Predictor(random_yolo_pt, {"device": "cpu", "input_size": 64, "target_classes": ["Fall"]}, warmup=False)


def test_frames_that_are_not_bgr_images_are_refused(person_detector):
    with pytest.raises(ValueError, match="frame 1"):
        person_detector.predict([bus_image(), np.zeros((10, 10), dtype=np.uint8)])
    assert person_detector.predict([]) == []


def test_detection_to_dict_has_the_shared_shape():
    det = Detection(0, "Normal", 0.5, (1.0, 2.0, 3.0, 4.0))
    assert det.to_dict() == {"class": "Normal", "class_id": 0, "confidence": 0.5, "bbox": [1.0, 2.0, 3.0, 4.0]}
    assert det.area == 4.0


def test_onnx_export_gives_the_same_detections_as_the_pytorch_weights(person_detector, detector_onnx, square_bus):
    onnx = Predictor(detector_onnx, {"device": "cpu", "iou_threshold": 0.7})
    assert onnx.format == "onnx" and onnx.names == person_detector.names
    [from_pt] = person_detector.predict([square_bus])
    [from_onnx] = onnx.predict([square_bus])
    assert len(from_onnx) == len(from_pt) >= 3
    for det in from_pt:
        match = max(from_onnx, key=lambda d, det=det: iou(d.bbox, det.bbox))
        assert iou(match.bbox, det.bbox) > 0.95
        assert match.class_id == det.class_id
        assert abs(match.confidence - det.confidence) < 0.02


def test_cuda_asked_for_on_a_machine_without_it_runs_on_the_cpu_with_a_notice(caplog, settings):
    if engine.cuda_available():
        pytest.skip("this machine has CUDA")
    with caplog.at_level(logging.WARNING, logger="algorithms.engine.device"):
        assert engine.resolve_device("cuda:1") == "cpu"
    assert "CUDA is not available" in caplog.text
    settings.INFERENCE_DEVICE = "cuda"
    assert engine.resolve_device("auto") == "cpu"
    settings.INFERENCE_DEVICE = "cpu"
    assert engine.resolve_device(None) == "cpu"
    with pytest.raises(ValueError, match="unknown device"):
        engine.resolve_device("tpu")


def test_half_precision_and_the_memory_cap_apply_only_on_cuda(random_yolo_pt):
    predictor = Predictor(random_yolo_pt, {"device": "cpu", "half": True, "input_size": 64})
    assert predictor.device == "cpu" and predictor.half is False
    assert engine.apply_memory_cap("cpu", 0.5) is False


def test_a_tensorrt_engine_is_refused_without_a_gpu(tmp_path):
    if engine.cuda_available():
        pytest.skip("this machine has CUDA")
    fake = tmp_path / "model.engine"
    fake.write_bytes(b"\0" * 128)
    with pytest.raises(DeviceUnavailable, match="CUDA GPU"):
        Predictor(fake, {"device": "auto"})


def test_missing_or_corrupt_weights_raise_engine_errors(tmp_path):
    with pytest.raises(EngineError, match="not found"):
        Predictor(tmp_path / "absent.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(EngineError, match="cannot load"):
        Predictor(corrupt)
    text = tmp_path / "weights.txt"
    text.write_text("x")
    with pytest.raises(EngineError, match="unsupported"):
        Predictor(text)


@pytest.mark.django_db
def test_the_registry_loads_once_and_reloads_when_weights_or_load_config_change(make_algorithm, random_yolo_pt,
                                                                                 tmp_path):
    algorithm = make_algorithm(random_yolo_pt, config={"input_size": 64, "device": "cpu"})
    try:
        first = engine.get_predictor(algorithm)
        assert engine.get_predictor(algorithm) is first
        assert engine.loaded()[algorithm.pk] is first

        algorithm.config = {**algorithm.config, "confidence_threshold": 0.7, "max_batch_size": 2}
        same = engine.get_predictor(algorithm)
        assert same is first  # call-time settings need no reload
        assert same.options.conf == 0.7 and same.options.max_batch == 2

        algorithm.config = {**algorithm.config, "input_size": 96}
        resized = engine.get_predictor(algorithm)
        assert resized is not first and resized.imgsz == 96

        copy = tmp_path / "changed.pt"
        copy.write_bytes(random_yolo_pt.read_bytes())
        algorithm.weights, algorithm.weights_sha256 = str(copy), "0" * 64
        assert engine.get_predictor(algorithm) is not resized
    finally:
        assert engine.unload(algorithm.pk) is True
    assert algorithm.pk not in engine.loaded()
    assert engine.unload(algorithm.pk) is False
