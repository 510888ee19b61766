"""Admin for monitoring tasks: live status columns, start/stop actions (through the services), rule
validation, and the region of interest drawn over the task's latest snapshot."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from .models import MonitorTask
from .rules import ConfigError, normalise_config
from .schedule import ScheduleError, normalise_schedule
from .tasks_services import start_task, status_payload, stop_task


class MonitorTaskForm(forms.ModelForm):
    """Validates and normalises the rules and the schedule window as the API does."""

    class Meta:
        model = MonitorTask
        fields = ["name", "stream", "algorithm", "config", "schedule_type", "schedule_config"]

    def clean(self):
        data = super().clean()
        algorithm = data.get("algorithm")
        try:
            data["config"] = normalise_config(data.get("config") or {},
                                              class_names=list(algorithm.class_names or []) if algorithm else None,
                                              kind=algorithm.kind if algorithm else None)
        except ConfigError as exc:
            self.add_error("config", "; ".join(f"{k}: {m}" for k, v in exc.errors.items() for m in v))
        if data.get("schedule_type") == "scheduled":
            try:
                data["schedule_config"] = normalise_schedule(data.get("schedule_config") or {})
            except ScheduleError as exc:
                self.add_error("schedule_config", str(exc))
        return data


@admin.register(MonitorTask)
class MonitorTaskAdmin(admin.ModelAdmin):
    form = MonitorTaskForm
    list_display = ["name", "stream", "algorithm", "status", "current_fps", "inference_ms", "frames_processed",
                    "last_heartbeat", "worker"]
    list_filter = ["status", "schedule_type", "algorithm"]
    search_fields = ["name", "stream__name"]
    list_select_related = ["stream", "algorithm"]
    actions = ["start_tasks", "stop_tasks"]
    readonly_fields = ["status", "desired_running", "error", "worker", "started_at", "stopped_at", "last_heartbeat",
                       "current_fps", "inference_ms", "frames_processed", "last_frame_time", "live_status",
                       "region_preview", "created_by", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "stream", "algorithm", "config", "schedule_type", "schedule_config"]}),
        ("Region of interest", {"fields": ["region_preview"]}),
        ("Live", {"fields": ["status", "desired_running", "error", "worker", "started_at", "stopped_at",
                             "last_heartbeat", "current_fps", "inference_ms", "frames_processed", "last_frame_time",
                             "live_status"]}),
        ("Record", {"fields": ["created_by", "created_at", "updated_at"]}),
    ]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            obj.save()
            return
        # Only the edited columns: the running loop owns the claim and the live counters.
        obj.save(update_fields=[*form.changed_data, "updated_at"])

    def delete_model(self, request, obj):
        stop_task(obj)
        obj.delete()

    def delete_queryset(self, request, queryset):
        for task in queryset:
            self.delete_model(request, task)

    @admin.action(description="Start the selected tasks")
    def start_tasks(self, request, queryset):
        started = sum(1 for task in queryset if task.stream.enabled and start_task(task)[1])
        self.message_user(request, f"Started {started} task(s).", messages.SUCCESS)

    @admin.action(description="Stop the selected tasks")
    def stop_tasks(self, request, queryset):
        stopped = sum(1 for task in queryset if stop_task(task)[1])
        self.message_user(request, f"Stopped {stopped} task(s).", messages.SUCCESS)

    @admin.display(description="Live status")
    def live_status(self, obj):
        status = status_payload(obj)
        objects = ", ".join(f"{o['class']} x{o['count']}" for o in status["detected_objects"]) or "none"
        return format_html("uptime {} s, cpu {}%, memory {} MiB, objects: {}", status["uptime_seconds"],
                           status["cpu_usage"], status["memory_usage"], objects)

    @admin.display(description="Region of interest")
    def region_preview(self, obj):
        """The zones drawn (SVG, normalised coordinates) over the latest snapshot of the task."""
        if obj.pk is None:
            return "-"
        zones = (obj.config or {}).get("region_of_interest") or []
        alert = obj.alerts.exclude(snapshot="").order_by("-detection_time").first()
        background = format_html('<image href="{}" x="0" y="0" width="1" height="1" preserveAspectRatio="none"/>',
                                 alert.snapshot.url) if alert else mark_safe(
            '<rect x="0" y="0" width="1" height="1" fill="#333"/>')  # noqa: S308 - a constant
        polygons = format_html_join(
            "", '<polygon points="{}" fill="rgba(255,200,0,0.25)" stroke="#ffc800" stroke-width="0.004"/>'
                '<text x="{}" y="{}" font-size="0.04" fill="#ffc800">{}</text>',
            ((" ".join(f"{x},{y}" for x, y in z["polygon"]), z["polygon"][0][0], z["polygon"][0][1], z["name"])
             for z in zones))
        caption = "whole frame" if not zones else f"{len(zones)} zone(s)"
        return format_html('<svg viewBox="0 0 1 1" width="480" height="270" preserveAspectRatio="none">{}{}</svg>'
                           "<div>{}</div>", background, polygons, caption)
