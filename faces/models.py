"""The face library: libraries (groups of people) and enrolled face records with feature vectors."""
from __future__ import annotations

from django.db import models
from django.utils import timezone


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
