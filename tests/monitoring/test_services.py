"""Task ownership: atomic claims, heartbeats, release, and the reconcile that restarts lost tasks."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from streams import tasks_services
from streams.models import MonitorTask
from tests.monitoring.factories import make_task


def beat(task, token, frames=0):
    return tasks_services.heartbeat(task.pk, token, status="running", fps=2.0, inference_ms=30.0, frames=frames,
                                    last_frame_time=timezone.now(), live_stats={"cpu_usage": 1.0})


@pytest.mark.django_db
def test_a_task_is_claimed_once_and_only_while_it_should_run():
    task = make_task(desired_running=True, status="starting")
    token = tasks_services.claim_task(task.pk, "w1")
    assert token
    assert tasks_services.claim_task(task.pk, "w2") is None
    task.refresh_from_db()
    assert (task.claim_token, task.worker) == (token, "w1")
    stopped = make_task("idle")
    assert tasks_services.claim_task(stopped.pk, "w1") is None


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_from_many_workers_yield_exactly_one_owner():
    task = make_task(desired_running=True, status="starting")
    tokens, barrier = [], threading.Barrier(6)

    def claim(n):
        try:
            barrier.wait()
            tokens.append(tasks_services.claim_task(task.pk, f"w{n}"))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [t for t in tokens if t]
    assert len(tokens) == 6 and len(winners) == 1
    assert MonitorTask.objects.get(pk=task.pk).claim_token == winners[0]


@pytest.mark.django_db
def test_heartbeat_adds_frames_and_fails_for_a_loop_that_lost_its_claim():
    task = make_task(desired_running=True, status="starting")
    token = tasks_services.claim_task(task.pk, "w1")
    assert beat(task, token, frames=5) is not None
    assert beat(task, token, frames=7) is not None
    task.refresh_from_db()
    assert task.frames_processed == 12 and task.status == "running" and task.current_fps == 2.0
    assert beat(task, "someone-else", frames=100) is None
    tasks_services.stop_task(task)
    assert beat(task, token, frames=1) is None
    task.refresh_from_db()
    assert task.frames_processed == 12 and task.status == "stopped"


@pytest.mark.django_db
def test_heartbeat_reports_updated_at_so_the_loop_sees_config_changes():
    task = make_task(desired_running=True)
    token = tasks_services.claim_task(task.pk, "w1")
    first = beat(task, token)
    task.config = {**task.config, "alert_threshold": 0.9}
    task.save(update_fields=["config", "updated_at"])
    second = beat(task, token)
    assert second.updated_at > first.updated_at


@pytest.mark.django_db
def test_release_on_shutdown_hands_the_task_to_another_worker(django_capture_on_commit_callbacks):
    task = make_task(desired_running=True)
    token = tasks_services.claim_task(task.pk, "w1")
    with django_capture_on_commit_callbacks() as callbacks:
        tasks_services.release_task(task.pk, token, requeue=True)
    assert len(callbacks) == 2  # the loop re-queued, the status pushed
    assert tasks_services.claim_task(task.pk, "w2") is not None


@pytest.mark.django_db
def test_release_with_an_error_stops_the_task_with_the_reason():
    task = make_task(desired_running=True)
    token = tasks_services.claim_task(task.pk, "w1")
    tasks_services.release_task(task.pk, token, error="Cannot load the algorithm: bad file")
    task.refresh_from_db()
    assert (task.status, task.desired_running, task.claim_token) == ("error", False, "")
    assert task.error == "Cannot load the algorithm: bad file"


@pytest.mark.django_db
def test_reconcile_requeues_only_stale_tasks_once(django_capture_on_commit_callbacks, settings):
    settings.MONITOR_STALE_SECONDS = 20
    old = timezone.now() - timedelta(seconds=60)
    lost = make_task("lost", desired_running=True, status="running", claim_token="dead", worker="gone:1",
                     last_heartbeat=old)
    alive = make_task("alive", desired_running=True, status="running", claim_token="live",
                      last_heartbeat=timezone.now())
    stopped = make_task("stopped", claim_token="leftover")
    with django_capture_on_commit_callbacks() as callbacks:
        result = tasks_services.reconcile()
    assert result == {"requeued": [lost.pk], "cleared": 1}
    assert len(callbacks) == 2
    lost.refresh_from_db()
    alive.refresh_from_db()
    stopped.refresh_from_db()
    assert (lost.claim_token, lost.status) == ("", "starting")
    assert alive.claim_token == "live" and stopped.claim_token == ""
    # The dead loop cannot write any more; the next reconcile leaves the re-queued task alone.
    assert beat(lost, "dead") is None
    with django_capture_on_commit_callbacks() as callbacks:
        assert tasks_services.reconcile()["requeued"] == []
    assert callbacks == []


@pytest.mark.django_db
def test_an_edit_made_while_the_loop_runs_does_not_overwrite_its_claim_or_counters():
    """GIVEN a task read by the API before its loop's heartbeat WHEN the edit is saved THEN the
    loop still owns the task and its counters stand."""
    from streams.api.task_serializers import MonitorTaskSerializer

    task = make_task(desired_running=True)
    read_by_api = MonitorTask.objects.get(pk=task.pk)
    token = tasks_services.claim_task(task.pk, "w1")
    beat(task, token, frames=9)
    serializer = MonitorTaskSerializer(read_by_api, data={"config": {"alert_threshold": 0.7}}, partial=True)
    assert serializer.is_valid(), serializer.errors
    serializer.save()
    task.refresh_from_db()
    assert (task.claim_token, task.frames_processed, task.config["alert_threshold"]) == (token, 9, 0.7)
    assert beat(task, token) is not None
