"""Monitoring-task workflows: start, stop, delete, the worker's claim/heartbeat/release, the periodic
reconcile, and the status payload shared by the API, the admin and the WebSocket.

One task runs in exactly one place. ``desired_running`` is what users asked for; ``claim_token`` says
which loop owns the task. Every write a loop makes is conditional on its token, so a loop whose task was
stopped, deleted or handed to another worker finds out on its next heartbeat and exits.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from aimonitor import metrics
from aimonitor.live import broadcast, task_group

from .choices import TaskStatus
from .models import MonitorTask

logger = logging.getLogger(__name__)


def enqueue_run(task_id: int) -> None:
    """Queues the loop for ``task_id`` on the inference queue (after the current transaction commits)."""
    from .tasks import run_monitor_task

    transaction.on_commit(
        lambda: run_monitor_task.apply_async(args=[task_id], queue=settings.CELERY_INFERENCE_QUEUE))


def status_payload(task: MonitorTask) -> dict:
    """``GET /api/monitor-tasks/{id}/status`` and the ``task.status`` push."""
    stats = task.live_stats or {}
    running = task.status in (TaskStatus.RUNNING, TaskStatus.WAITING, TaskStatus.STARTING)
    uptime = (timezone.now() - task.started_at).total_seconds() if running and task.started_at else 0.0
    return {
        "id": task.pk,
        "status": task.status,
        "current_fps": round(task.current_fps, 2),
        "inference_ms": round(task.inference_ms, 1),
        "cpu_usage": stats.get("cpu_usage"),
        "gpu_usage": stats.get("gpu_usage"),
        "memory_usage": stats.get("memory_usage"),
        "uptime_seconds": round(uptime, 1),
        "frames_processed": task.frames_processed,
        "detected_objects": stats.get("detected_objects", []),
        "last_frame_time": task.last_frame_time.isoformat() if task.last_frame_time else None,
        "worker": task.worker or None,
        "error": task.error or None,
    }


def push_status(task_id: int) -> None:
    """Pushes ``task.status`` to the task's WebSocket group after the current transaction commits."""
    def send():
        task = MonitorTask.objects.filter(pk=task_id).first()
        if task is not None:
            broadcast(task_group(task_id), {"type": "task.status", **status_payload(task)})

    transaction.on_commit(send)


# --- What users do -----------------------------------------------------------------------------

def start_task(task: MonitorTask) -> tuple[MonitorTask, bool]:
    """Asks for the task to run and queues its loop. Starting a started task changes nothing and
    queues nothing: returns ``(task, False)``."""
    now = timezone.now()
    with transaction.atomic():
        started = MonitorTask.objects.filter(pk=task.pk, desired_running=False).update(
            desired_running=True, status=TaskStatus.STARTING, error="", started_at=now, stopped_at=None,
            claim_token="", worker="", last_heartbeat=now, current_fps=0, inference_ms=0)
        if started:
            enqueue_run(task.pk)
            push_status(task.pk)
    task.refresh_from_db()
    return task, bool(started)


def stop_task(task: MonitorTask) -> tuple[MonitorTask, bool]:
    """Asks for the task to stop: its loop loses its claim and exits at its next heartbeat (or at
    once when it runs in this process). Stopping a stopped task is a no-op: ``(task, False)``."""
    now = timezone.now()
    with transaction.atomic():
        stopped = MonitorTask.objects.filter(pk=task.pk).filter(desired_running=True).update(
            desired_running=False, status=TaskStatus.STOPPED, stopped_at=now, claim_token="", worker="",
            current_fps=0)
        if not stopped:
            # An errored task is already not running; clear a stale claim all the same.
            MonitorTask.objects.filter(pk=task.pk).exclude(claim_token="").update(claim_token="", worker="")
        if stopped:
            push_status(task.pk)
    from . import worker

    worker.request_local_stop(task.pk)
    task.refresh_from_db()
    return task, bool(stopped)


def delete_task(task: MonitorTask) -> None:
    """Stops the task, then deletes it (its alerts stay, without the task)."""
    stop_task(task)
    task.delete()


