"""Staff UI for algorithms: status, kind, format and device at a glance; start / stop actions; a test
page that runs the model on an uploaded picture; export jobs and inference statistics read-only."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from . import services
from .models import Algorithm, ExportJob, InferenceStat


class TestImageForm(forms.Form):
    test_image = forms.FileField(help_text="A JPEG/PNG picture to run the algorithm on.")


@admin.register(Algorithm)
class AlgorithmAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "kind", "status", "format", "device", "is_active", "updated_at")
    list_filter = ("kind", "status", "format", "framework", "is_active")
    search_fields = ("name", "description", "version")
    readonly_fields = ("weights", "weights_sha256", "weights_size", "format", "class_names", "status", "error",
                       "created_at", "updated_at")
    actions = ["start_selected", "stop_selected", "test_on_image"]

    @admin.display(description="device")
    def device(self, obj) -> str:
        return str((obj.config or {}).get("device", "auto"))

    @admin.action(description="Start (load on the inference workers)")
    def start_selected(self, request, queryset):
        started = 0
        for algorithm in queryset:
            try:
                services.start_algorithm(algorithm)
                started += 1
            except services.AlgorithmError as exc:
                self.message_user(request, f"{algorithm}: {exc.detail}", messages.ERROR)
        if started:
            self.message_user(request, f"Started {started} algorithm(s); they show running once loaded.")

    @admin.action(description="Stop (unload from the workers)")
    def stop_selected(self, request, queryset):
        for algorithm in queryset:
            services.stop_algorithm(algorithm)
        self.message_user(request, f"Stopped {queryset.count()} algorithm(s).")

    @admin.action(description="Test on an uploaded image")
    def test_on_image(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one algorithm to test.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:algorithms_algorithm_test", args=[queryset.first().pk]))

    def get_urls(self):
        return [path("<int:pk>/test/", self.admin_site.admin_view(self.test_view),
                     name="algorithms_algorithm_test"), *super().get_urls()]

    def test_view(self, request, pk: int):
        algorithm = get_object_or_404(Algorithm, pk=pk)
        if not self.has_change_permission(request, algorithm):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        result = error = None
        form = TestImageForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = services.test_algorithm(algorithm, form.cleaned_data["test_image"].read(), return_image=True)
            except services.AlgorithmError as exc:
                error = exc.detail
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "original": algorithm,
                   "title": f"Test {algorithm}", "form": form, "result": result, "error": error}
        return TemplateResponse(request, "admin/algorithms/algorithm/test.html", context)

    def delete_model(self, request, obj):
        services.delete_algorithm(obj)


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ("id", "algorithm", "format", "status", "progress", "batch", "imgsz", "created_at")
    list_filter = ("status", "format")
    readonly_fields = [f.name for f in ExportJob._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(InferenceStat)
class InferenceStatAdmin(admin.ModelAdmin):
    list_display = ("algorithm", "day", "calls", "frames", "errors", "total_ms", "min_ms", "max_ms")
    list_filter = ("day",)
    readonly_fields = [f.name for f in InferenceStat._meta.fields]

    def has_add_permission(self, request):
        return False
