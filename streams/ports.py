"""The monitoring loop's seams to other apps: the inference engine (algorithms), frame capture and
stream status (streams), and raising alerts (alerts).

Every call the worker makes into another app goes through this module, so an interface that changes
is a one-line fix here. Where the owning app's interface is not installed in this build yet, a small
local stand-in with the same signature keeps the loop working end to end; the owning app's
implementation always wins when it is importable.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

logger = logging.getLogger(__name__)


# --- Inference (algorithms.engine) -------------------------------------------------------------

@dataclass
class _Detection:
    class_id: int
    class_name: str
    confidence: float
    bbox: tuple[float, float, float, float]

    def to_dict(self) -> dict:
        return {"class_id": self.class_id, "class_name": self.class_name,
                "confidence": self.confidence, "bbox": list(self.bbox)}


class _UltralyticsPredictor:
    """Stand-in for algorithms.engine's predictor: one YOLO model per weights file and process."""

    def __init__(self, algorithm):
        from ultralytics import YOLO

        path = Path(algorithm.weights)
        if not path.is_absolute():
            path = Path(settings.MODELS_DIR) / path
        if not path.is_file():
            raise FileNotFoundError(f"Weights file not found: {path}")
        self.model = YOLO(str(path))
        self.config = algorithm.config or {}
        self.lock = threading.Lock()

    def predict(self, frames: list[np.ndarray]) -> list[list[_Detection]]:
        with self.lock:
            results = self.model.predict(frames, conf=float(self.config.get("confidence_threshold", 0.25)),
                                         iou=float(self.config.get("iou_threshold", 0.45)),
                                         imgsz=int(self.config.get("input_size", 640)), verbose=False)
        out = []
        for result in results:
            names = result.names
            boxes = result.boxes
            out.append([
                _Detection(int(c), str(names[int(c)]), float(p), tuple(float(v) for v in b))
                for c, p, b in zip(boxes.cls.tolist(), boxes.conf.tolist(), boxes.xyxy.tolist(), strict=True)
            ])
        return out


_predictors: dict[tuple, Any] = {}
_predictors_lock = threading.Lock()


def get_predictor(algorithm):
    """The process-wide predictor for ``algorithm`` (loaded once)."""
    try:
        from algorithms.engine import get_predictor as engine_get_predictor
    except ImportError:
        engine_get_predictor = None
    if engine_get_predictor is not None:
        return engine_get_predictor(algorithm)
    key = (algorithm.pk, algorithm.weights, algorithm.weights_sha256)
    with _predictors_lock:
        if key not in _predictors:
            _predictors[key] = _UltralyticsPredictor(algorithm)
        return _predictors[key]


def record_inference(algorithm_id: int, frames: int, elapsed_ms: float, errors: int = 0) -> None:
    try:
        from algorithms.services import record_inference as engine_record
    except ImportError:
        return
    engine_record(algorithm_id, frames, elapsed_ms, errors=errors)


# --- Capture and stream status (streams) -------------------------------------------------------

@dataclass
class _Frame:
    timestamp: float
    image: np.ndarray


