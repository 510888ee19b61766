"""Staff UI for the face library: libraries, persons' faces with thumbnails, re-extraction, and a
"search by photo" page. Every change goes through ``faces.services`` so the index follows."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from . import services
from .engine import EngineUnavailable
from .models import Face, FaceImport, FaceLibrary


@admin.register(FaceLibrary)
class FaceLibraryAdmin(admin.ModelAdmin):
    list_display = ["name", "is_watchlist", "face_count", "created_at"]
    list_filter = ["is_watchlist"]
    search_fields = ["name", "description"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(face_count=Count("faces"))

    @admin.display(ordering="face_count", description="faces")
    def face_count(self, obj) -> int:
        return obj.face_count

    def delete_model(self, request, obj):
        services.delete_library(obj)

    def delete_queryset(self, request, queryset):
        for library in queryset:
            services.delete_library(library)


class FaceAddForm(forms.ModelForm):
    """Adding a face runs detection and extraction; a refused image is a form error."""

    pick_largest = forms.BooleanField(required=False, help_text="Allow several faces and use the largest.")

    class Meta:
        model = Face
        fields = ["library", "name", "person_id", "image", "metadata"]

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("image")
        if upload and not self.errors:
            data = upload.read()
            upload.seek(0)
            try:
                services.check_upload_size(len(data))
                image, _ = services.decode_image(data)
                services.extract_face(image, pick_largest=cleaned.get("pick_largest", False))
            except services.FaceRejected as exc:
                self.add_error("image", exc.detail)
            except EngineUnavailable as exc:
                self.add_error(None, str(exc))
            cleaned["image_bytes"] = data
        return cleaned


class SearchByPhotoForm(forms.Form):
    face_image = forms.FileField()
    library = forms.ModelChoiceField(FaceLibrary.objects.all(), required=False, empty_label="all libraries")
    threshold = forms.FloatField(min_value=-1, max_value=1, initial=services.default_threshold)
    max_results = forms.IntegerField(min_value=1, max_value=100, initial=10)


@admin.register(Face)
class FaceAdmin(admin.ModelAdmin):
    list_display = ["thumbnail", "name", "person_id", "library", "quality", "model_version", "created_at"]
    list_display_links = ["thumbnail", "name"]
    list_filter = ["library", "model_version"]
    search_fields = ["name", "person_id"]
    list_select_related = ["library"]
    readonly_fields = ["thumbnail", "image", "quality", "model_name", "model_version", "created_at", "updated_at"]
    actions = ["reextract_features"]
    change_list_template = "admin/faces/face/change_list.html"

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = FaceAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return ["thumbnail"] if obj is None else self.readonly_fields

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["library", "name", "person_id", "image", "pick_largest", "metadata"]
        return ["thumbnail", "library", "name", "person_id", "metadata", "image", "quality", "model_name",
                "model_version", "created_at", "updated_at"]

    @admin.display(description="face")
    def thumbnail(self, obj) -> str:
        if not obj or not obj.crop:
            return "-"
        return format_html('<img src="{}" width="56" height="56" style="border-radius:4px" alt="">', obj.crop.url)

    def save_model(self, request, obj, form, change):
        if change:
            services.update_face(obj)
            return
        data = form.cleaned_data
        face = services.enroll(library=data["library"], name=data["name"], person_id=data["person_id"],
                               image_bytes=data["image_bytes"], metadata=data.get("metadata") or {},
                               pick_largest=data.get("pick_largest", False))
        obj.__dict__.update({k: v for k, v in face.__dict__.items() if not k.startswith("_")})
        obj.image, obj.crop = face.image, face.crop

    def delete_model(self, request, obj):
        services.delete_faces([obj])

    def delete_queryset(self, request, queryset):
        services.delete_faces(queryset)

    @admin.action(description="Re-extract features with the current face model")
    def reextract_features(self, request, queryset):
        report = services.reextract(queryset)
        self.message_user(request, f"Re-extracted {report.updated} of {report.total} face(s).", messages.SUCCESS)
        for failure in report.failed[:10]:
            self.message_user(request, f"Face {failure['face_id']}: {failure['reason']}", messages.WARNING)

    def get_urls(self):
        return [path("search/", self.admin_site.admin_view(self.search_view), name="faces_face_search"),
                *super().get_urls()]

    def search_view(self, request):
        """Search by photo: the enrolled faces most similar to the largest face in an uploaded image."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = SearchByPhotoForm(request.POST or None, request.FILES or None)
        result, error = None, None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                found = services.search(data["face_image"].read(),
                                        libraries=[data["library"].pk] if data["library"] else None,
                                        threshold=data["threshold"], max_results=data["max_results"])
            except services.FaceRejected as exc:
                error = exc.detail
            except EngineUnavailable as exc:
                error = str(exc)
            else:
                faces = Face.objects.in_bulk([r["face_id"] for r in found.results])
                result = {"rows": [{**r, "face": faces[r["face_id"]],
                                    "url": reverse("admin:faces_face_change", args=[r["face_id"]])}
                                   for r in found.results if r["face_id"] in faces],
                          "query_time_ms": found.query_time_ms}
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "result": result, "error": error, "title": "Search faces by photo"}
        return TemplateResponse(request, "admin/faces/face/search.html", context)


@admin.register(FaceImport)
class FaceImportAdmin(admin.ModelAdmin):
    list_display = ["id", "library", "status", "processed", "total", "successful", "failed", "created_by",
                    "created_at"]
    list_filter = ["status", "library"]
    readonly_fields = [f.name for f in FaceImport._meta.fields]

    def has_add_permission(self, request):
        return False