def config_changed(task: MonitorTask) -> None:
    """After an update: a running loop re-reads the config at its next heartbeat (it compares
    ``updated_at``); nothing to queue. Announce the new state to watchers."""
    push_status(task.pk)


# --- What workers do ---------------------------------------------------------------------------

def claim_task(task_id: int, worker_name: str) -> str | None:
    """Atomically claims a task that should run and that no loop owns; returns the claim token, or
    None when another worker has it (or it should not run)."""
    token = secrets.token_hex(16)
    claimed = MonitorTask.objects.filter(pk=task_id, desired_running=True, claim_token="").update(
        claim_token=token, worker=worker_name[:255], status=TaskStatus.STARTING, last_heartbeat=timezone.now(),
        error="")
    return token if claimed == 1 else None


@dataclass
class HeartbeatReply:
    """What a loop learns from its heartbeat: the row's ``updated_at`` (config changes) and status."""

    updated_at: datetime
    status: str


def heartbeat(task_id: int, token: str, *, status: str, fps: float, inference_ms: float, frames: int,
              last_frame_time: datetime | None, live_stats: dict) -> HeartbeatReply | None:
    """Writes the live counters (``frames`` is the count since the last heartbeat, added with F()).
    Returns None when the loop no longer owns the task: it must stop."""
    fields = dict(status=status, last_heartbeat=timezone.now(), current_fps=fps, inference_ms=inference_ms,
                  frames_processed=F("frames_processed") + frames, live_stats=live_stats)
    if last_frame_time is not None:
        fields["last_frame_time"] = last_frame_time
    updated = MonitorTask.objects.filter(pk=task_id, claim_token=token, desired_running=True).update(**fields)
    if updated:
        metrics.count_frames(task_id, frames)
    if not updated:
        return None
    row = MonitorTask.objects.filter(pk=task_id).values("updated_at", "status").first()
    if row is None:
        return None
    push_status(task_id)
    return HeartbeatReply(updated_at=row["updated_at"], status=row["status"])


def release_task(task_id: int, token: str, *, requeue: bool = False, error: str = "") -> None:
    """A loop gives its task up. With ``error`` the task stops in status ``error`` (nothing to retry
    until a user starts it again); with ``requeue`` (worker shutting down) another worker picks it up."""
    owned = MonitorTask.objects.filter(pk=task_id, claim_token=token)
    if error:
        released = owned.update(claim_token="", worker="", status=TaskStatus.ERROR, error=error[:2000],
                                desired_running=False, current_fps=0, stopped_at=timezone.now())
    elif requeue:
        released = owned.filter(desired_running=True).update(claim_token="", worker="", status=TaskStatus.STARTING,
                                                             last_heartbeat=timezone.now(), current_fps=0)
        if released:
            enqueue_run(task_id)
    else:
        released = owned.update(claim_token="", worker="", current_fps=0)
    if released:
        push_status(task_id)


def reconcile(now: datetime | None = None) -> dict:
    """Re-queues tasks that should run but whose heartbeat is stale (their worker died or was never
    reached); clears claims left on tasks that were stopped. Safe to run anywhere, any number of
    times: each re-queue is a conditional update on the token and heartbeat it saw."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.MONITOR_STALE_SECONDS)
    requeued = []
    stale = MonitorTask.objects.filter(desired_running=True, last_heartbeat__lt=cutoff).values_list(
        "pk", "claim_token", "last_heartbeat", "worker")
    for pk, token, beat, worker_name in stale:
        with transaction.atomic():
            taken = MonitorTask.objects.filter(pk=pk, claim_token=token, last_heartbeat=beat).update(
                claim_token="", worker="", status=TaskStatus.STARTING, last_heartbeat=now, current_fps=0)
            if taken:
                logger.warning("Monitor task %s: heartbeat lost (worker %r); re-queued", pk, worker_name)
                enqueue_run(pk)
                push_status(pk)
                requeued.append(pk)
    cleared = MonitorTask.objects.filter(desired_running=False).exclude(claim_token="").update(
        claim_token="", worker="")
    return {"requeued": requeued, "cleared": cleared}
