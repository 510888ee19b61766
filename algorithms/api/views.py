"""Algorithm endpoints: CRUD, model upload, test run, start/stop, metrics and exports."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from aimonitor.api.errors import Conflict, PayloadTooLarge, Unprocessable
from aimonitor.api.schema import ERROR_RESPONSES
from algorithms import services
from algorithms.models import Algorithm, ExportJob

from .filters import AlgorithmFilter, ExportJobFilter
from .serializers import (
    AlgorithmSerializer,
    ExportJobSerializer,
    ExportRequestSerializer,
    MetricsSerializer,
    TestRequestSerializer,
    TestResultSerializer,
    UploadModelSerializer,
)

ALGORITHM_EXAMPLE = {
    "id": 1, "name": "Person detector (YOLOv8)", "version": "1.0", "kind": "object_detection",
    "description": "YOLOv8 person detector", "framework": "ultralytics",
    "weights": "algorithms/1/3f1c0a9e5b7d2c41.pt", "weights_sha256": "3f1c0a9e5b7d2c41" + "0" * 48,
    "weights_size": 22514035, "format": "pt", "class_names": ["Normal", "Fall"],
    "config": {"confidence_threshold": 0.4, "iou_threshold": 0.45, "input_size": 640, "device": "auto",
               "half": False, "max_batch_size": 8, "target_classes": []},
    "is_active": True, "status": "running", "error": "", "in_use": True,
    "created_at": "2026-11-28T10:00:00Z", "updated_at": "2026-11-28T10:05:00Z",
}
EXPORT_EXAMPLE = {
    "id": 3, "algorithm": 1, "algorithm_name": "Person detector (YOLOv8)", "format": "onnx", "half": False,
    "int8": False, "batch": 1, "imgsz": 640, "dynamic": False, "status": "succeeded", "progress": 100, "error": "",
    "source_sha256": "3f1c" + "0" * 60, "result_weights": "algorithms/1/9a0b1c2d3e4f5061.onnx",
    "result_sha256": "9a0b" + "0" * 60, "result_size": 44903211, "duration_s": 21.4,
    "created_at": "2026-11-28T10:10:00Z", "started_at": "2026-11-28T10:10:01Z", "finished_at": "2026-11-28T10:10:22Z",
}
TEST_EXAMPLE = {
    "algorithm_id": 1, "algorithm_name": "Person detector (YOLOv8)", "processing_time_ms": 182.4,
    "image_size": [810, 1080],
    "detections": [{"class": "Normal", "class_id": 0, "confidence": 0.68, "bbox": [46.4, 383.9, 215.8, 907.1]}],
    "result_image": "/9j/4AAQSkZJRgABAQAAAQABAAD...",
}
METRICS_EXAMPLE = {
    "algorithm_id": 1, "period": "7d", "since": "2026-11-22", "total_calls": 5120, "total_frames": 40960,
    "total_errors": 2, "error_rate": 0.0004, "avg_processing_ms": 48.2, "min_processing_ms": 39.1,
    "max_processing_ms": 131.0, "avg_fps": 20.7,
    "series": [{"date": "2026-11-28", "total_calls": 5120, "total_frames": 40960, "total_errors": 2,
                "error_rate": 0.0004, "avg_processing_ms": 48.2, "min_processing_ms": 39.1,
                "max_processing_ms": 131.0, "avg_fps": 20.7}],
}

class BadRequest(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Invalid input."
    default_code = "invalid"


_API_ERRORS = {400: BadRequest, 409: Conflict, 413: PayloadTooLarge, 422: Unprocessable}


def api_error(exc: services.AlgorithmError) -> exceptions.APIException:
    """A service refusal -> the shared error shape, with the field at fault when there is one."""
    errors = {exc.field: [exc.detail]} if exc.field else {}
    return _API_ERRORS.get(exc.status, BadRequest)(
        {"code": exc.code, "detail": exc.detail, "errors": errors})


@extend_schema_view(
    list=extend_schema(summary="List algorithms (filter by kind, is_active, status, format; search by name)",
                       tags=["algorithms"]),
    retrieve=extend_schema(summary="An algorithm", tags=["algorithms"],
                           examples=[OpenApiExample("algorithm", response_only=True, value=ALGORITHM_EXAMPLE)]),
    create=extend_schema(summary="Register an algorithm (admins); upload its model file next", tags=["algorithms"],
                         responses={201: AlgorithmSerializer, **ERROR_RESPONSES(400, 401, 403)},
                         examples=[OpenApiExample("new detector", request_only=True, value={
                             "name": "Helmet detector", "version": "2.1", "kind": "object_detection",
                             "framework": "ultralytics", "description": "Hard hats on building sites",
                             "config": {"confidence_threshold": 0.5, "device": "cuda:0", "half": True}})]),
    update=extend_schema(summary="Replace an algorithm's editable fields (admins)", tags=["algorithms"],
                         responses={200: AlgorithmSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
                         examples=[OpenApiExample("replace", request_only=True, value={
                             "name": "Helmet detector", "version": "2.2", "kind": "object_detection",
                             "framework": "ultralytics", "description": "Hard hats on building sites",
                             "is_active": True, "config": {"confidence_threshold": 0.55, "device": "cpu"}})]),
    partial_update=extend_schema(summary="Change an algorithm (admins); config keys merge over the current ones",
                                 tags=["algorithms"],
                                 responses={200: AlgorithmSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
                                 examples=[OpenApiExample("threshold", request_only=True,
                                                          value={"config": {"confidence_threshold": 0.6}})]),
    destroy=extend_schema(summary="Delete an algorithm (admins); 409 while a monitoring task uses it",
                          tags=["algorithms"], responses={204: None, **ERROR_RESPONSES(401, 403, 404, 409)}),
)
class AlgorithmViewSet(viewsets.ModelViewSet):
    queryset = Algorithm.objects.all().order_by("id")
    serializer_class = AlgorithmSerializer
    filterset_class = AlgorithmFilter
    search_fields = ["name", "description", "version"]
    ordering_fields = ["id", "name", "created_at", "updated_at", "status"]
    required_roles = {"start": "operator", "stop": "operator", "test": "operator", "metrics": "viewer"}

    def perform_destroy(self, instance):
        try:
            services.delete_algorithm(instance)
        except services.AlgorithmError as exc:
            raise api_error(exc) from None

    def perform_update(self, serializer):
        # A running algorithm's workers pick a new config up on their next call (a device, half or
        # input-size change reloads the model there); deactivating it stops it.
        algorithm = serializer.save()
        if not algorithm.is_active and algorithm.status in ("running", "loading"):
            services.stop_algorithm(algorithm)

    @extend_schema(
        summary="Upload the model file (admins): validated by loading it, kept only if it loads",
        tags=["algorithms"], request={"multipart/form-data": UploadModelSerializer},
        responses={200: AlgorithmSerializer, **ERROR_RESPONSES(400, 401, 403, 404, 413, 422)},
        examples=[OpenApiExample("uploaded", response_only=True, status_codes=["200"], value=ALGORITHM_EXAMPLE)],
    )
    @action(detail=True, methods=["post"], url_path="upload-model",
            parser_classes=[MultiPartParser, FormParser])
    def upload_model(self, request, pk=None):
        algorithm = self.get_object()
        serializer = UploadModelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            algorithm = services.store_weights(algorithm, serializer.validated_data["model_file"])
        except services.AlgorithmError as exc:
            raise api_error(exc) from None
        return Response(AlgorithmSerializer(algorithm).data)

    @extend_schema(
        summary="Run the algorithm on one picture (operators): detections and the annotated picture",
        tags=["algorithms"], request={"multipart/form-data": TestRequestSerializer},
        responses={200: TestResultSerializer, **ERROR_RESPONSES(400, 401, 403, 404, 409, 413, 422)},
        examples=[OpenApiExample("result", response_only=True, status_codes=["200"], value=TEST_EXAMPLE)],
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser])
    def test(self, request, pk=None):
        algorithm = self.get_object()
        serializer = TestRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            result = services.test_algorithm(algorithm, data["test_image"].read(),
                                             config_override=data.get("config_override"),
                                             return_image=data["return_image"])
        except services.AlgorithmError as exc:
            if exc.field and exc.field.split(".")[0] == "config":
                exc.field = "config_override" + exc.field[len("config"):]
            raise api_error(exc) from None
        return Response(result)

    @extend_schema(
        summary="Start the algorithm (operators): load it on the inference workers; status goes "
                "loading, then running (or error)",
        tags=["algorithms"], request=None,
        responses={202: AlgorithmSerializer, **ERROR_RESPONSES(401, 403, 404, 409, 422)},
        examples=[OpenApiExample("loading", response_only=True, status_codes=["202"],
                                 value={**ALGORITHM_EXAMPLE, "status": "loading"})],
    )
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        try:
            algorithm = services.start_algorithm(self.get_object())
        except services.AlgorithmError as exc:
            raise api_error(exc) from None
        return Response(AlgorithmSerializer(algorithm).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Stop the algorithm (operators): unload it from the workers", tags=["algorithms"], request=None,
        responses={200: AlgorithmSerializer, **ERROR_RESPONSES(401, 403, 404)},
        examples=[OpenApiExample("stopped", response_only=True, status_codes=["200"],
                                 value={**ALGORITHM_EXAMPLE, "status": "stopped"})],
    )
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        return Response(AlgorithmSerializer(services.stop_algorithm(self.get_object())).data)

    @extend_schema(
        summary="Inference statistics: processing time, fps, calls, error rate, per day",
        tags=["algorithms"],
        parameters=[OpenApiParameter("period", str, enum=list(services.METRIC_PERIODS), default="7d")],
        responses={200: MetricsSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
        examples=[OpenApiExample("metrics", response_only=True, status_codes=["200"], value=METRICS_EXAMPLE)],
    )
    @action(detail=True, methods=["get"])
    def metrics(self, request, pk=None):
        algorithm = self.get_object()
        try:
            return Response(services.algorithm_metrics(algorithm, request.query_params.get("period", "7d")))
        except services.AlgorithmError as exc:
            raise api_error(exc) from None

    @extend_schema(
        summary="Export the .pt model (admins) to ONNX or a TensorRT engine, in the background",
        tags=["algorithms"], request=ExportRequestSerializer,
        responses={202: ExportJobSerializer, **ERROR_RESPONSES(400, 401, 403, 404, 409, 422)},
        examples=[OpenApiExample("onnx", request_only=True, value={"format": "onnx", "batch": 1, "imgsz": 640}),
                  OpenApiExample("queued", response_only=True, status_codes=["202"],
                                 value={**EXPORT_EXAMPLE, "status": "pending", "progress": 0, "result_weights": "",
                                        "result_sha256": "", "result_size": 0, "duration_s": None,
                                        "started_at": None, "finished_at": None})],
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser, FormParser, MultiPartParser])
    def export(self, request, pk=None):
        algorithm = self.get_object()
        serializer = ExportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            job = services.request_export(algorithm, services.ExportRequest(**serializer.validated_data),
                                          request.user)
        except services.AlgorithmError as exc:
            raise api_error(exc) from None
        job.refresh_from_db()  # in eager runs the export may already have finished
        return Response(ExportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(summary="List export jobs (filter by algorithm, status, format)", tags=["algorithms"]),
    retrieve=extend_schema(summary="An export job: status and progress", tags=["algorithms"],
                           examples=[OpenApiExample("export", response_only=True, value=EXPORT_EXAMPLE)]),
)
class ExportJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = ExportJob.objects.select_related("algorithm").order_by("-id")
    serializer_class = ExportJobSerializer
    filterset_class = ExportJobFilter
    ordering_fields = ["id", "created_at", "status"]
    required_roles = {"apply": "admin"}

    @extend_schema(
        summary="Switch the algorithm to this export's weights file (admins)", tags=["algorithms"], request=None,
        responses={200: AlgorithmSerializer, **ERROR_RESPONSES(401, 403, 404, 409)},
        examples=[OpenApiExample("switched", response_only=True, status_codes=["200"],
                                 value={**ALGORITHM_EXAMPLE, "format": "onnx",
                                        "weights": "algorithms/1/9a0b1c2d3e4f5061.onnx"})],
    )
    @action(detail=True, methods=["post"])
    def apply(self, request, pk=None):
        try:
            algorithm = services.apply_export(self.get_object())
        except services.AlgorithmError as exc:
            raise api_error(exc) from None
        return Response(AlgorithmSerializer(algorithm).data)
