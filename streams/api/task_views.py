"""The monitoring-task API: CRUD with filters, and the start/stop/status actions."""
from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from aimonitor.api.errors import Conflict
from aimonitor.api.schema import ERROR_RESPONSES
from aimonitor.api.scoping import restrict_to_user
from streams import tasks_services
from streams.choices import ScheduleType, TaskStatus
from streams.models import MonitorTask

from .task_serializers import (
    MonitorTaskDetailSerializer,
    MonitorTaskSerializer,
    StartAnswerSerializer,
    StopAnswerSerializer,
    TaskStatusSerializer,
)

CONFIG_EXAMPLE = {"target_classes": ["Normal", "Fall"], "alert_threshold": 0.5,
                  "region_of_interest": [{"name": "door", "polygon": [[0.1, 0.1], [0.6, 0.1], [0.6, 0.9], [0.1, 0.9]]}],
                  "roi_mode": "center", "roi_min_overlap": 0.5, "min_box_area": 0.01, "sample_fps": 2.0,
                  "cooldown_seconds": 60, "min_consecutive_frames": 2, "level": "warning",
                  "type": "intrusion_detection"}
TASK_EXAMPLE = {"id": 1, "name": "Lobby intrusion", "stream": 1, "stream_name": "Lobby", "algorithm": 1,
                "algorithm_name": "Person detector", "config": CONFIG_EXAMPLE, "schedule_type": "scheduled",
                "schedule_config": {"start_time": "22:00", "end_time": "06:00", "days": [0, 1, 2, 3, 4]},
                "status": "running", "desired_running": True, "error": "", "created_by": "alice",
                "worker": "gpu-1:4242", "started_at": "2026-11-28T10:00:00Z", "stopped_at": None,
                "last_heartbeat": "2026-11-28T10:05:00Z", "current_fps": 2.0, "inference_ms": 38.5,
                "frames_processed": 600, "last_frame_time": "2026-11-28T10:05:00Z",
                "created_at": "2026-11-28T09:00:00Z", "updated_at": "2026-11-28T09:00:00Z"}
WRITE_EXAMPLE = {"name": "Lobby intrusion", "stream": 1, "algorithm": 1, "config": CONFIG_EXAMPLE,
                 "schedule_type": "scheduled",
                 "schedule_config": {"start_time": "22:00", "end_time": "06:00", "days": ["mon", "tue"]}}


class MonitorTaskFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=TaskStatus.choices)
    schedule_type = django_filters.ChoiceFilter(choices=ScheduleType.choices)
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = MonitorTask
        fields = ["status", "stream", "algorithm", "schedule_type", "name", "desired_running"]


