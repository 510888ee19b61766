"""The first-run demo: generated clip, file stream and stopped task; seeding twice changes nothing."""
from __future__ import annotations

import cv2
import pytest

from streams.demo import ensure_demo
from streams.models import MonitorTask, VideoStream


@pytest.mark.django_db
def test_the_demo_is_a_real_clip_a_file_stream_and_a_stopped_task(settings, tmp_path):
    settings.VIDEOS_DIR = tmp_path / "videos"
    first = ensure_demo()
    assert first["created"] == ["clip", "stream", "task"]
    capture = cv2.VideoCapture(str(first["clip"]))
    ok, frame = capture.read()
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    assert ok and frame.shape == (480, 640, 3) and frames == 80
    task = first["task"]
    assert task.status == "stopped" and task.desired_running is False
    assert task.stream.type == "file" and task.algorithm.weights.endswith("best.pt")
    second = ensure_demo()
    assert second["created"] == [] and second["task"].pk == task.pk
    assert (VideoStream.objects.count(), MonitorTask.objects.count()) == (1, 1)
