"""Cameras, stream groups and ZLMediaKit web-hook endpoints (thin: the work is in streams.services)."""
from __future__ import annotations

import hmac

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from aimonitor.api.errors import Conflict, ServiceUnavailable
from aimonitor.api.schema import ERROR_RESPONSES
from aimonitor.api.scoping import restrict_to_user, visible_group_ids
from streams import services
from streams.models import StreamGroup, VideoStream

from .filters import StreamGroupFilter, VideoStreamFilter
from .serializers import (
    GroupStreamIdsSerializer,
    GroupStreamsChangedSerializer,
    HookReplySerializer,
    PlayUrlsSerializer,
    StreamGroupSerializer,
    StreamStatusSerializer,
    VideoStreamSerializer,
)

STREAM_EXAMPLE = {
    "id": 1, "name": "Gate 1", "url": "rtsp://admin:****@192.168.1.20:554/Streaming/Channels/101", "type": "rtsp",
    "location": "North gate", "description": "", "groups": [1], "enabled": True, "status": "online",
    "last_error": "", "last_checked": "2026-11-28T10:00:00Z", "latency_ms": 412.5, "width": 1920, "height": 1080,
    "fps": 25.0, "codec": "h264", "media_app": "live", "media_stream_id": "cam1",
    "media_proxy_key": "__defaultVhost__/live/cam1", "created_at": "2026-11-28T09:00:00Z",
    "updated_at": "2026-11-28T10:00:00Z"}
STREAM_CREATE_EXAMPLE = {"name": "Gate 1", "type": "rtsp", "url": "rtsp://admin:s3cret@192.168.1.20:554/Streaming/Channels/101",
                         "location": "North gate", "groups": [1]}
GROUP_EXAMPLE = {"id": 1, "name": "Head office", "kind": "organization", "parent": None, "address": "1 Main St",
                 "contact_name": "Ann", "contact_phone": "+1 555 0100", "description": "", "members": [3],
                 "stream_count": 4, "created_at": "2026-11-28T09:00:00Z", "updated_at": "2026-11-28T09:00:00Z"}


def _scoped_streams(request):
    return restrict_to_user(VideoStream.objects.prefetch_related("groups"), request.user, "")


