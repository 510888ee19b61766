"""The pipeline's counters move when the pipeline does: frames on heartbeat, alerts once committed."""
from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import REGISTRY

from alerts.services import raise_alert
from streams import tasks_services
from tests.monitoring.factories import make_task


def sample(name: str, labels: dict) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db
def test_heartbeats_count_the_frames_of_the_task_that_owns_it():
    task = make_task(desired_running=True)
    token = tasks_services.claim_task(task.pk, "w1")
    before = sample("aimonitor_frames_processed_total", {"task": str(task.pk)})

    tasks_services.heartbeat(task.pk, token, status="running", fps=1.0, inference_ms=10.0, frames=7,
                             last_frame_time=None, live_stats={})
    tasks_services.heartbeat(task.pk, "not-the-owner", status="running", fps=1.0, inference_ms=10.0, frames=5,
                             last_frame_time=None, live_stats={})

    assert sample("aimonitor_frames_processed_total", {"task": str(task.pk)}) - before == 7


@pytest.mark.django_db
def test_an_alert_is_counted_once_it_is_committed(django_capture_on_commit_callbacks):
    labels = {"type": "metrics_check", "level": "critical"}
    before = sample("aimonitor_alerts_raised_total", labels)
    frame = np.zeros((120, 160, 3), dtype=np.uint8)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        raise_alert(alert_type="metrics_check", level="critical", detections=[], frame=frame)
    assert sample("aimonitor_alerts_raised_total", labels) == before  # not before commit
    for callback in callbacks:
        callback()

    assert sample("aimonitor_alerts_raised_total", labels) - before == 1
