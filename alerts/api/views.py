"""Alerts endpoints: list/detail/delete, process, batch-process, statistics and export.

Every queryset is scoped to the stream groups the user may see; the logic itself lives in
:mod:`alerts.services`.
"""
from __future__ import annotations

import csv
import tempfile
from datetime import datetime, timedelta
from itertools import islice

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response

from accounts.choices import RoleCode
from aimonitor.api.errors import Unprocessable
from aimonitor.api.schema import ERROR_RESPONSES
from aimonitor.api.scoping import restrict_to_user, visible_group_ids
from alerts import services
from alerts.models import Alert

from .filters import AlertFilter, BoundFilter
from .pagination import AlertPagination
from .serializers import (
    AlertSerializer,
    BatchProcessSerializer,
    BatchResultSerializer,
    ProcessResultSerializer,
    ProcessSerializer,
)

ALERT_EXAMPLE = {
    "id": 1042, "type": "intrusion_detection", "level": "critical", "status": "new", "is_processed": False,
    "stream": {"id": 3, "name": "Gate camera"}, "algorithm": {"id": 1, "name": "Person detector"},
    "task": {"id": 7, "name": "Gate watch"}, "detection_time": "2026-11-28T10:15:02+08:00",
    "snapshot_url": "/media/snapshots/2026/11/28/0f1e2d3c4b5a69788796a5b4c3d2e1f0.jpg", "images": {},
    "metadata": {"detections": [{"class": "person", "class_id": 0, "confidence": 0.91,
                                 "bbox": [50.0, 400.0, 245.0, 905.0], "zone": "door"}],
                 "regions": [{"name": "door", "points": [[0.0, 0.3], [0.5, 0.3], [0.5, 0.95], [0.0, 0.95]]}]},
    "processed_by": None, "processed_at": None, "notes": "", "created_at": "2026-11-28T10:15:02+08:00",
}
STATISTICS_EXAMPLE = {
    "total": 120, "processed": 80, "unprocessed": 40, "false_positive": 15, "processing_rate": 0.6667,
    "by_level": {"info": 20, "warning": 70, "critical": 30},
    "by_type": {"intrusion_detection": 100, "face_recognition": 20},
    "by_stream": [{"id": 3, "name": "Gate camera", "count": 90}, {"id": 4, "name": "Lobby", "count": 30}],
    "by_date": [{"date": "2026-11-27", "count": 70}, {"date": "2026-11-28", "count": 50}],
}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Spreadsheet programs run cells that start with these as formulas; a quote keeps them text.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(value):
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a streaming response."""

    def write(self, value):
        return value


def streamed(request, chunks, content_type: str, filename: str) -> StreamingHttpResponse:
    """A download streamed chunk by chunk under both servers. Under ASGI Django would read a plain
    iterator to the end before sending (all rows in memory), so there the chunks come through an
    async generator that pulls a batch at a time on the request's sync thread (the DB cursor's)."""
    if isinstance(getattr(request, "_request", request), ASGIRequest):
        def take(iterator, n=64):
            return list(islice(iterator, n))

        async def batches():
            iterator = iter(chunks)
            while True:
                batch = await sync_to_async(take)(iterator)
                if not batch:
                    return
                yield b"".join(part if isinstance(part, bytes) else part.encode() for part in batch)

        content = batches()
    else:
        content = chunks
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def file_chunks(handle, size: int = 256 * 1024):
    """Yields a file's bytes in blocks, then closes it."""
    try:
        while block := handle.read(size):
            yield block
    finally:
        handle.close()


