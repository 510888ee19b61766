"""Alerts raised by monitoring tasks, with their annotated snapshots."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from .choices import AlertLevel, AlertStatus


class Alert(models.Model):
    """One event worth a human's attention: what was seen (detections, zone, face matches), where
    (stream, task, algorithm), when, the annotated snapshot, and how staff handled it."""

    type = models.CharField(max_length=64, default="intrusion_detection")
    level = models.CharField(max_length=16, choices=AlertLevel.choices, default=AlertLevel.WARNING)
    stream = models.ForeignKey("streams.VideoStream", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="alerts")
    algorithm = models.ForeignKey("algorithms.Algorithm", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="alerts")
    task = models.ForeignKey("streams.MonitorTask", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="alerts")
    detection_time = models.DateTimeField(default=timezone.now)
    snapshot = models.ImageField(upload_to="snapshots/%Y/%m/%d", blank=True, max_length=255)
    # Further pictures stored beside the snapshot (e.g. a face crop): name -> storage path.
    extra_images = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.NEW)
    processed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="processed_alerts")
    processed_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-detection_time", "-id"]
        indexes = [
            models.Index(fields=["-detection_time", "-id"], name="alert_time_idx"),
            models.Index(fields=["status", "-detection_time"], name="alert_status_time_idx"),
            models.Index(fields=["level", "-detection_time"], name="alert_level_time_idx"),
            models.Index(fields=["stream", "-detection_time"], name="alert_stream_time_idx"),
            models.Index(fields=["task", "-detection_time"], name="alert_task_time_idx"),
            models.Index(fields=["type", "-detection_time"], name="alert_type_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"

    @property
    def is_processed(self) -> bool:
        return self.status != AlertStatus.NEW

    def file_names(self) -> list[str]:
        """Storage paths of every file this alert owns (the snapshot and the extra images)."""
        names = [self.snapshot.name] if self.snapshot else []
        names += [name for name in (self.extra_images or {}).values() if isinstance(name, str) and name]
        return names