@extend_schema_view(
    list=extend_schema(summary="List cameras (filter by status, type, group; search name/location)", tags=["streams"],
                       examples=[OpenApiExample("streams", response_only=True, value=[STREAM_EXAMPLE])]),
    retrieve=extend_schema(summary="A camera (credentials in the URL masked)", tags=["streams"],
                           responses={200: VideoStreamSerializer, **ERROR_RESPONSES(401, 404)},
                           examples=[OpenApiExample("stream", response_only=True, value=STREAM_EXAMPLE)]),
    create=extend_schema(summary="Add a camera (admins); its media-server proxy follows", tags=["streams"],
                         responses={201: VideoStreamSerializer, **ERROR_RESPONSES(400, 401, 403)},
                         examples=[OpenApiExample("rtsp camera", request_only=True, value=STREAM_CREATE_EXAMPLE),
                                   OpenApiExample("looped file", request_only=True,
                                                  value={"name": "Demo", "type": "file", "url": "demo.mp4"})]),
    update=extend_schema(summary="Replace a camera (admins)", tags=["streams"],
                         responses={200: VideoStreamSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
                         examples=[OpenApiExample("replace", request_only=True, value=STREAM_CREATE_EXAMPLE)]),
    partial_update=extend_schema(summary="Change a camera (admins)", tags=["streams"],
                                 responses={200: VideoStreamSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
                                 examples=[OpenApiExample("disable", request_only=True, value={"enabled": False})]),
    destroy=extend_schema(summary="Delete a camera (admins); 409 while a monitoring task uses it", tags=["streams"],
                          responses={204: None, **ERROR_RESPONSES(401, 403, 404, 409)}),
)
class VideoStreamViewSet(viewsets.ModelViewSet):
    serializer_class = VideoStreamSerializer
    filterset_class = VideoStreamFilter
    search_fields = ["name", "location"]
    ordering_fields = ["id", "name", "status", "created_at", "last_checked"]
    required_roles = {"read": "viewer", "write": "admin"}

    def get_queryset(self):
        return _scoped_streams(self.request).order_by("id")

    def perform_create(self, serializer):
        serializer.instance = services.create_stream(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.update_stream(serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        try:
            services.delete_stream(instance)
        except services.StreamInUse as exc:
            raise Conflict(exc.detail, code=exc.code) from None

    @extend_schema(
        summary="Probe the camera now (bounded time); a camera that does not answer is offline with the reason",
        tags=["streams"], responses={200: StreamStatusSerializer, **ERROR_RESPONSES(401, 404)},
        examples=[OpenApiExample("online", response_only=True, value={
            "id": 1, "status": "online", "error": "", "latency_ms": 412.5, "last_checked": "2026-11-28T10:00:00Z",
            "width": 1920, "height": 1080, "fps": 25.0, "codec": "h264"}),
            OpenApiExample("offline", response_only=True, value={
                "id": 2, "status": "offline", "error": "cannot open rtsp://10.0.0.9:554/live", "latency_ms": None,
                "last_checked": "2026-11-28T10:00:00Z", "width": None, "height": None, "fps": None, "codec": ""})],
    )
    @action(detail=True, methods=["get"], url_path="status", url_name="status")
    def probe(self, request, pk=None):
        return Response(StreamStatusSerializer(services.probe_stream(self.get_object())).data)

    @extend_schema(
        summary="A current JPEG of the camera (ZLM getSnap when configured, else a direct grab)", tags=["streams"],
        responses={(200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY, description="JPEG image"),
                   **ERROR_RESPONSES(401, 404, 503)},
    )
    @action(detail=True, methods=["get"], url_path="snapshot")
    def snapshot(self, request, pk=None):
        stream = self.get_object()
        try:
            body = services.snapshot_jpeg(stream)
        except services.StreamUnreachable as exc:
            raise ServiceUnavailable(exc.detail, code=exc.code) from None
        response = HttpResponse(body, content_type="image/jpeg")
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        summary="Playback URLs from the media server (empty when none is configured)", tags=["streams"],
        responses={200: PlayUrlsSerializer, **ERROR_RESPONSES(401, 404)},
        examples=[OpenApiExample("urls", response_only=True, value={
            "rtsp": "rtsp://media.example.com:554/live/cam1", "rtmp": "rtmp://media.example.com:1935/live/cam1",
            "http_flv": "http://media.example.com/live/cam1.live.flv",
            "ws_flv": "ws://media.example.com/live/cam1.live.flv",
            "hls": "http://media.example.com/live/cam1/hls.m3u8", "fmp4": "http://media.example.com/live/cam1.live.mp4",
            "webrtc": "http://media.example.com/index/api/webrtc?app=live&stream=cam1&type=play"})],
    )
    @action(detail=True, methods=["get"], url_path="play-urls")
    def play_urls(self, request, pk=None):
        return Response(services.play_urls(self.get_object()))


@extend_schema_view(
    list=extend_schema(summary="List stream groups (filter by kind, parent, root)", tags=["stream-groups"],
                       examples=[OpenApiExample("groups", response_only=True, value=[GROUP_EXAMPLE])]),
    retrieve=extend_schema(summary="A stream group", tags=["stream-groups"],
                           responses={200: StreamGroupSerializer, **ERROR_RESPONSES(401, 404)}),
    create=extend_schema(summary="Create a group (admins)", tags=["stream-groups"],
                         responses={201: StreamGroupSerializer, **ERROR_RESPONSES(400, 401, 403)},
                         examples=[OpenApiExample("organization", request_only=True, value={
                             "name": "Warehouse", "kind": "organization", "parent": 1, "address": "2 Dock Rd"}),
                             OpenApiExample("virtual", request_only=True,
                                            value={"name": "Entrances", "kind": "virtual"})]),
    update=extend_schema(summary="Replace a group (admins)", tags=["stream-groups"],
                         responses={200: StreamGroupSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
                         examples=[OpenApiExample("replace", request_only=True, value={
                             "name": "Warehouse", "kind": "organization", "parent": None, "address": "2 Dock Rd",
                             "contact_name": "Dana", "contact_phone": "+1 555 0100", "description": ""})]),
    partial_update=extend_schema(summary="Change a group, e.g. move it in the tree (admins)", tags=["stream-groups"],
                                 responses={200: StreamGroupSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
                                 examples=[OpenApiExample("move", request_only=True, value={"parent": 2})]),
    destroy=extend_schema(summary="Delete a group and its sub-groups (admins); streams stay", tags=["stream-groups"],
                          responses={204: None, **ERROR_RESPONSES(401, 403, 404)}),
)
class StreamGroupViewSet(viewsets.ModelViewSet):
    serializer_class = StreamGroupSerializer
    filterset_class = StreamGroupFilter
    search_fields = ["name", "address", "description"]
    ordering_fields = ["id", "name", "created_at"]
    required_roles = {"read": "viewer", "write": "admin"}

    def get_queryset(self):
        queryset = StreamGroup.objects.annotate(stream_count=Count("streams", distinct=True)).prefetch_related(
            "members").order_by("id")
        group_ids = visible_group_ids(self.request.user)
        return queryset if group_ids is None else queryset.filter(id__in=group_ids)

    @extend_schema(summary="The streams in a group", tags=["stream-groups"],
                   responses={200: VideoStreamSerializer(many=True), **ERROR_RESPONSES(401, 404)},
                   parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)])
    @action(detail=True, methods=["get"], url_path="streams")
    def streams(self, request, pk=None):
        group = self.get_object()
        queryset = _scoped_streams(request).filter(groups=group).order_by("id")
        page = self.paginate_queryset(queryset)
        serializer = VideoStreamSerializer(page if page is not None else queryset, many=True)
        return self.get_paginated_response(serializer.data) if page is not None else Response(serializer.data)

    def _change(self, request, func):
        group = self.get_object()
        serializer = GroupStreamIdsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            changed = func(group, serializer.validated_data["stream_ids"])
        except services.StreamError as exc:
            raise exceptions.ValidationError({exc.field or "stream_ids": [exc.detail]}, code=exc.code) from None
        return Response({"changed": changed, "stream_count": group.streams.count()})

    @extend_schema(summary="Add streams to a group (admins)", tags=["stream-groups"], request=GroupStreamIdsSerializer,
                   responses={200: GroupStreamsChangedSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
                   examples=[OpenApiExample("add", request_only=True, value={"stream_ids": [1, 2]}),
                             OpenApiExample("added", response_only=True, value={"changed": 2, "stream_count": 5})])
    @action(detail=True, methods=["post"], url_path="add-streams")
    def add_streams(self, request, pk=None):
        return self._change(request, services.add_streams_to_group)

    @extend_schema(summary="Remove streams from a group (admins)", tags=["stream-groups"],
                   request=GroupStreamIdsSerializer,
                   responses={200: GroupStreamsChangedSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
                   examples=[OpenApiExample("remove", request_only=True, value={"stream_ids": [2]})])
    @action(detail=True, methods=["post"], url_path="remove-streams")
    def remove_streams(self, request, pk=None):
        return self._change(request, services.remove_streams_from_group)


class ZLMHookView(APIView):
    """ZLMediaKit's web hooks. ZLM cannot log in, so the shared secret ``ZLM_HOOK_SECRET`` travels in
    the hook URL (``?secret=``); without a configured secret every hook is refused."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="A ZLMediaKit web hook (authenticated by ?secret=)", tags=["zlm"], request=OpenApiTypes.OBJECT,
        parameters=[OpenApiParameter("secret", str, OpenApiParameter.QUERY, required=True,
                                     description="The shared hook secret (ZLM_HOOK_SECRET)."),
                    OpenApiParameter("hook", str, OpenApiParameter.PATH, enum=list(services.HOOKS))],
        responses={200: HookReplySerializer, **ERROR_RESPONSES(400, 403, 404)},
        examples=[OpenApiExample("on_stream_none_reader", request_only=True, value={
            "mediaServerId": "your_server_id", "hook_index": 7, "schema": "rtsp", "vhost": "__defaultVhost__",
            "app": "live", "stream": "cam1"}),
            OpenApiExample("keep the stream", response_only=True, value={"code": 0, "close": False})],
    )
    def post(self, request, hook: str):
        expected = settings.ZLM_HOOK_SECRET or ""
        given = request.query_params.get("secret", "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise exceptions.PermissionDenied("Invalid hook secret.", code="invalid_hook_secret")
        if hook not in services.HOOKS:
            raise exceptions.NotFound(f"Unknown hook {hook!r}.")
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["The hook body must be a JSON object."]})
        return Response(services.handle_hook(hook, request.data), status=status.HTTP_200_OK)