class FormatIsAFileType(DefaultContentNegotiation):
    """On the export, ``?format=csv|xlsx`` names the file type, not a DRF renderer; errors stay JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


FILTER_PARAMETERS = [
    OpenApiParameter("start_date", OpenApiTypes.STR, description="Date (whole day in TIME_ZONE) or ISO datetime.",
                     examples=[OpenApiExample("day", value="2026-11-01")]),
    OpenApiParameter("end_date", OpenApiTypes.STR, description="Date (whole day, inclusive) or ISO datetime.",
                     examples=[OpenApiExample("day", value="2026-11-28")]),
]


@extend_schema_view(
    list=extend_schema(
        summary="List alerts (newest first; since_id: everything after an id, oldest first)", tags=["alerts"],
        parameters=FILTER_PARAMETERS,
        responses={200: AlertSerializer(many=True), **ERROR_RESPONSES(400, 401, 403, 404)},
        examples=[OpenApiExample("page", response_only=True, status_codes=["200"], value={
            "count": 1, "count_is_estimate": False, "next": None, "previous": None, "results": [ALERT_EXAMPLE]})],
    ),
    retrieve=extend_schema(summary="An alert with its detections and snapshot URL", tags=["alerts"],
                           responses={200: AlertSerializer, **ERROR_RESPONSES(401, 403, 404)},
                           examples=[OpenApiExample("alert", response_only=True, value=ALERT_EXAMPLE)]),
    destroy=extend_schema(summary="Delete an alert and its snapshot files (admins)", tags=["alerts"],
                          responses={204: None, **ERROR_RESPONSES(401, 403, 404)}),
)
class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                   viewsets.GenericViewSet):
    """Alerts the user may see (their stream groups' alerts, or all of them)."""

    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    pagination_class = AlertPagination
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["detection_time", "id", "level", "status", "type"]
    ordering = ["-detection_time", "-id"]
    required_roles = {
        "list": RoleCode.VIEWER, "retrieve": RoleCode.VIEWER, "statistics": RoleCode.VIEWER,
        "export": RoleCode.VIEWER, "process": RoleCode.OPERATOR, "batch_process": RoleCode.OPERATOR,
        "destroy": RoleCode.ADMIN,
    }

    def get_queryset(self):
        queryset = Alert.objects.select_related(*services.RELATED)
        return restrict_to_user(queryset, self.request.user, "stream")

    @property
    def is_scoped(self) -> bool:
        """Whether the user sees only some groups (then the table estimate does not apply)."""
        return visible_group_ids(self.request.user) is not None

    def filtered(self):
        """The filtered queryset, with the filter set kept for the pagination's count decision."""
        backend = DjangoFilterBackend()
        filterset = backend.get_filterset(self.request, self.get_queryset(), self)
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        self.filterset = filterset
        return filterset.qs

    def list(self, request, *args, **kwargs):
        queryset = self.filtered()
        queryset = OrderingFilter().filter_queryset(request, queryset, self)
        if "since_id" in request.query_params:
            # Catch-up reads forward from the last id the client saw, in the order alerts were raised.
            queryset = queryset.order_by("id")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def perform_destroy(self, instance):
        services.delete_alert(instance)

    @extend_schema(
        summary="Process an alert: set its status (or is_processed) and notes (operators)", tags=["alerts"],
        request=ProcessSerializer, responses={200: ProcessResultSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
        examples=[
            OpenApiExample("processed", request_only=True, value={"status": "processed", "notes": "Guard sent"}),
            OpenApiExample("original design", request_only=True, value={"is_processed": True, "notes": "Checked"}),
            OpenApiExample("result", response_only=True, status_codes=["200"], value={
                "id": 1042, "status": "processed", "is_processed": True,
                "processed_by": {"id": 2, "username": "olga"}, "processed_at": "2026-11-28T10:20:00+08:00",
                "notes": "Guard sent"}),
        ],
    )
    @action(detail=True, methods=["patch"], url_path="process")
    def process(self, request, pk=None):
        alert = self.get_object()
        serializer = ProcessSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            alert = services.process_alert(alert, request.user, **serializer.validated_data)
        except Alert.DoesNotExist:
            raise NotFound()
        return Response({
            "id": alert.pk, "status": alert.status, "is_processed": alert.is_processed,
            "processed_by": {"id": alert.processed_by.pk, "username": alert.processed_by.username}
            if alert.processed_by else None,
            "processed_at": alert.processed_at, "notes": alert.notes,
        })

    @extend_schema(
        summary="Process many alerts in one transaction (operators); unknown ids refuse the whole batch",
        tags=["alerts"], request=BatchProcessSerializer,
        responses={200: BatchResultSerializer, **ERROR_RESPONSES(400, 401, 403)},
        examples=[
            OpenApiExample("batch", request_only=True,
                           value={"alert_ids": [1040, 1041, 1042], "status": "false_positive", "notes": "Shadows"}),
            OpenApiExample("result", response_only=True, status_codes=["200"], value={
                "processed_count": 3, "processed_ids": [1040, 1041, 1042],
                "processed_at": "2026-11-28T10:20:00+08:00"}),
        ],
    )
    @action(detail=False, methods=["post"], url_path="batch-process")
    def batch_process(self, request):
        serializer = BatchProcessSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            result = services.batch_process(data["alert_ids"], request.user, data["status"], data.get("notes"))
        except services.UnknownAlerts as exc:
            raise ValidationError({"alert_ids": [f"Unknown alert ids: {', '.join(map(str, exc.missing))}."]},
                                  code="unknown_ids") from None
        return Response(BatchResultSerializer(result).data)

    @extend_schema(
        summary="Alert statistics computed in the database, by local day or hour (TIME_ZONE)", tags=["alerts"],
        parameters=[*FILTER_PARAMETERS,
                    OpenApiParameter("group_by", OpenApiTypes.STR, enum=["day", "hour"], default="day")],
        responses={200: OpenApiTypes.OBJECT, **ERROR_RESPONSES(400, 401, 403)},
        examples=[OpenApiExample("statistics", response_only=True, value=STATISTICS_EXAMPLE)],
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def statistics(self, request):
        group_by = request.query_params.get("group_by", "day")
        if group_by not in ("day", "hour"):
            raise ValidationError({"group_by": ["Choose day or hour."]}, code="invalid_choice")
        queryset = self.filtered()
        data = self.filterset.form.cleaned_data
        start = BoundFilter.as_datetime(data["start_date"], False) if data.get("start_date") else None
        end = BoundFilter.as_datetime(data["end_date"], True) if data.get("end_date") else None
        if end is not None and not isinstance(data["end_date"], datetime):
            end -= timedelta(microseconds=1)  # a whole-day end bound ends just before the next midnight
        return Response(services.alert_statistics(queryset, group_by=group_by, start=start, end=end))

    @extend_schema(
        summary="Export the filtered alerts as CSV (streamed) or xlsx, up to ALERT_EXPORT_MAX_ROWS rows",
        tags=["alerts"],
        parameters=[*FILTER_PARAMETERS, OpenApiParameter("format", OpenApiTypes.STR, enum=["csv", "xlsx"],
                                                         default="csv", description="File type.")],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV, one row per alert."),
            (200, XLSX_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="Excel workbook."),
            **ERROR_RESPONSES(400, 401, 403, 422),
        },
        examples=[OpenApiExample("csv", response_only=True, status_codes=["200"], media_type="text/csv",
                                 value="id,detection_time,type,level,...\n1042,2026-11-28T10:15:02+08:00,...")],
    )
    @action(detail=False, methods=["get"], pagination_class=None, content_negotiation_class=FormatIsAFileType)
    def export(self, request):
        kind = request.query_params.get("format", "csv")
        if kind not in ("csv", "xlsx"):
            raise ValidationError({"format": ["Choose csv or xlsx."]}, code="invalid_choice")
        queryset = OrderingFilter().filter_queryset(request, self.filtered(), self)
        try:
            services.check_export_size(queryset)
        except services.ExportTooLarge as exc:
            raise Unprocessable({"code": "export_too_large", "detail": str(exc),
                                 "errors": {"limit": [str(exc.limit)]}}) from None
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        rows = services.export_rows(queryset)
        if kind == "csv":
            writer = csv.writer(_Echo())

            def lines():
                yield writer.writerow(services.EXPORT_COLUMNS)
                for row in rows:
                    yield writer.writerow([_spreadsheet_safe(v) for v in row])

            return streamed(request, lines(), "text/csv; charset=utf-8", f"alerts-{stamp}.csv")
        return streamed(request, file_chunks(self._xlsx(rows)), XLSX_TYPE, f"alerts-{stamp}.xlsx")

    @staticmethod
    def _xlsx(rows):
        """Writes the workbook in openpyxl's write-only mode (rows go to disk as they come) into a
        temporary file that the response streams and closes."""
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("alerts")
        sheet.append(services.EXPORT_COLUMNS)
        for row in rows:
            sheet.append([_spreadsheet_safe(v) for v in row])
        handle = tempfile.TemporaryFile()
        workbook.save(handle)
        handle.seek(0)
        return handle