@extend_schema_view(
    list=extend_schema(summary="List monitoring tasks", tags=["monitor-tasks"],
                       responses={200: MonitorTaskSerializer(many=True), **ERROR_RESPONSES(400, 401, 403)},
                       examples=[OpenApiExample("tasks", value=TASK_EXAMPLE, response_only=True)]),
    retrieve=extend_schema(summary="A monitoring task, with its alert count and last alert", tags=["monitor-tasks"],
                           responses={200: MonitorTaskDetailSerializer, **ERROR_RESPONSES(401, 403, 404)},
                           examples=[OpenApiExample("task", response_only=True, value={
                               **TASK_EXAMPLE, "alert_count": 3, "last_alert": {
                                   "id": 9, "type": "intrusion_detection", "level": "warning", "status": "new",
                                   "detection_time": "2026-11-28T10:04:00Z",
                                   "snapshot": "/media/snapshots/2026/11/28/alert-9.jpg"}})]),
    create=extend_schema(summary="Create a monitoring task (stopped)", tags=["monitor-tasks"],
                         request=MonitorTaskSerializer,
                         responses={201: MonitorTaskDetailSerializer, **ERROR_RESPONSES(400, 401, 403)},
                         examples=[OpenApiExample("new task", value=WRITE_EXAMPLE, request_only=True)]),
    update=extend_schema(summary="Replace a monitoring task (a running task picks the change up)",
                         tags=["monitor-tasks"], request=MonitorTaskSerializer,
                         responses={200: MonitorTaskDetailSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
                         examples=[OpenApiExample("task", value=WRITE_EXAMPLE, request_only=True)]),
    partial_update=extend_schema(summary="Change a monitoring task; config keys are merged", tags=["monitor-tasks"],
                                 request=MonitorTaskSerializer,
                                 responses={200: MonitorTaskDetailSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
                                 examples=[OpenApiExample("raise the threshold", request_only=True,
                                                          value={"config": {"alert_threshold": 0.7}})]),
    destroy=extend_schema(summary="Delete a monitoring task (stopped first)", tags=["monitor-tasks"],
                          responses={204: None, **ERROR_RESPONSES(401, 403, 404)}),
)
class MonitorTaskViewSet(viewsets.ModelViewSet):
    """Monitoring tasks: a stream, an algorithm and rules. Operators start and stop them; admins
    create, change and delete them; everyone with a role reads those on streams they may see."""

    queryset = MonitorTask.objects.select_related("stream", "algorithm", "created_by")
    filterset_class = MonitorTaskFilter
    search_fields = ["name", "stream__name"]
    ordering_fields = ["id", "name", "status", "created_at", "started_at"]
    required_roles = {"start": "operator", "stop": "operator", "status": "viewer"}

    def get_queryset(self):
        return restrict_to_user(super().get_queryset(), self.request.user, "stream")

    def get_serializer_class(self):
        if self.action == "list":
            return MonitorTaskSerializer
        return MonitorTaskDetailSerializer

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)

    def perform_update(self, serializer):
        task = serializer.save()
        tasks_services.config_changed(task)

    def perform_destroy(self, instance):
        tasks_services.delete_task(instance)

    @extend_schema(
        summary="Start a monitoring task (a no-op when it is already started)", tags=["monitor-tasks"], request=None,
        responses={200: StartAnswerSerializer, **ERROR_RESPONSES(401, 403, 404, 409)},
        examples=[OpenApiExample("started", response_only=True, value={
            "id": 1, "name": "Lobby intrusion", "status": "starting", "start_time": "2026-11-28T10:00:00Z",
            "changed": True})],
    )
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        task = self.get_object()
        if not task.desired_running:
            if not task.stream.enabled:
                raise Conflict(f"The stream {task.stream.name!r} is disabled.")
            if not task.algorithm.is_active:
                raise Conflict(f"The algorithm {task.algorithm.name!r} is disabled.")
        task, changed = tasks_services.start_task(task)
        return Response({"id": task.pk, "name": task.name, "status": task.status,
                         "start_time": task.started_at, "changed": changed})

    @extend_schema(
        summary="Stop a monitoring task (a no-op when it is already stopped)", tags=["monitor-tasks"], request=None,
        responses={200: StopAnswerSerializer, **ERROR_RESPONSES(401, 403, 404)},
        examples=[OpenApiExample("stopped", response_only=True, value={
            "id": 1, "name": "Lobby intrusion", "status": "stopped", "stop_time": "2026-11-28T11:00:00Z",
            "duration_seconds": 3600.0, "changed": True})],
    )
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        task, changed = tasks_services.stop_task(self.get_object())
        duration = None
        if task.started_at and task.stopped_at and task.stopped_at >= task.started_at:
            duration = round((task.stopped_at - task.started_at).total_seconds(), 1)
        return Response({"id": task.pk, "name": task.name, "status": task.status, "stop_time": task.stopped_at,
                         "duration_seconds": duration, "changed": changed})

    @extend_schema(
        summary="Live status of a monitoring task", tags=["monitor-tasks"],
        responses={200: TaskStatusSerializer, **ERROR_RESPONSES(401, 403, 404)},
        examples=[OpenApiExample("running", response_only=True, value={
            "id": 1, "status": "running", "current_fps": 2.0, "inference_ms": 38.5, "cpu_usage": 95.0,
            "gpu_usage": None, "memory_usage": 812.4, "uptime_seconds": 300.0, "frames_processed": 600,
            "detected_objects": [{"class": "Normal", "confidence": 0.82, "count": 2}],
            "last_frame_time": "2026-11-28T10:05:00Z", "worker": "gpu-1:4242", "error": None})],
    )
    @action(detail=True, methods=["get"], url_path="status")
    def status(self, request, pk=None):
        return Response(tasks_services.status_payload(self.get_object()), status=status.HTTP_200_OK)

