"""raise_alert: the row and the annotated snapshot are written together, then pushed after commit."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from aimonitor.live import ALERTS_GROUP, task_group
from alerts.models import Alert
from alerts.services import raise_alert
from alerts.snapshots import SnapshotError
from tests.media import bus_image, zidane_image

BUS_PEOPLE = [
    {"class": "person", "class_id": 0, "confidence": np.float32(0.91), "bbox": [50, 400, 245, 905], "zone": "door"},
    {"class": "person", "class_id": 0, "confidence": 0.87, "bbox": np.array([670, 380, 810, 880]), "zone": "door"},
]
DOOR = {"name": "door", "points": [[0.0, 0.3], [0.5, 0.3], [0.5, 0.95], [0.0, 0.95]]}


def media_files(settings) -> list[Path]:
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


class Subscriber:
    """A real channel on the project's channel layer, added to groups the way a consumer is."""

    def __init__(self, *groups: str):
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        self.groups = groups
        for group in groups:
            async_to_sync(self.layer.group_add)(group, self.channel)

    def drain(self, quiet: float = 0.3) -> list[dict]:
        """Every event that arrives until the channel stays quiet for ``quiet`` seconds. One event
        loop for all receives: channels-redis binds its receive buffer to the loop that first used it."""
        import asyncio

        async def collect():
            events = []
            while True:
                try:
                    events.append(await asyncio.wait_for(self.layer.receive(self.channel), quiet))
                except TimeoutError:
                    return events

        return async_to_sync(collect)()

    def close(self):
        for group in self.groups:
            async_to_sync(self.layer.group_discard)(group, self.channel)


@pytest.fixture
def subscriber(task):
    sub = Subscriber(ALERTS_GROUP, task_group(task.id))
    yield sub
    sub.close()


def test_raise_alert_writes_the_row_and_an_annotated_snapshot(task, settings, django_capture_on_commit_callbacks):
    frame = bus_image()
    with django_capture_on_commit_callbacks(execute=True):
        alert = raise_alert(alert_type="intrusion_detection", level="critical", detections=BUS_PEOPLE, frame=frame,
                            task=task, regions=[DOOR], metadata={"rule": "person in door zone"})

    alert = Alert.objects.get(pk=alert.pk)
    assert (alert.type, alert.level, alert.status) == ("intrusion_detection", "critical", "new")
    # The stream and algorithm come from the task.
    assert (alert.stream_id, alert.algorithm_id, alert.task_id) == (task.stream_id, task.algorithm_id, task.id)
    assert alert.metadata["rule"] == "person in door zone"
    assert alert.metadata["detections"][0] == {"class": "person", "class_id": 0, "confidence": 0.91,
                                               "bbox": [50.0, 400.0, 245.0, 905.0], "zone": "door"}
    assert alert.metadata["detections"][1]["bbox"] == [670.0, 380.0, 810.0, 880.0]
    assert alert.metadata["regions"] == [DOOR]

    snapshot = cv2.imread(str(Path(settings.MEDIA_ROOT) / alert.snapshot.name))
    assert snapshot.shape == frame.shape
    # The critical box is drawn in red on the first person's left edge; the picture is unchanged far
    # from any box or region.
    edge = snapshot[500:800, 48:53].reshape(-1, 3).astype(int)
    assert np.median(edge[:, 2]) > 200 and np.median(edge[:, 0]) < 80
    untouched_before = frame[20:120, 300:500].astype(int)
    untouched_after = snapshot[20:120, 300:500].astype(int)
    assert np.abs(untouched_before - untouched_after).mean() < 6  # JPEG noise only
    # The region is tinted green inside its polygon.
    inside_before, inside_after = frame[600:640, 300:340].astype(int), snapshot[600:640, 300:340].astype(int)
    assert (inside_after[..., 1] - inside_before[..., 1]).mean() > 10
    assert media_files(settings) == [Path(settings.MEDIA_ROOT) / alert.snapshot.name]


def test_raise_alert_stores_extra_images_beside_the_snapshot(stream, settings):
    face = zidane_image()[100:300, 600:760]
    alert = raise_alert(alert_type="face_recognition", level="info", detections=[], frame=zidane_image(),
                        stream=stream.id, extra_images={"face_crop": face},
                        metadata={"matches": [{"person_id": 7, "similarity": np.float64(0.71)}]})
    alert.refresh_from_db()
    crop = cv2.imread(str(Path(settings.MEDIA_ROOT) / alert.extra_images["face_crop"]))
    assert crop.shape == face.shape
    assert Path(alert.extra_images["face_crop"]).parent == Path(alert.snapshot.name).parent
    assert alert.metadata["matches"] == [{"person_id": 7, "similarity": 0.71}]
    assert alert.task_id is None and alert.stream_id == stream.id
    assert len(media_files(settings)) == 2


