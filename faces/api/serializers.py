"""Serializers for face libraries, faces, uploads, searches and batch imports."""
from __future__ import annotations

import base64
import json

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from faces.models import Face, FaceImport, FaceLibrary


def media_url(request, field) -> str | None:
    if not field:
        return None
    url = field.url
    return request.build_absolute_uri(url) if request is not None else url


@extend_schema_field(OpenApiTypes.OBJECT)
class JSONObjectField(serializers.Field):
    """A JSON object given as an object (JSON bodies) or as a string (multipart forms)."""

    default_error_messages = {"invalid": "Must be a JSON object.", "bad_json": "Not valid JSON: {error}."}

    def to_internal_value(self, data):
        if isinstance(data, str):
            if not data.strip():
                return {}
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                self.fail("bad_json", error=exc.msg)
        if not isinstance(data, dict):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class FaceLibrarySerializer(serializers.ModelSerializer):
    face_count = serializers.SerializerMethodField()

    class Meta:
        model = FaceLibrary
        fields = ["id", "name", "description", "is_watchlist", "face_count", "created_at", "updated_at"]
        read_only_fields = ["id", "face_count", "created_at", "updated_at"]

    def get_face_count(self, library) -> int:
        # Lists annotate the count in their one query; a just-created or updated library counts here.
        annotated = getattr(library, "face_count", None)
        return annotated if annotated is not None else library.faces.count()


class FaceSerializer(serializers.ModelSerializer):
    """A face record as listed: who, which library, the image and crop URLs, quality and model."""

    image_url = serializers.SerializerMethodField()
    crop_url = serializers.SerializerMethodField()
    metadata = JSONObjectField(required=False)

    class Meta:
        model = Face
        fields = ["id", "library", "name", "person_id", "image_url", "crop_url", "quality", "model_name",
                  "model_version", "metadata", "created_at", "updated_at"]
        read_only_fields = ["id", "image_url", "crop_url", "quality", "model_name", "model_version",
                            "created_at", "updated_at"]

    def get_image_url(self, face) -> str | None:
        return media_url(self.context.get("request"), face.image)

    def get_crop_url(self, face) -> str | None:
        return media_url(self.context.get("request"), face.crop)


class FaceDetailSerializer(FaceSerializer):
    """A face with its feature vector: 128 float32 little-endian values, base64."""

    vector = serializers.SerializerMethodField()

    class Meta(FaceSerializer.Meta):
        fields = [*FaceSerializer.Meta.fields, "vector"]
        read_only_fields = [*FaceSerializer.Meta.read_only_fields, "vector"]

    def get_vector(self, face) -> str:
        return base64.b64encode(bytes(face.vector)).decode()


PICK_CHOICES = [("", "only one face allowed"), ("largest", "use the largest face")]


class FaceUploadSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    person_id = serializers.CharField(max_length=100)
    library = serializers.PrimaryKeyRelatedField(queryset=FaceLibrary.objects.all())
    face_image = serializers.FileField(help_text=f"An image with one face (at most "
                                                 f"{settings.MAX_IMAGE_UPLOAD_BYTES} bytes).")
    metadata = JSONObjectField(required=False, default=dict)
    pick = serializers.ChoiceField(choices=PICK_CHOICES, required=False, default="",
                                   help_text="'largest': several faces are allowed and the largest is used.")


class FaceImageSerializer(serializers.Serializer):
    face_image = serializers.FileField()


class FaceSearchSerializer(serializers.Serializer):
    face_image = serializers.FileField(help_text="The largest face in the image is searched.")
    threshold = serializers.FloatField(required=False, min_value=-1.0, max_value=1.0,
                                       help_text=f"Cosine similarity (-1..1); default "
                                                 f"{settings.FACES_MATCH_THRESHOLD} (OpenCV's SFace value).")
    max_results = serializers.IntegerField(required=False, default=10, min_value=1, max_value=100)
    library = serializers.PrimaryKeyRelatedField(queryset=FaceLibrary.objects.all(), required=False,
                                                 allow_null=True, help_text="Search one library (default: all).")


class SearchHitSerializer(serializers.Serializer):
    face_id = serializers.IntegerField()
    name = serializers.CharField()
    person_id = serializers.CharField()
    library_id = serializers.IntegerField()
    similarity = serializers.FloatField()
    face_image_url = serializers.CharField(allow_null=True)
    metadata = serializers.DictField()


class FaceSearchResponseSerializer(serializers.Serializer):
    results = SearchHitSerializer(many=True)
    total = serializers.IntegerField()
    query_time_ms = serializers.FloatField()
    threshold = serializers.FloatField()
    bbox = serializers.ListField(child=serializers.FloatField())


class ExtractResponseSerializer(serializers.Serializer):
    features = serializers.DictField(help_text="{vector: base64 float32 x128, landmarks: [[x, y] x5]}")
    bbox = serializers.ListField(child=serializers.FloatField())
    face_quality = serializers.FloatField()
    faces_found = serializers.IntegerField()
    image_with_landmarks = serializers.CharField(help_text="base64 JPEG")


class BatchImportSerializer(serializers.Serializer):
    library = serializers.PrimaryKeyRelatedField(queryset=FaceLibrary.objects.all())
    face_zip = serializers.FileField(help_text="A zip of images; a folder per person ('alice/1.jpg') or flat.")
    metadata_json = serializers.CharField(required=False, allow_blank=True, default="",
                                          help_text='{"alice/1.jpg": {"name": "Alice", "person_id": "E1", '
                                                    '"metadata": {...}}}; every key optional.')
    pick = serializers.ChoiceField(choices=PICK_CHOICES, required=False, default="")


class FaceImportSerializer(serializers.ModelSerializer):
    total_processed = serializers.IntegerField(source="processed", read_only=True)

    class Meta:
        model = FaceImport
        fields = ["id", "library", "status", "total", "processed", "total_processed", "successful", "failed",
                  "failed_details", "error", "created_by", "created_at", "started_at", "finished_at"]
        read_only_fields = fields
