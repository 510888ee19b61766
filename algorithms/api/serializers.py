"""Serializers for algorithms, their exports, test runs and metrics."""
from __future__ import annotations

import json

from rest_framework import serializers

from algorithms import services
from algorithms.choices import ExportFormat
from algorithms.models import Algorithm, ExportJob, default_config


class AlgorithmSerializer(serializers.ModelSerializer):
    """An algorithm. The weights fields are read-only: files come in through ``upload-model`` or an
    applied export. ``config`` is merged over the defaults and validated against the model's classes."""

    in_use = serializers.SerializerMethodField(help_text="Whether a monitoring task uses it.")

    class Meta:
        model = Algorithm
        fields = ["id", "name", "version", "kind", "description", "framework", "weights", "weights_sha256",
                  "weights_size", "format", "class_names", "config", "is_active", "status", "error", "in_use",
                  "created_at", "updated_at"]
        read_only_fields = ["weights", "weights_sha256", "weights_size", "format", "class_names", "status",
                            "error", "created_at", "updated_at"]
        validators: list = []  # name+version uniqueness is checked in validate(), reported on "name"

    def get_in_use(self, obj) -> bool:
        return obj.is_in_use

    def validate_config(self, value):
        names = self.instance.class_names if self.instance else None
        try:
            checked = services.validate_config(value, names)
        except services.AlgorithmError as exc:
            raise serializers.ValidationError(exc.detail) from None
        base = self.instance.config if self.instance else default_config()
        return {**default_config(), **(base or {}), **checked}

    def validate(self, attrs):
        name = attrs.get("name", getattr(self.instance, "name", None))
        version = attrs.get("version", getattr(self.instance, "version", "1.0"))
        clash = Algorithm.objects.filter(name=name, version=version)
        if self.instance:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError({"name": [f"An algorithm {name!r} version {version!r} exists."]})
        return attrs


class UploadModelSerializer(serializers.Serializer):
    model_file = serializers.FileField(help_text=".pt, .onnx or .engine weights (YOLO detect model).")


class JSONObjectField(serializers.JSONField):
    """A JSON object given either as JSON or, in multipart forms, as a JSON string."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = json.loads(data) if data.strip() else {}
            except json.JSONDecodeError:
                raise serializers.ValidationError("must be a JSON object.") from None
        if not isinstance(data, dict):
            raise serializers.ValidationError("must be a JSON object.")
        return data


class TestRequestSerializer(serializers.Serializer):
    test_image = serializers.FileField(help_text="A JPEG/PNG/BMP/WebP picture.")
    config_override = JSONObjectField(required=False, help_text="Config keys to use for this run only.")
    return_image = serializers.BooleanField(required=False, default=True,
                                            help_text="Also return the picture with boxes drawn (base64 JPEG).")


class DetectionSerializer(serializers.Serializer):
    # ``class`` is a keyword: declared below under its JSON name.
    class_id = serializers.IntegerField()
    confidence = serializers.FloatField()
    bbox = serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4,
                                 help_text="x1, y1, x2, y2 in pixels of the picture.")


DetectionSerializer._declared_fields["class"] = serializers.CharField(help_text="Class name.")


class TestResultSerializer(serializers.Serializer):
    algorithm_id = serializers.IntegerField()
    algorithm_name = serializers.CharField()
    processing_time_ms = serializers.FloatField()
    image_size = serializers.ListField(child=serializers.IntegerField(), help_text="width, height")
    detections = DetectionSerializer(many=True)
    result_image = serializers.CharField(allow_null=True, help_text="Base64 JPEG with the boxes drawn.")


class ExportRequestSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=ExportFormat.choices)
    half = serializers.BooleanField(required=False, default=False)
    int8 = serializers.BooleanField(required=False, default=False)
    batch = serializers.IntegerField(required=False, default=1, min_value=1, max_value=64)
    imgsz = serializers.IntegerField(required=False, default=640, min_value=32, max_value=2048)

    def validate_imgsz(self, value):
        if value % 32:
            raise serializers.ValidationError("must be a multiple of 32.")
        return value


class ExportJobSerializer(serializers.ModelSerializer):
    algorithm_name = serializers.CharField(source="algorithm.name", read_only=True)

    class Meta:
        model = ExportJob
        fields = ["id", "algorithm", "algorithm_name", "format", "half", "int8", "batch", "imgsz", "dynamic",
                  "status", "progress", "error", "source_sha256", "result_weights", "result_sha256",
                  "result_size", "duration_s", "created_at", "started_at", "finished_at"]
        read_only_fields = fields


class MetricRowSerializer(serializers.Serializer):
    total_calls = serializers.IntegerField()
    total_frames = serializers.IntegerField()
    total_errors = serializers.IntegerField()
    error_rate = serializers.FloatField()
    avg_processing_ms = serializers.FloatField(allow_null=True, help_text="Per frame.")
    min_processing_ms = serializers.FloatField(allow_null=True, help_text="Fastest call, per frame.")
    max_processing_ms = serializers.FloatField(allow_null=True, help_text="Slowest call, per frame.")
    avg_fps = serializers.FloatField(allow_null=True, help_text="Frames per second of inference time.")


class MetricDaySerializer(MetricRowSerializer):
    date = serializers.DateField()


class MetricsSerializer(MetricRowSerializer):
    algorithm_id = serializers.IntegerField()
    period = serializers.CharField()
    since = serializers.DateField(allow_null=True)
    series = MetricDaySerializer(many=True)
