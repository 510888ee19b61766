"""Serializers for cameras, stream groups and their status, snapshot and playback answers."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from streams import services
from streams.choices import StreamStatus
from streams.models import StreamGroup, VideoStream


class VideoStreamSerializer(serializers.ModelSerializer):
    """A camera. ``url`` is written in full but always read back with its password masked; sending
    the masked URL back unchanged keeps the stored one."""

    groups = serializers.PrimaryKeyRelatedField(many=True, queryset=StreamGroup.objects.all(), required=False)
    url = serializers.CharField(max_length=1000)

    class Meta:
        model = VideoStream
        fields = ["id", "name", "url", "type", "location", "description", "groups", "enabled", "status",
                  "last_error", "last_checked", "latency_ms", "width", "height", "fps", "codec", "media_app",
                  "media_stream_id", "media_proxy_key", "created_at", "updated_at"]
        read_only_fields = ["status", "last_error", "last_checked", "latency_ms", "width", "height", "fps",
                            "codec", "media_proxy_key", "created_at", "updated_at"]
        extra_kwargs = {"media_app": {"required": False}, "media_stream_id": {"required": False}}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["url"] = services.mask_url(instance.url)
        return data

    def validate_media_stream_id(self, value):
        if value and VideoStream.objects.filter(media_stream_id=value).exclude(
                pk=getattr(self.instance, "pk", None)).exists():
            raise serializers.ValidationError("Another stream already uses this media stream id.", code="unique")
        return value

    def validate(self, attrs):
        stream_type = attrs.get("type", getattr(self.instance, "type", None) or "rtsp")
        if "url" in attrs or "type" in attrs:
            url = attrs.get("url", getattr(self.instance, "url", ""))
            if self.instance is not None:
                url = services.unmask(url, self.instance.url)
            try:
                attrs["url"] = services.validate_source(stream_type, url)
            except services.StreamError as exc:
                raise serializers.ValidationError({exc.field or "url": [exc.detail]}, code=exc.code) from None
        return attrs


class StreamStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=StreamStatus.choices)
    error = serializers.CharField(allow_blank=True)
    latency_ms = serializers.FloatField(allow_null=True)
    last_checked = serializers.DateTimeField(allow_null=True)
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    fps = serializers.FloatField(allow_null=True)
    codec = serializers.CharField(allow_blank=True)


class PlayUrlsSerializer(serializers.Serializer):
    rtsp = serializers.CharField(required=False)
    rtmp = serializers.CharField(required=False)
    http_flv = serializers.CharField(required=False)
    ws_flv = serializers.CharField(required=False)
    hls = serializers.CharField(required=False)
    fmp4 = serializers.CharField(required=False)
    webrtc = serializers.CharField(required=False)


class StreamGroupSerializer(serializers.ModelSerializer):
    """A group: an organization (a tree node) or a virtual organization (a free collection)."""

    stream_count = serializers.SerializerMethodField()
    members = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = StreamGroup
        fields = ["id", "name", "kind", "parent", "address", "contact_name", "contact_phone", "description",
                  "members", "stream_count", "created_at", "updated_at"]
        read_only_fields = ["id", "members", "stream_count", "created_at", "updated_at"]

    @extend_schema_field(serializers.IntegerField())
    def get_stream_count(self, group) -> int:
        # Lists annotate the count in one query; a single created/updated group counts here.
        count = getattr(group, "stream_count", None)
        return count if count is not None else group.streams.count()

    def validate_parent(self, parent):
        try:
            services.validate_group_parent(self.instance, parent)
        except services.StreamError as exc:
            raise serializers.ValidationError(exc.detail, code=exc.code) from None
        return parent


class GroupStreamIdsSerializer(serializers.Serializer):
    stream_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False,
                                       max_length=1000)


class GroupStreamsChangedSerializer(serializers.Serializer):
    changed = serializers.IntegerField()
    stream_count = serializers.IntegerField()


class HookReplySerializer(serializers.Serializer):
    code = serializers.IntegerField()
    msg = serializers.CharField(required=False)
    close = serializers.BooleanField(required=False)
