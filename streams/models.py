"""Cameras, their groups, and monitoring tasks (stream + algorithm + rules)."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from .choices import GroupKind, ScheduleType, StreamStatus, StreamType, TaskStatus


class StreamGroup(models.Model):
    """An organization (a tree node with address and contacts) or a virtual organization (a free
    collection of streams). Users assigned to groups see only those groups' streams, tasks and alerts."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=GroupKind.choices, default=GroupKind.ORGANIZATION)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    address = models.CharField(max_length=255, blank=True)
    contact_name = models.CharField(max_length=100, blank=True)
    contact_phone = models.CharField(max_length=32, blank=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="stream_groups", blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class VideoStream(models.Model):
    """A camera (or a looped local file standing in for one): where to read it, what was last probed,
    and its media-server proxy."""

    name = models.CharField(max_length=100)
    url = models.CharField(max_length=1000)
    type = models.CharField(max_length=16, choices=StreamType.choices, default=StreamType.RTSP)
    location = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    groups = models.ManyToManyField(StreamGroup, related_name="streams", blank=True)
    enabled = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=StreamStatus.choices, default=StreamStatus.UNKNOWN)
    last_error = models.TextField(blank=True)
    last_checked = models.DateTimeField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    codec = models.CharField(max_length=32, blank=True)
    media_app = models.CharField(max_length=64, blank=True, default="live")
    media_stream_id = models.CharField(max_length=128, blank=True)
    media_proxy_key = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["type"])]

    def __str__(self) -> str:
        return self.name


def default_task_config() -> dict:
    return {
        "target_classes": [],
        "alert_threshold": 0.5,
        "region_of_interest": [],
        "min_box_area": 0.0,
        "sample_fps": 2.0,
        "cooldown_seconds": 60,
        "min_consecutive_frames": 1,
        "level": "warning",
        "type": "intrusion_detection",
    }


class MonitorTask(models.Model):
    """A camera bound to an algorithm with rules. The worker that claims it runs the loop and reports
    a heartbeat with live counters."""

    name = models.CharField(max_length=100)
    stream = models.ForeignKey(VideoStream, on_delete=models.PROTECT, related_name="tasks")
    algorithm = models.ForeignKey("algorithms.Algorithm", on_delete=models.PROTECT, related_name="tasks")
    config = models.JSONField(default=default_task_config, blank=True)
    schedule_type = models.CharField(max_length=16, choices=ScheduleType.choices, default=ScheduleType.REALTIME)
    schedule_config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.STOPPED)
    desired_running = models.BooleanField(default=False, help_text="Whether users asked the task to run.")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="monitor_tasks")
    worker = models.CharField(max_length=255, blank=True, help_text="Which worker process runs the task.")
    claim_token = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    current_fps = models.FloatField(default=0)
    inference_ms = models.FloatField(default=0)
    frames_processed = models.BigIntegerField(default=0)
    last_frame_time = models.DateTimeField(null=True, blank=True)
    live_stats = models.JSONField(default=dict, blank=True, help_text="cpu/gpu/memory usage, detected objects.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["desired_running", "last_heartbeat"])]

    def __str__(self) -> str:
        return self.name
