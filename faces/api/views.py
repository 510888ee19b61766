"""Face library endpoints: libraries, faces, upload, feature extraction, search and batch import.

Every workflow is a call into ``faces.services``; refusals come back in the shared error shape.
"""
from __future__ import annotations

import base64
import contextlib

from django.conf import settings
from django.db.models import Count
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from aimonitor.api.errors import PayloadTooLarge, ServiceUnavailable
from aimonitor.api.schema import ERROR_RESPONSES
from faces import services
from faces.engine import EngineUnavailable
from faces.models import Face, FaceImport, FaceLibrary

from .filters import FaceFilter
from .serializers import (
    BatchImportSerializer,
    ExtractResponseSerializer,
    FaceDetailSerializer,
    FaceImageSerializer,
    FaceImportSerializer,
    FaceLibrarySerializer,
    FaceSearchResponseSerializer,
    FaceSearchSerializer,
    FaceSerializer,
    FaceUploadSerializer,
    media_url,
)

OPERATOR_WRITES = {"create": "operator", "update": "operator", "partial_update": "operator",
                   "destroy": "operator"}

LIBRARY_EXAMPLE = {"id": 1, "name": "watchlist", "description": "Banned visitors", "is_watchlist": True,
                   "face_count": 12, "created_at": "2026-11-28T10:00:00Z", "updated_at": "2026-11-28T10:00:00Z"}
FACE_EXAMPLE = {"id": 7, "library": 1, "name": "Alice Smith", "person_id": "E1001",
                "image_url": "http://host/media/faces/2026/11/4f1c.jpg",
                "crop_url": "http://host/media/faces/crops/2026/11/4f1c.jpg", "quality": 0.82,
                "model_name": "sface", "model_version": "2021dec-int8bq", "metadata": {"department": "R&D"},
                "created_at": "2026-11-28T10:00:00Z", "updated_at": "2026-11-28T10:00:00Z",
                "vector": "AAAgPgAAgL4...(684 base64 characters)"}
IMPORT_EXAMPLE = {"id": 3, "library": 1, "status": "done", "total": 3, "processed": 3, "total_processed": 3,
                  "successful": 2, "failed": 1,
                  "failed_details": [{"filename": "notes.txt", "reason": "invalid_image: The file is not a "
                                                                          "readable image."}],
                  "error": "", "created_by": 2, "created_at": "2026-11-28T10:00:00Z",
                  "started_at": "2026-11-28T10:00:01Z", "finished_at": "2026-11-28T10:00:04Z"}


@contextlib.contextmanager
def refusals_as_api_errors():
    """Turns the services' refusals into the shared error shape (400/413/503)."""
    try:
        yield
    except services.FaceRejected as exc:
        if exc.status == 413:
            raise PayloadTooLarge(exc.detail, code=exc.code) from None
        raise ValidationError({exc.field: [ErrorDetail(exc.detail, code=exc.code)]}) from None
    except EngineUnavailable as exc:
        raise ServiceUnavailable(str(exc), code="face_engine_unavailable") from None


def read_upload(upload, field: str, limit: int | None = None) -> bytes:
    """The bytes of an uploaded file, refused with 413 (before reading) when over the limit."""
    services.check_upload_size(upload.size, limit, field)
    return upload.read()


@extend_schema_view(
    list=extend_schema(summary="List face libraries", tags=["faces"]),
    retrieve=extend_schema(summary="A face library", tags=["faces"],
                           examples=[OpenApiExample("library", response_only=True, value=LIBRARY_EXAMPLE)]),
    create=extend_schema(summary="Create a face library (operators)", tags=["faces"],
                         responses={201: FaceLibrarySerializer, **ERROR_RESPONSES(400, 401, 403)},
                         examples=[OpenApiExample("watchlist", request_only=True,
                                                  value={"name": "watchlist", "is_watchlist": True})]),
    update=extend_schema(summary="Replace a face library (operators)", tags=["faces"],
                         examples=[OpenApiExample("replace", request_only=True, value={
                             "name": "watchlist", "description": "Banned visitors", "is_watchlist": True})]),
    partial_update=extend_schema(summary="Change a face library (operators)", tags=["faces"],
                                 examples=[OpenApiExample("rename", request_only=True, value={"name": "staff"})]),
    destroy=extend_schema(summary="Delete a face library with all its faces (operators)", tags=["faces"],
                          responses={204: None, **ERROR_RESPONSES(401, 403, 404)}),
)
class FaceLibraryViewSet(viewsets.ModelViewSet):
    serializer_class = FaceLibrarySerializer
    required_roles = OPERATOR_WRITES
    search_fields = ["name", "description"]
    ordering_fields = ["id", "name", "created_at"]

    def get_queryset(self):
        return FaceLibrary.objects.annotate(face_count=Count("faces")).order_by("id")

    def perform_destroy(self, instance):
        services.delete_library(instance)


