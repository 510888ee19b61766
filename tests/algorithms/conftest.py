"""Fixtures for the algorithms tests: the real person detector, a random-weights YOLOv8n built from
ultralytics' own config, and the detector exported to ONNX once per session."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest

from tests.media import bus_image, fall_detector_weights


@pytest.fixture(autouse=True)
def _inference_stats_stay_in_the_test(settings):
    """No idle-flush timer firing in another thread (outside the test's transaction) mid-test."""
    from algorithms import services

    settings.INFERENCE_STATS_FLUSH_SECONDS = 3600
    yield
    services.cancel_pending_flush()
    with services._stats.lock:
        services._stats.data.clear()


@pytest.fixture(scope="session")
def random_yolo_pt(tmp_path_factory) -> Path:
    """YOLOv8n with random weights (no download: built from the yaml inside ultralytics), as a .pt."""
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("yolov8n") / "yolov8n-random.pt"
    YOLO("yolov8n.yaml").save(str(path))
    return path


@pytest.fixture(scope="session")
def detector_onnx(tmp_path_factory) -> Path:
    """The real person detector exported to ONNX (640, batch 1), once for the whole session."""
    from ultralytics import YOLO

    folder = tmp_path_factory.mktemp("detector-onnx")
    source = folder / "best.pt"
    shutil.copyfile(fall_detector_weights(), source)
    return Path(YOLO(str(source)).export(format="onnx", imgsz=640, device="cpu"))


@pytest.fixture(scope="session")
def square_bus():
    """bus.jpg squeezed to 640x640: the PyTorch and ONNX paths then see the very same model input."""
    return cv2.resize(bus_image(), (640, 640))


@pytest.fixture
def make_algorithm(db):
    """Builds an Algorithm row around a weights file already on disk (no upload validation)."""
    from algorithms.models import Algorithm, default_config
    from algorithms.services import sha256_of

    counter = {"n": 0}

    def make(weights: Path | None = None, *, class_names=None, config=None, **fields):
        counter["n"] += 1
        values = {"name": f"algo-{counter['n']}", "config": {**default_config(), **(config or {})}, **fields}
        if weights is not None:
            values.update(weights=str(weights), weights_sha256=sha256_of(weights), weights_size=weights.stat().st_size,
                          format=weights.suffix.lstrip("."), class_names=class_names or ["Normal", "Fall"])
        return Algorithm.objects.create(**values)

    return make


@pytest.fixture
def detector(make_algorithm):
    """The shipped YOLOv8 person/fall detector as an algorithm (weights at the package's path)."""
    return make_algorithm(fall_detector_weights(), name="Person detector", class_names=["Normal", "Fall"],
                          config={"iou_threshold": 0.7})


def iou(a, b) -> float:
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    iw, ih = max(0.0, min(ax2, bx2) - max(ax1, bx1)), max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union else 0.0
