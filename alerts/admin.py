"""The alerts admin, the operators' console: filters, search, snapshot thumbnails, bulk processing,
a paginator that never counts a huge table, and a dashboard page with charts. Every change goes
through :mod:`alerts.services`."""
from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from . import services
from .api.pagination import bounded_count
from .choices import AlertLevel, AlertStatus, AlertType
from .dashboard import bar_chart, stacked_day_chart
from .models import Alert

LEVEL_COLOURS = {"info": "#3b8eea", "warning": "#d98e04", "critical": "#d1242f"}
STATUS_COLOURS = {"new": "#d98e04", "processed": "#2e7d32", "false_positive": "#607d8b"}


class BoundedCountPaginator(Paginator):
    """Counts at most ``ALERT_LIST_COUNT_LIMIT`` rows, then uses PostgreSQL's estimate."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        filtered = bool(queryset.query.where)
        return bounded_count(queryset, filtered, 0)[0]


class TypeFilter(admin.SimpleListFilter):
    """The common types (the field takes free text; search finds the others)."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request, model_admin):
        return AlertType.choices

    def queryset(self, request, queryset):
        return queryset.filter(type=self.value()) if self.value() else queryset


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("id", "thumbnail", "type", "level_badge", "status_badge", "stream", "task", "detection_time",
                    "processed_by")
    list_display_links = ("id", "thumbnail")
    list_filter = ("level", "status", TypeFilter, "stream")
    date_hierarchy = "detection_time"
    search_fields = ("=id", "type", "notes", "stream__name")
    list_select_related = ("stream", "algorithm", "task", "processed_by")
    list_per_page = 50
    paginator = BoundedCountPaginator
    show_full_result_count = False
    ordering = ("-detection_time", "-id")
    actions = ("mark_processed", "mark_false_positive", "mark_new")
    fields = ("snapshot_preview", "images_preview", "type", "level", "stream", "algorithm", "task", "detection_time",
              "metadata", "status", "notes", "processed_by", "processed_at", "created_at")
    readonly_fields = ("snapshot_preview", "images_preview", "type", "level", "stream", "algorithm", "task",
                       "detection_time", "metadata", "processed_by", "processed_at", "created_at")
    change_list_template = "admin/alerts/alert/change_list.html"

    def has_add_permission(self, request):
        return False  # alerts are raised by monitoring tasks, not typed in

    @admin.display(description="snapshot")
    def thumbnail(self, obj):
        if not obj.snapshot:
            return "-"
        return format_html('<img src="{}" alt="" loading="lazy" style="height:48px;border-radius:3px">',
                           obj.snapshot.url)

    @admin.display(description="snapshot")
    def snapshot_preview(self, obj):
        if not obj.snapshot:
            return "-"
        return format_html('<a href="{0}"><img src="{0}" alt="snapshot" style="max-width:640px"></a>', obj.snapshot.url)

    @admin.display(description="images")
    def images_preview(self, obj):
        from django.core.files.storage import default_storage
        from django.utils.html import format_html_join

        items = [(name, default_storage.url(path)) for name, path in (obj.extra_images or {}).items() if path]
        if not items:
            return "-"
        return format_html_join(" ", '<figure style="display:inline-block"><img src="{1}" alt="{0}" '
                                     'style="max-height:160px"><figcaption>{0}</figcaption></figure>', items)

    @admin.display(description="level", ordering="level")
    def level_badge(self, obj):
        return format_html('<b style="color:{}">{}</b>', LEVEL_COLOURS.get(obj.level, "#333"), obj.get_level_display())

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return format_html('<span style="color:#fff;background:{};padding:1px 7px;border-radius:8px">{}</span>',
                           STATUS_COLOURS.get(obj.status, "#607d8b"), obj.get_status_display())

    # --- changes go through the services ---

    def save_model(self, request, obj, form, change):
        if change and ({"status", "notes"} & set(form.changed_data)):
            services.process_alert(obj, request.user, obj.status, obj.notes)

    def delete_model(self, request, obj):
        services.delete_alert(obj)

    def delete_queryset(self, request, queryset):
        services.delete_alerts(queryset)

    def _batch(self, request, queryset, status: str, label: str):
        result = services.batch_process(list(queryset.values_list("pk", flat=True)), request.user, status)
        self.message_user(request, f"{result['processed_count']} alert(s) marked {label}.", messages.SUCCESS)

    @admin.action(description="Mark selected alerts processed")
    def mark_processed(self, request, queryset):
        self._batch(request, queryset, AlertStatus.PROCESSED, "processed")

    @admin.action(description="Mark selected alerts false positive")
    def mark_false_positive(self, request, queryset):
        self._batch(request, queryset, AlertStatus.FALSE_POSITIVE, "false positive")

    @admin.action(description="Re-open selected alerts")
    def mark_new(self, request, queryset):
        self._batch(request, queryset, AlertStatus.NEW, "new")

    # --- dashboard ---

    def get_urls(self):
        return [path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name="alerts_alert_dashboard"),
                *super().get_urls()]

    def dashboard_view(self, request):
        """Charts of the last ``days`` days (alerts per day by level, by stream, processing rate) and
        the latest alerts, all from grouped queries."""
        try:
            days = max(1, min(int(request.GET.get("days", 30)), 366))
        except ValueError:
            days = 30
        since = timezone.now() - timedelta(days=days)
        queryset = Alert.objects.filter(detection_time__gte=since)
        stats = services.alert_statistics(queryset)
        daily = services.daily_counts_by_level(Alert.objects.all(), days)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Alerts dashboard · last {days} days",
            "opts": self.model._meta,
            "days": days,
            "stats": stats,
            "rate_percent": round((stats["processing_rate"] or 0) * 100, 1),
            "day_chart": stacked_day_chart(daily, list(AlertLevel.values), LEVEL_COLOURS),
            "stream_chart": bar_chart([(row["name"] or "no stream", row["count"]) for row in stats["by_stream"][:10]]),
            "status_chart": bar_chart([("processed", stats["processed"] - stats["false_positive"]),
                                       ("false positive", stats["false_positive"]),
                                       ("new", stats["unprocessed"])],
                                      colours=[STATUS_COLOURS["processed"], STATUS_COLOURS["false_positive"],
                                               STATUS_COLOURS["new"]]),
            "latest": Alert.objects.select_related(*services.RELATED).order_by("-detection_time", "-id")[:10],
            "changelist_url": reverse("admin:alerts_alert_changelist"),
            "level_colours": LEVEL_COLOURS,
        }
        return TemplateResponse(request, "admin/alerts/dashboard.html", context)
