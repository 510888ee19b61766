"""Choices for alerts."""
from django.db import models


class AlertLevel(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class AlertStatus(models.TextChoices):
    NEW = "new", "New"
    PROCESSED = "processed", "Processed"
    FALSE_POSITIVE = "false_positive", "False positive"


class AlertType(models.TextChoices):
    """Common types; the field accepts free text too."""

    INTRUSION = "intrusion_detection", "Intrusion detection"
    FACE = "face_recognition", "Face recognition"
    STRANGER = "stranger", "Stranger"
    FALL = "fall", "Fall"
