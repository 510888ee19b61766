"""The monitoring loop's seams to other apps: the inference engine (algorithms), frame capture and
stream status (streams), face recognition (faces), and raising alerts (alerts).

Every call the worker makes into another app goes through this module, so an interface that changes
is a one-line fix here.
"""
from __future__ import annotations

import logging
from datetime import datetime

import numpy as np

from aimonitor import metrics

logger = logging.getLogger(__name__)


def get_predictor(algorithm):
    """The process-wide predictor for ``algorithm`` (loaded once per process by the engine)."""
    from algorithms.engine import get_predictor as engine_get_predictor

    return engine_get_predictor(algorithm)


def record_inference(algorithm_id: int, frames: int, elapsed_ms: float, errors: int = 0) -> None:
    from algorithms.services import record_inference as engine_record

    engine_record(algorithm_id, frames, elapsed_ms, errors=errors)


def open_reader(stream, *, sample_fps: float):
    """Starts reading ``stream`` at ``sample_fps`` (reconnecting with back-off); its online/offline
    changes update the stream row."""
    from django.db import DatabaseError

    from .capture import FrameReader
    from .services import capture_url, set_stream_status

    lost = {"value": False}

    def on_status(status, error: str = "", **probe):
        # Back online after a loss: the reader reconnected.
        if str(status) == "online" and lost["value"]:
            metrics.count_stream_reconnect(stream.pk)
        lost["value"] = str(status) != "online"
        try:
            set_stream_status(stream.pk, str(status), error=error or "", **probe)
        except DatabaseError:
            logger.warning("Stream %s: status %s not recorded", stream.pk, status, exc_info=True)

    reader = FrameReader(capture_url(stream), sample_fps=sample_fps, loop=stream.type == "file",
                         on_status=on_status)
    reader.start()
    return reader


def raise_alert(*, alert_type: str, level: str, detections: list[dict], frame: np.ndarray, task=None,
                stream=None, algorithm=None, regions=None, detection_time: datetime | None = None,
                metadata: dict | None = None, extra_images: dict | None = None):
    """Writes the alert row and its annotated snapshot in one transaction; pushes after commit.
    ``regions`` are the task's zones (``{"name", "polygon"}``, normalised); ``extra_images`` are stored
    beside the snapshot (e.g. ``{"face_crop": crop}``)."""
    from alerts.services import raise_alert as alerts_raise_alert

    zones = [{"name": zone["name"], "points": zone["polygon"]} for zone in regions or []]
    return alerts_raise_alert(alert_type=alert_type, level=level, detections=detections, frame=frame, task=task,
                              stream=stream, algorithm=algorithm, regions=zones or None,
                              detection_time=detection_time, metadata=metadata, extra_images=extra_images)


def recognise_faces(image: np.ndarray, *, libraries: list[int], threshold: float | None, max_faces: int):
    """The faces of a BGR frame, each with its best match in ``libraries`` (``faces.services.FaceMatch``).
    No library to search: faces are still found, and all are strangers."""
    from faces.services import recognise

    return recognise(image, libraries=libraries, threshold=threshold, max_faces=max_faces)


def existing_face_libraries(ids: list[int]) -> set[int]:
    """Which of ``ids`` are face libraries."""
    from faces.models import FaceLibrary

    return set(FaceLibrary.objects.filter(pk__in=ids).values_list("pk", flat=True))


def watchlist_face_libraries() -> list[int]:
    """Every watchlist library: what a face task searches when it names none."""
    from faces.models import FaceLibrary

    return list(FaceLibrary.objects.filter(is_watchlist=True).values_list("pk", flat=True))