def test_raise_alert_without_a_frame_stores_no_snapshot(stream, settings):
    alert = raise_alert(alert_type="fall", level="warning", detections=[], frame=None, stream=stream)
    alert.refresh_from_db()
    assert not alert.snapshot and media_files(settings) == []


def test_raise_alert_pushes_only_after_commit(task, subscriber, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        alert = raise_alert(alert_type="intrusion_detection", level="warning", detections=BUS_PEOPLE[:1],
                            frame=bus_image(), task=task)
    assert len(callbacks) == 1
    callbacks[0]()

    # Exactly one message per group, and all of them sent by the commit callback.
    received = subscriber.drain()
    assert len(received) == 2
    for event in received:
        assert event["type"] == "live.message"
        payload = event["payload"]
        assert payload["type"] == "alert.created"
        assert payload["alert"]["id"] == alert.pk
        assert payload["alert"]["stream"] == {"id": task.stream_id, "name": "Gate camera"}
        assert payload["alert"]["task"] == {"id": task.id, "name": "Gate watch"}
        assert payload["alert"]["snapshot_url"] == f"/media/{alert.snapshot.name}"
        assert payload["alert"]["is_processed"] is False


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"level": "urgent"}, "level must be one of"),
    ({"alert_type": ""}, "alert_type"),
    ({"alert_type": "x" * 65}, "alert_type"),
    ({"detections": [{"class": "person", "bbox": [1, 2, 3]}]}, "bbox"),
    ({"regions": [{"name": "r", "points": [[0.1, 0.2, 0.3]]}]}, "points"),
    ({"stream": 987654}, "does not exist"),
    ({"extra_images": {"../escape": np.zeros((4, 4, 3), np.uint8)}}, "slug"),
    ({"detection_time": timezone.now().replace(tzinfo=None)}, "timezone-aware"),
])
def test_raise_alert_refuses_bad_input_and_writes_nothing(kwargs, message, stream, settings):
    call = {"alert_type": "intrusion_detection", "level": "warning", "detections": [], "frame": bus_image(),
            "stream": stream, **kwargs}
    with pytest.raises(ValueError, match=message):
        raise_alert(**call)
    assert Alert.objects.count() == 0 and media_files(settings) == []


@pytest.mark.parametrize("frame", [np.zeros((0, 10, 3), np.uint8), np.zeros((4, 4, 5), np.uint8), [[1, 2]]])
def test_raise_alert_refuses_a_frame_that_is_not_an_image(frame, stream, settings):
    with pytest.raises(SnapshotError):
        raise_alert(alert_type="fall", level="info", detections=[], frame=frame, stream=stream)
    assert Alert.objects.count() == 0 and media_files(settings) == []


def test_when_the_snapshot_cannot_be_written_no_row_is_left(stream, settings, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the media folder should be")
    settings.MEDIA_ROOT = blocker / "media"
    with pytest.raises(OSError):
        raise_alert(alert_type="fall", level="info", detections=[], frame=bus_image(), stream=stream)
    assert Alert.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_when_the_row_cannot_be_written_no_file_is_left(settings):
    """GIVEN a task row that vanished (its id no longer exists) WHEN an alert is raised for it THEN the
    foreign-key check fails at commit, and the snapshot already written is removed."""
    from django.db import IntegrityError

    from algorithms.models import Algorithm
    from streams.models import MonitorTask, VideoStream

    stream = VideoStream.objects.create(name="Yard", url="rtsp://127.0.0.1/yard")
    algorithm = Algorithm.objects.create(name="Detector")
    ghost = MonitorTask(id=424242, name="gone", stream=stream, algorithm=algorithm)
    with pytest.raises(IntegrityError):
        raise_alert(alert_type="fall", level="info", detections=[], frame=bus_image(), task=ghost)
    assert Alert.objects.count() == 0
    assert media_files(settings) == []


def test_detection_time_sets_the_snapshot_folder_in_local_time(stream, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    when = timezone.now().replace(year=2026, month=3, day=1, hour=17, minute=30) - timedelta(days=0)
    alert = raise_alert(alert_type="fall", level="info", detections=[], frame=bus_image(), stream=stream,
                        detection_time=when.astimezone(timezone.get_fixed_timezone(0)))
    # 17:30 UTC on March 1st is 01:30 on March 2nd in Shanghai.
    assert alert.snapshot.name.startswith("snapshots/2026/03/02/")