@extend_schema_view(
    list=extend_schema(summary="List faces (filter by library, name, person_id; search)", tags=["faces"]),
    retrieve=extend_schema(summary="A face with its feature vector", tags=["faces"],
                           responses={200: FaceDetailSerializer, **ERROR_RESPONSES(401, 404)},
                           examples=[OpenApiExample("face", response_only=True, value=FACE_EXAMPLE)]),
    update=extend_schema(summary="Replace a face's name, person id, library and metadata (operators)",
                         tags=["faces"], responses={200: FaceDetailSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
                         examples=[OpenApiExample("replace", request_only=True, value={
                             "library": 1, "name": "Alice Smith", "person_id": "E1001",
                             "metadata": {"department": "R&D"}})]),
    partial_update=extend_schema(summary="Change a face's name, person id, library or metadata (operators)",
                                 tags=["faces"],
                                 responses={200: FaceDetailSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
                                 examples=[OpenApiExample("rename", request_only=True, value={"name": "Alice B."})]),
    destroy=extend_schema(summary="Delete a face; it leaves the search index at once (operators)", tags=["faces"],
                          responses={204: None, **ERROR_RESPONSES(401, 403, 404)}),
)
class FaceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                  mixins.DestroyModelMixin, viewsets.GenericViewSet):
    filterset_class = FaceFilter
    search_fields = ["name", "person_id"]
    ordering_fields = ["id", "name", "person_id", "quality", "created_at"]
    required_roles = {**OPERATOR_WRITES, "upload": "operator", "batch_import": "operator",
                      "extract_features": "viewer", "search": "viewer"}

    def get_queryset(self):
        queryset = Face.objects.order_by("id")
        return queryset.defer("vector") if self.action == "list" else queryset

    def get_serializer_class(self):
        return FaceSerializer if self.action == "list" else FaceDetailSerializer

    def get_parsers(self):
        if getattr(self, "action", None) in ("upload", "extract_features", "search", "batch_import"):
            return [MultiPartParser(), FormParser()]
        return super().get_parsers()

    def perform_update(self, serializer):
        services.update_face(serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.delete_faces([instance])

    @extend_schema(
        summary="Enroll a face from an image (operators)", tags=["faces"], request=FaceUploadSerializer,
        responses={201: FaceDetailSerializer, **ERROR_RESPONSES(400, 401, 403, 413, 503)},
        examples=[
            OpenApiExample("upload", request_only=True, value={
                "name": "Alice Smith", "person_id": "E1001", "library": 1, "face_image": "(binary JPEG)",
                "metadata": '{"department": "R&D"}', "pick": ""}),
            OpenApiExample("enrolled", response_only=True, status_codes=["201"], value=FACE_EXAMPLE),
            OpenApiExample("no face", response_only=True, status_codes=["400"], value={
                "code": "no_face", "detail": "No face was found in the image.",
                "errors": {"face_image": ["No face was found in the image."]}}),
        ],
    )
    @action(detail=False, methods=["post"], url_path="upload")
    def upload(self, request):
        serializer = FaceUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with refusals_as_api_errors():
            face = services.enroll(library=data["library"], name=data["name"], person_id=data["person_id"],
                                   image_bytes=read_upload(data["face_image"], "face_image"),
                                   metadata=data["metadata"], pick_largest=data["pick"] == "largest")
        return Response(FaceDetailSerializer(face, context={"request": request}).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Detect the largest face and return its features, landmarks and quality", tags=["faces"],
        request=FaceImageSerializer, responses={200: ExtractResponseSerializer,
                                                **ERROR_RESPONSES(400, 401, 403, 413, 503)},
        examples=[OpenApiExample("features", response_only=True, status_codes=["200"], value={
            "features": {"vector": "AAAgPgAAgL4...", "landmarks": [[200.1, 101.8], [247.2, 102.6], [220.3, 124.7],
                                                                  [198.9, 143.2], [239.8, 143.9]]},
            "bbox": [178.0, 62.6, 268.4, 176.4], "face_quality": 0.81, "faces_found": 1,
            "image_with_landmarks": "/9j/4AAQSkZJRg..."})],
    )
    @action(detail=False, methods=["post"], url_path="extract-features")
    def extract_features(self, request):
        serializer = FaceImageSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with refusals_as_api_errors():
            image, _ = services.decode_image(read_upload(serializer.validated_data["face_image"], "face_image"))
            extracted = services.extract_face(image, pick_largest=True, min_size=0)
        annotated = services.encode_jpeg(services.draw_landmarks(image, extracted.detection), quality=85)
        return Response({
            "features": {"vector": base64.b64encode(services.vector_to_bytes(extracted.vector)).decode(),
                         "landmarks": [[round(x, 1), round(y, 1)] for x, y in extracted.detection.landmarks]},
            "bbox": [round(v, 1) for v in extracted.detection.bbox],
            "face_quality": extracted.quality,
            "faces_found": extracted.faces_found,
            "image_with_landmarks": base64.b64encode(annotated).decode(),
        })

    @extend_schema(
        summary="Search the library by photo: most similar enrolled faces first", tags=["faces"],
        description="Similarity is cosine similarity of SFace vectors, -1..1; the same person usually scores "
                    "above 0.5, different people below 0.3. Results below `threshold` (default 0.363, "
                    "OpenCV's SFace value, setting FACES_MATCH_THRESHOLD) are left out.",
        request=FaceSearchSerializer, responses={200: FaceSearchResponseSerializer,
                                                 **ERROR_RESPONSES(400, 401, 403, 413, 503)},
        examples=[
            OpenApiExample("search", request_only=True, value={"face_image": "(binary JPEG)", "threshold": 0.4,
                                                               "max_results": 5, "library": 1}),
            OpenApiExample("hits", response_only=True, status_codes=["200"], value={
                "results": [{"face_id": 7, "name": "Alice Smith", "person_id": "E1001", "library_id": 1,
                             "similarity": 0.9312, "face_image_url": "http://host/media/faces/2026/11/4f1c.jpg",
                             "metadata": {"department": "R&D"}}],
                "total": 1, "query_time_ms": 41.7, "threshold": 0.4, "bbox": [178.0, 62.6, 268.4, 176.4]}),
        ],
    )
    @action(detail=False, methods=["post"], url_path="search")
    def search(self, request):
        serializer = FaceSearchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        threshold = data.get("threshold")
        threshold = services.default_threshold() if threshold is None else threshold
        with refusals_as_api_errors():
            result = services.search(read_upload(data["face_image"], "face_image"),
                                     libraries=[data["library"].pk] if data.get("library") else None,
                                     threshold=threshold, max_results=data["max_results"])
        hits = [{**{k: v for k, v in hit.items() if k != "face_image"},
                 "face_image_url": media_url(request, hit["face_image"])} for hit in result.results]
        return Response({"results": hits, "total": result.total, "query_time_ms": result.query_time_ms,
                         "threshold": threshold, "bbox": [round(v, 1) for v in result.extracted.detection.bbox]})

    @extend_schema(
        summary="Import a zip of face images in the background (operators)", tags=["faces"],
        description="Answers 202 with the import record; follow its progress at /api/face-imports/{id} or on "
                    "the WebSocket /ws/faces/imports/{id}/. Archives with too many entries, too large once "
                    "unpacked or compressed suspiciously well (zip bombs) are refused whole; unsafe paths, "
                    "non-images and images without exactly one usable face are reported per file.",
        request=BatchImportSerializer,
        responses={202: FaceImportSerializer, **ERROR_RESPONSES(400, 401, 403, 413)},
        examples=[
            OpenApiExample("import", request_only=True, value={
                "library": 1, "face_zip": "(binary zip)",
                "metadata_json": '{"alice/1.jpg": {"name": "Alice Smith", "person_id": "E1001"}}'}),
            OpenApiExample("queued", response_only=True, status_codes=["202"],
                           value={**IMPORT_EXAMPLE, "status": "pending", "processed": 0, "total_processed": 0,
                                  "successful": 0, "failed": 0, "failed_details": [], "finished_at": None}),
        ],
    )
    @action(detail=False, methods=["post"], url_path="batch-import")
    def batch_import(self, request):
        serializer = BatchImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with refusals_as_api_errors():
            job = services.start_import(
                library=data["library"], user=request.user, pick_largest=data["pick"] == "largest",
                archive_bytes=read_upload(data["face_zip"], "face_zip", settings.FACES_IMPORT_MAX_ZIP_BYTES),
                metadata=data["metadata_json"])
        job.refresh_from_db()
        return Response(FaceImportSerializer(job).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(summary="List batch imports (operators)", tags=["faces"]),
    retrieve=extend_schema(summary="A batch import's progress and outcome (operators)", tags=["faces"],
                           examples=[OpenApiExample("import", response_only=True, value=IMPORT_EXAMPLE)]),
)
class FaceImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = FaceImportSerializer
    required_roles = {"list": "operator", "retrieve": "operator"}
    filterset_fields = ["library", "status"]
    ordering_fields = ["id", "created_at"]

    def get_queryset(self):
        return FaceImport.objects.order_by("-id")
