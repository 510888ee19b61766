"""Serializers of the monitoring-task API: validation of rules and schedules, list/detail shapes and
the action answers."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from aimonitor.api.scoping import user_may_see_stream
from algorithms.models import Algorithm
from streams.choices import ScheduleType
from streams.models import MonitorTask, VideoStream
from streams.rules import ConfigError, config_keys, normalise_config
from streams.schedule import ScheduleError, normalise_schedule


class MonitorTaskSerializer(serializers.ModelSerializer):
    """A task as listed; writes validate ``config`` (rules) and ``schedule_config`` and normalise them.
    A partial update merges the given config keys into the current config."""

    stream = serializers.PrimaryKeyRelatedField(queryset=VideoStream.objects.all())
    algorithm = serializers.PrimaryKeyRelatedField(queryset=Algorithm.objects.all())
    stream_name = serializers.CharField(source="stream.name", read_only=True)
    algorithm_name = serializers.CharField(source="algorithm.name", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    config = serializers.JSONField(required=False, help_text=(
        "Rules: target_classes, alert_threshold (0-1], region_of_interest (a normalised polygon "
        "[[x,y],...] or named zones [{name, polygon}]), roi_mode (center|overlap), roi_min_overlap, "
        "min_box_area (fraction of the frame), sample_fps, cooldown_seconds, min_consecutive_frames, "
        "level, type. Missing keys take defaults."))
    schedule_config = serializers.JSONField(required=False, help_text=(
        "For scheduled tasks: {start_time: 'HH:MM', end_time: 'HH:MM' (may cross midnight), "
        "days: [0=Mon..6=Sun]}."))

    class Meta:
        model = MonitorTask
        fields = ["id", "name", "stream", "stream_name", "algorithm", "algorithm_name", "config", "schedule_type",
                  "schedule_config", "status", "desired_running", "error", "created_by", "worker", "started_at",
                  "stopped_at", "last_heartbeat", "current_fps", "inference_ms", "frames_processed",
                  "last_frame_time", "created_at", "updated_at"]
        read_only_fields = ["status", "desired_running", "error", "worker", "started_at", "stopped_at",
                            "last_heartbeat", "current_fps", "inference_ms", "frames_processed", "last_frame_time",
                            "created_at", "updated_at"]

    def update(self, instance: MonitorTask, validated_data: dict) -> MonitorTask:
        # Only the edited columns: a full save would write back the claim token and live counters
        # read at the start of the request over what the running loop wrote since.
        for key, value in validated_data.items():
            setattr(instance, key, value)
        instance.save(update_fields=[*validated_data, "updated_at"])
        return instance

    def validate_stream(self, stream: VideoStream) -> VideoStream:
        request = self.context.get("request")
        if request is not None and not user_may_see_stream(request.user, stream.pk):
            raise serializers.ValidationError(f'Invalid pk "{stream.pk}" - object does not exist.',
                                              code="does_not_exist")
        return stream

    def validate_algorithm(self, algorithm: Algorithm) -> Algorithm:
        if not algorithm.is_active:
            raise serializers.ValidationError("This algorithm is disabled.", code="inactive")
        return algorithm

    def validate(self, attrs: dict) -> dict:
        instance: MonitorTask | None = self.instance
        algorithm = attrs.get("algorithm") or (instance.algorithm if instance else None)
        moved = instance is not None and "algorithm" in attrs and attrs["algorithm"].pk != instance.algorithm_id
        if "config" in attrs or instance is None or moved:
            # A task moved to another algorithm has its rules checked against that algorithm.
            raw = attrs.get("config", {})
            if self.partial and instance is not None and isinstance(raw, dict):
                # Keys the stored config has but this algorithm does not know (the task moved
                # between a face and a detection algorithm) are dropped, not reported as unknown.
                known = config_keys(algorithm.kind)
                raw = {**{k: v for k, v in (instance.config or {}).items() if k in known}, **raw}
            try:
                attrs["config"] = normalise_config(raw, class_names=list(algorithm.class_names or []),
                                                   kind=algorithm.kind)
            except ConfigError as exc:
                raise serializers.ValidationError(exc.errors, code="invalid") from None
        schedule_type = attrs.get("schedule_type") or (instance.schedule_type if instance else ScheduleType.REALTIME)
        if schedule_type == ScheduleType.SCHEDULED:
            raw_schedule = attrs.get("schedule_config", instance.schedule_config if instance else None)
            try:
                attrs["schedule_config"] = normalise_schedule(raw_schedule or {})
            except ScheduleError as exc:
                raise serializers.ValidationError(
                    {f"schedule_config.{k}" if k != "schedule_config" else k: v for k, v in exc.errors.items()},
                    code="invalid") from None
        elif attrs.get("schedule_config"):
            try:
                attrs["schedule_config"] = normalise_schedule(attrs["schedule_config"])
            except ScheduleError as exc:
                raise serializers.ValidationError(
                    {f"schedule_config.{k}" if k != "schedule_config" else k: v for k, v in exc.errors.items()},
                    code="invalid") from None
        return attrs


class LastAlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    level = serializers.CharField()
    status = serializers.CharField()
    detection_time = serializers.DateTimeField()
    snapshot = serializers.SerializerMethodField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_snapshot(self, alert) -> str | None:
        return alert.snapshot.url if alert.snapshot else None


class MonitorTaskDetailSerializer(MonitorTaskSerializer):
    """One task, with its alert count and last alert."""

    alert_count = serializers.SerializerMethodField()
    last_alert = serializers.SerializerMethodField()

    class Meta(MonitorTaskSerializer.Meta):
        fields = [*MonitorTaskSerializer.Meta.fields, "alert_count", "last_alert"]

    def get_alert_count(self, task) -> int:
        return task.alerts.count()

    @extend_schema_field(LastAlertSerializer(allow_null=True))
    def get_last_alert(self, task):
        alert = task.alerts.order_by("-detection_time", "-id").first()
        return LastAlertSerializer(alert).data if alert else None


class StartAnswerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    start_time = serializers.DateTimeField(allow_null=True)
    changed = serializers.BooleanField(help_text="False when the task was already started (a no-op).")


class StopAnswerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    stop_time = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    changed = serializers.BooleanField(help_text="False when the task was already stopped (a no-op).")


class DetectedObjectSerializer(serializers.Serializer):
    # "class" is a keyword: declared through the fields mapping.
    confidence = serializers.FloatField()
    count = serializers.IntegerField()

    def get_fields(self):
        fields = super().get_fields()
        fields["class"] = serializers.CharField()
        return fields


class TaskStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    current_fps = serializers.FloatField()
    inference_ms = serializers.FloatField()
    cpu_usage = serializers.FloatField(allow_null=True, help_text="Worker process CPU percent.")
    gpu_usage = serializers.FloatField(allow_null=True, help_text="Worker GPU memory allocated, MiB.")
    memory_usage = serializers.FloatField(allow_null=True, help_text="Worker process resident memory, MiB.")
    uptime_seconds = serializers.FloatField()
    frames_processed = serializers.IntegerField()
    detected_objects = DetectedObjectSerializer(many=True)
    last_frame_time = serializers.DateTimeField(allow_null=True)
    worker = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_null=True)
