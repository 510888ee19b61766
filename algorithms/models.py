"""Algorithm records: a model's weights file and how to run it."""
from __future__ import annotations

from django.db import models
from django.utils import timezone

from .choices import AlgorithmKind, AlgorithmStatus, Framework, WeightsFormat


def default_config() -> dict:
    return {
        "confidence_threshold": 0.25,
        "iou_threshold": 0.45,
        "input_size": 640,
        "device": "auto",
        "half": False,
        "max_batch_size": 8,
        "target_classes": [],
    }


class Algorithm(models.Model):
    """An AI model that monitoring tasks can run: its weights file (under MODELS_DIR, with sha256 and
    size), its format, the class names read from the model, and its inference configuration."""

    name = models.CharField(max_length=100)
    version = models.CharField(max_length=50, default="1.0")
    kind = models.CharField(max_length=32, choices=AlgorithmKind.choices, default=AlgorithmKind.OBJECT_DETECTION)
    description = models.TextField(blank=True)
    framework = models.CharField(max_length=32, choices=Framework.choices, default=Framework.ULTRALYTICS)
    weights = models.CharField(max_length=500, blank=True, help_text="Path of the weights file, under MODELS_DIR.")
    weights_sha256 = models.CharField(max_length=64, blank=True)
    weights_size = models.BigIntegerField(default=0)
    format = models.CharField(max_length=16, choices=WeightsFormat.choices, default=WeightsFormat.PT)
    class_names = models.JSONField(default=list, blank=True)
    config = models.JSONField(default=default_config, blank=True)
    is_active = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=AlgorithmStatus.choices, default=AlgorithmStatus.STOPPED)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="algorithm_name_version_unique")]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"
