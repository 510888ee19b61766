"""The streams seed: a group and a demo camera on a real clip; running it twice changes nothing."""
from __future__ import annotations

import io

import cv2
import pytest

from streams import seed
from streams.models import StreamGroup, VideoStream

pytestmark = pytest.mark.django_db


def test_seed_creates_a_playable_demo_camera_once(settings, tmp_path, no_zlm):
    settings.VIDEOS_DIR = tmp_path / "videos"
    settings.STREAM_MEDIA_ROOTS = [settings.VIDEOS_DIR]
    out = io.StringIO()
    seed.run(out)
    seed.run(out)
    assert StreamGroup.objects.filter(name="Head office").count() == 1
    stream = VideoStream.objects.get(name=seed.DEMO_NAME)
    assert stream.type == "file" and list(stream.groups.values_list("name", flat=True)) == ["Head office"]
    capture = cv2.VideoCapture(stream.url)
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape == (480, 640, 3)
    assert out.getvalue().count("created demo camera") == 1