class _CaptureReader:
    """Stand-in for streams.capture.FrameReader: a thread keeps the latest frame sampled at
    ``sample_fps`` and reconnects with back-off; ``on_status(status, error)`` reports online/offline."""

    def __init__(self, url: str, *, sample_fps: float, loop: bool = False, on_status=None,
                 backoff_initial: float = 0.5, backoff_max: float = 5.0):
        self.url, self.sample_fps, self.loop, self.on_status = url, sample_fps, loop, on_status
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.status = "unknown"
        self._latest: _Frame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture:{url}", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _set_status(self, status: str, error: str = "") -> None:
        if status != self.status:
            self.status = status
            if self.on_status:
                self.on_status(status, error)

    def _run(self) -> None:
        import cv2

        backoff = self.backoff_initial
        while not self._stop.is_set():
            cap = cv2.VideoCapture(self.url)
            if not cap.isOpened():
                self._set_status("offline", f"Cannot open {self.url}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max)
                continue
            self._set_status("online")
            backoff = self.backoff_initial
            file_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            is_file = self.loop
            next_due = 0.0
            while not self._stop.is_set():
                ok, image = cap.read()
                if not ok:
                    break
                now = time.time()
                if is_file:
                    # A file plays at its own rate, as a camera would.
                    time.sleep(1.0 / file_fps)
                if now < next_due:
                    continue
                next_due = now + 1.0 / self.sample_fps
                with self._cond:
                    self._latest = _Frame(now, image)
                    self._cond.notify_all()
            cap.release()
            if not is_file and not self._stop.is_set():
                self._set_status("offline", "The stream ended")
                self._stop.wait(backoff)

    def get(self, timeout: float) -> _Frame | None:
        with self._cond:
            if self._latest is None:
                self._cond.wait(timeout)
            frame, self._latest = self._latest, None
            return frame

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def capture_url(stream) -> str:
    try:
        from streams.services import capture_url as streams_capture_url
    except ImportError:
        streams_capture_url = None
    if streams_capture_url is not None:
        return streams_capture_url(stream)
    if stream.type == "file" and not Path(stream.url).is_absolute():
        return str(Path(settings.VIDEOS_DIR) / stream.url)
    return stream.url


def set_stream_status(stream_id: int, status: str, error: str = "") -> None:
    try:
        from streams.services import set_stream_status as streams_set_status
    except ImportError:
        streams_set_status = None
    if streams_set_status is not None:
        streams_set_status(stream_id, status, error=error)
        return
    from django.utils import timezone

    from .models import VideoStream

    VideoStream.objects.filter(pk=stream_id).update(status=status, last_error=error, last_checked=timezone.now())


def open_reader(stream, *, sample_fps: float):
    """Starts reading ``stream`` at ``sample_fps``; its online/offline changes update the stream row."""
    def on_status(status, error: str = "", **_probe):
        from django.db import DatabaseError, close_old_connections

        try:
            set_stream_status(stream.pk, str(status), error or "")
        except DatabaseError:
            logger.warning("Stream %s: status %s not recorded", stream.pk, status, exc_info=True)
        finally:
            close_old_connections()

    url = capture_url(stream)
    loop = stream.type == "file"
    try:
        from streams.capture import FrameReader
    except ImportError:
        FrameReader = None
    if FrameReader is not None:
        reader = FrameReader(url, sample_fps=sample_fps, loop=loop, on_status=on_status)
    else:
        reader = _CaptureReader(url, sample_fps=sample_fps, loop=loop, on_status=on_status)
    reader.start()
    return reader


# --- Alerts ------------------------------------------------------------------------------------

def _annotate(frame: np.ndarray, detections: list[dict], regions: list[dict] | None) -> np.ndarray:
    import cv2

    image = frame.copy()
    h, w = image.shape[:2]
    for zone in regions or []:
        points = np.array([[int(x * w), int(y * h)] for x, y in zone["polygon"]], dtype=np.int32)
        cv2.polylines(image, [points], True, (255, 200, 0), 2)
    for det in detections:
        x1, y1, x2, y2 = (int(v) for v in det["bbox"])
        cv2.rectangle(image, (x1, y1), (x2, y2), (0, 0, 255), 2)
        cv2.putText(image, f"{det['class']} {det['confidence']:.2f}", (x1, max(12, y1 - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1)
    return image


def _local_raise_alert(*, alert_type, level, detections, frame, task=None, stream=None, algorithm=None,
                       regions=None, detection_time=None, metadata=None, extra_images=None):
    import cv2
    from django.core.files.base import ContentFile
    from django.db import transaction
    from django.utils import timezone

    from aimonitor.live import ALERTS_GROUP, broadcast, task_group
    from alerts.models import Alert

    ok, jpeg = cv2.imencode(".jpg", _annotate(frame, detections, regions), [cv2.IMWRITE_JPEG_QUALITY, 85])
    with transaction.atomic():
        alert = Alert(type=alert_type, level=level, task=task, stream=stream, algorithm=algorithm,
                      detection_time=detection_time or timezone.now(),
                      metadata={**(metadata or {}), "detections": detections, "regions": regions or []})
        alert.snapshot.save(f"alert-{int(time.time() * 1000)}.jpg", ContentFile(jpeg.tobytes()), save=False)
        alert.save()
        message = {"type": "alert.created", "alert": {
            "id": alert.pk, "type": alert.type, "level": alert.level, "task": task.pk if task else None,
            "stream": stream.pk if stream else None, "detection_time": alert.detection_time.isoformat(),
            "detections": detections, "snapshot": alert.snapshot.url if alert.snapshot else None}}

        def push():
            broadcast(ALERTS_GROUP, message)
            if task is not None:
                broadcast(task_group(task.pk), message)

        transaction.on_commit(push)
    return alert


def raise_alert(*, alert_type: str, level: str, detections: list[dict], frame: np.ndarray, task=None,
                stream=None, algorithm=None, regions=None, detection_time: datetime | None = None,
                metadata: dict | None = None):
    """Writes the alert row and its annotated snapshot in one transaction; pushes after commit."""
    try:
        from alerts.services import raise_alert as alerts_raise_alert
    except ImportError:
        alerts_raise_alert = _local_raise_alert
    if alerts_raise_alert is not _local_raise_alert and regions:
        # alerts.services takes zones as {"name", "points"}.
        regions = [{"name": zone["name"], "points": zone["polygon"]} for zone in regions]
    return alerts_raise_alert(alert_type=alert_type, level=level, detections=detections, frame=frame, task=task,
                              stream=stream, algorithm=algorithm, regions=regions,
                              detection_time=detection_time, metadata=metadata)
