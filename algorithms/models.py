"""Algorithm records: a model's weights file and how to run it."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone

from .choices import AlgorithmKind, AlgorithmStatus, ExportFormat, ExportStatus, Framework, WeightsFormat


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

    @property
    def weights_path(self):
        """Absolute path of the weights file (``weights`` is stored relative to MODELS_DIR)."""
        if not self.weights:
            return None
        path = Path(self.weights)
        return path if path.is_absolute() else Path(settings.MODELS_DIR) / path

    @property
    def is_in_use(self) -> bool:
        """Whether a monitoring task refers to it (the reverse relation that streams declares)."""
        return self.tasks.exists()


class ExportJob(models.Model):
    """One run of ultralytics' exporter on an algorithm's .pt weights (ONNX, or a TensorRT engine on a
    GPU host). The result is a new weights file that the algorithm can switch to."""

    algorithm = models.ForeignKey(Algorithm, on_delete=models.CASCADE, related_name="exports")
    format = models.CharField(max_length=16, choices=ExportFormat.choices)
    half = models.BooleanField(default=False)
    int8 = models.BooleanField(default=False)
    batch = models.PositiveIntegerField(default=1)
    imgsz = models.PositiveIntegerField(default=640)
    dynamic = models.BooleanField(default=False, help_text="Dynamic batch axis (ONNX with batch > 1).")
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0, help_text="0-100.")
    error = models.TextField(blank=True)
    source_sha256 = models.CharField(max_length=64, blank=True)
    result_weights = models.CharField(max_length=500, blank=True, help_text="Under MODELS_DIR.")
    result_sha256 = models.CharField(max_length=64, blank=True)
    result_size = models.BigIntegerField(default=0)
    duration_s = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="algorithm_exports")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["algorithm", "status"])]

    def __str__(self) -> str:
        return f"{self.algorithm} -> {self.format} ({self.status})"


class InferenceStat(models.Model):
    """Inference counters of one algorithm for one day, summed over every worker. Workers aggregate in
    memory and flush here every few seconds (``services.record_inference``), never a row per frame."""

    algorithm = models.ForeignKey(Algorithm, on_delete=models.CASCADE, related_name="inference_stats")
    day = models.DateField()
    calls = models.BigIntegerField(default=0, help_text="predict() calls (batches).")
    frames = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0, help_text="Failed predict() calls.")
    total_ms = models.FloatField(default=0, help_text="Summed wall time of the calls.")
    min_ms = models.FloatField(null=True, blank=True, help_text="Fastest call, per frame.")
    max_ms = models.FloatField(null=True, blank=True, help_text="Slowest call, per frame.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["algorithm", "day"]
        constraints = [models.UniqueConstraint(fields=["algorithm", "day"], name="inference_stat_algorithm_day")]

    def __str__(self) -> str:
        return f"{self.algorithm_id} {self.day}: {self.frames} frames"
