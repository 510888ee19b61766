"""The face library: libraries (groups of people) and enrolled face records with feature vectors."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from .choices import ImportStatus


class FaceLibrary(models.Model):
    """A named set of enrolled faces, e.g. "staff" or "watchlist"."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_watchlist = models.BooleanField(default=False, help_text="Matches against this library raise alerts.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "face libraries"

    def __str__(self) -> str:
        return self.name


class Face(models.Model):
    """One enrolled face image of a person: the stored image, the aligned crop, and the feature
    vector (float32 bytes, L2-normalised) with the model that produced it."""

    library = models.ForeignKey(FaceLibrary, on_delete=models.CASCADE, related_name="faces")
    name = models.CharField(max_length=100)
    person_id = models.CharField(max_length=100, db_index=True)
    image = models.ImageField(upload_to="faces/%Y/%m", max_length=255)
    crop = models.ImageField(upload_to="faces/crops/%Y/%m", blank=True, max_length=255)
    vector = models.BinaryField(help_text="float32 little-endian feature vector, L2-normalised.")
    model_name = models.CharField(max_length=100, default="sface")
    model_version = models.CharField(max_length=50, default="2021dec")
    quality = models.FloatField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["library", "person_id"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.person_id})"


class FaceImport(models.Model):
    """One batch import of a zip of face images into a library: the stored archive, the per-file
    metadata, and the progress and outcome that the API and the WebSocket report."""

    library = models.ForeignKey(FaceLibrary, on_delete=models.CASCADE, related_name="imports")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="face_imports")
    archive = models.FileField(upload_to="faces/imports/%Y/%m", max_length=255)
    metadata = models.JSONField(default=dict, blank=True,
                                help_text="Per-file entries: {filename: {name, person_id, metadata}}.")
    pick_largest = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.PENDING)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    successful = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    failed_details = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"import #{self.pk} into {self.library_id}"
