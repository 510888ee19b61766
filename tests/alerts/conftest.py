"""Fixtures for the alerts tests: real stream/algorithm/task rows (created through the ORM), stream
groups with members, and a quick way to create many alerts at given times."""
from __future__ import annotations

from datetime import datetime

import pytest
from django.utils import timezone


@pytest.fixture
def algorithm(db):
    from algorithms.models import Algorithm

    return Algorithm.objects.create(name="Person detector", version="1.0")


@pytest.fixture
def make_stream(db):
    from streams.models import StreamGroup, VideoStream

    def make(name: str = "Gate camera", group: str | None = None, members=()):
        stream = VideoStream.objects.create(name=name, url=f"rtsp://127.0.0.1:8554/{name.replace(' ', '-')}")
        if group:
            grp, _ = StreamGroup.objects.get_or_create(name=group)
            grp.members.add(*members)
            stream.groups.add(grp)
        return stream

    return make


@pytest.fixture
def stream(make_stream):
    return make_stream("Gate camera")


@pytest.fixture
def task(db, stream, algorithm):
    from streams.models import MonitorTask

    return MonitorTask.objects.create(name="Gate watch", stream=stream, algorithm=algorithm)


@pytest.fixture
def make_alert(db):
    """``make_alert(stream=..., level=..., when=datetime, status=...)``: a row without a snapshot,
    written straight through the ORM (raise_alert has its own tests)."""
    from alerts.models import Alert

    def make(*, when: datetime | None = None, **fields):
        fields.setdefault("type", "intrusion_detection")
        fields.setdefault("level", "warning")
        return Alert.objects.create(detection_time=when or timezone.now(), **fields)

    return make
