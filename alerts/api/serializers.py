"""Alert serializers: the one alert representation (API detail and list, and the live push payload),
and the inputs of processing and batch processing."""
from __future__ import annotations

from django.conf import settings
from django.core.files.storage import default_storage
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts.choices import AlertStatus
from alerts.models import Alert


class RefSerializer(serializers.Serializer):
    """A related row named by id and name (stream, algorithm, task)."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


def media_url(name: str | None) -> str | None:
    """The site-relative URL of a stored file, or None: the same in the API and in live pushes."""
    return default_storage.url(name) if name else None


class AlertSerializer(serializers.ModelSerializer):
    """An alert with its related names, its snapshot URL and how it was handled."""

    stream = RefSerializer(read_only=True, allow_null=True)
    algorithm = RefSerializer(read_only=True, allow_null=True)
    task = RefSerializer(read_only=True, allow_null=True)
    processed_by = UserRefSerializer(read_only=True, allow_null=True)
    is_processed = serializers.BooleanField(read_only=True)
    snapshot_url = serializers.SerializerMethodField()
    images = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = ["id", "type", "level", "status", "is_processed", "stream", "algorithm", "task",
                  "detection_time", "snapshot_url", "images", "metadata", "processed_by", "processed_at", "notes",
                  "created_at"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_snapshot_url(self, alert: Alert) -> str | None:
        return media_url(alert.snapshot.name)

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string", "format": "uri"}})
    def get_images(self, alert: Alert) -> dict[str, str]:
        return {key: media_url(name) for key, name in (alert.extra_images or {}).items() if name}


class ProcessSerializer(serializers.Serializer):
    """``PATCH /api/alerts/{id}/process``: a status (or the original design's ``is_processed``) and notes."""

    status = serializers.ChoiceField(choices=AlertStatus.choices, required=False)
    is_processed = serializers.BooleanField(required=False)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)

    def validate(self, attrs):
        status, flag = attrs.get("status"), attrs.get("is_processed")
        if status is None and flag is None:
            raise serializers.ValidationError({"status": ["Give status or is_processed."]}, code="required")
        if status is not None and flag is not None and (status != AlertStatus.NEW) != flag:
            raise serializers.ValidationError(
                {"is_processed": [f"is_processed={str(flag).lower()} contradicts status {status!r}."]},
                code="contradiction")
        if status is None:
            status = AlertStatus.PROCESSED if flag else AlertStatus.NEW
        return {"status": status, "notes": attrs.get("notes")}


class ProcessResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=AlertStatus.choices)
    is_processed = serializers.BooleanField()
    processed_by = UserRefSerializer(allow_null=True)
    processed_at = serializers.DateTimeField(allow_null=True)
    notes = serializers.CharField(allow_blank=True)


class BatchProcessSerializer(serializers.Serializer):
    """``POST /api/alerts/batch-process``: which alerts, the new status, optional notes."""

    alert_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False)
    status = serializers.ChoiceField(choices=AlertStatus.choices, default=AlertStatus.PROCESSED)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)

    def validate_alert_ids(self, value):
        unique = list(dict.fromkeys(value))
        if len(unique) > settings.ALERT_BATCH_MAX_IDS:
            raise serializers.ValidationError(
                f"At most {settings.ALERT_BATCH_MAX_IDS} alerts per request.", code="too_many")
        return unique


class BatchResultSerializer(serializers.Serializer):
    processed_count = serializers.IntegerField()
    processed_ids = serializers.ListField(child=serializers.IntegerField())
    processed_at = serializers.DateTimeField()
