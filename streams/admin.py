"""Staff UI for the streams app. Cameras and groups are below; monitoring tasks register their admin
in ``admin_tasks.py``. Admin actions call streams.services."""
from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import Case, Count, IntegerField, Value, When
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from . import services
from .models import StreamGroup, VideoStream

# --- Cameras and groups (streams engineer) -------------------------------------------------------
STATUS_COLOURS = {"online": "#2e7d32", "offline": "#9e9e9e", "error": "#c62828", "unknown": "#607d8b"}


class VideoStreamAdminForm(admin.ModelAdmin.form):
    """Checks the source like the API does (scheme fits the type; files only under media roots)."""

    def clean(self):
        data = super().clean()
        if data.get("url") and data.get("type"):
            try:
                data["url"] = services.validate_source(data["type"], data["url"])
            except services.StreamError as exc:
                self.add_error(exc.field if exc.field in ("url", "type") else None, exc.detail)
        return data


@admin.register(VideoStream)
class VideoStreamAdmin(admin.ModelAdmin):
    form = VideoStreamAdminForm
    list_display = ("name", "type", "status_badge", "masked_url", "location", "enabled", "last_checked",
                    "latency_ms")
    list_filter = ("status", "type", "enabled", "groups")
    search_fields = ("name", "location")
    filter_horizontal = ("groups",)
    readonly_fields = ("status", "last_error", "last_checked", "latency_ms", "width", "height", "fps", "codec",
                       "media_proxy_key", "thumbnail", "created_at", "updated_at")
    actions = ("probe_selected", "sync_proxies")

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return format_html('<span style="color:#fff;background:{};padding:2px 8px;border-radius:8px">{}</span>',
                           STATUS_COLOURS.get(obj.status, "#607d8b"), obj.get_status_display())

    @admin.display(description="URL")
    def masked_url(self, obj):
        return services.mask_url(obj.url)

    @admin.display(description="snapshot")
    def thumbnail(self, obj):
        if not obj.pk:
            return "-"
        url = reverse("admin:streams_videostream_snapshot", args=[obj.pk])
        return format_html('<img src="{}" style="max-width:320px" alt="snapshot (loads from the camera)">', url)

    def get_urls(self):
        extra = [path("<int:pk>/snapshot.jpg", self.admin_site.admin_view(self.snapshot_view),
                      name="streams_videostream_snapshot")]
        return extra + super().get_urls()

    def snapshot_view(self, request, pk: int):
        stream = get_object_or_404(VideoStream, pk=pk)
        if not self.has_view_permission(request, stream):
            return HttpResponse(status=403)
        try:
            return HttpResponse(services.snapshot_jpeg(stream), content_type="image/jpeg")
        except services.StreamUnreachable as exc:
            return HttpResponse(exc.detail, status=503, content_type="text/plain")

    def save_model(self, request, obj, form, change):
        # The same workflows as the API, so the media-server proxy follows admin edits too.
        fields = {f: form.cleaned_data[f] for f in form.cleaned_data if f != "groups"}
        if change:
            # The form already copied its values onto obj: compare against the stored row instead.
            current = VideoStream.objects.get(pk=obj.pk)
            services.update_stream(current, **{k: v for k, v in fields.items() if k in form.changed_data})
        else:
            form.instance = services.create_stream(**fields)
            obj.pk = form.instance.pk

    def delete_model(self, request, obj):
        try:
            services.delete_stream(obj)
        except services.StreamInUse as exc:
            self.message_user(request, exc.detail, messages.ERROR)

    def delete_queryset(self, request, queryset):
        for stream in queryset:
            self.delete_model(request, stream)

    @admin.action(description="Probe selected streams now")
    def probe_selected(self, request, queryset):
        results = [services.probe_stream(stream) for stream in queryset]
        online = sum(1 for r in results if r["status"] == "online")
        self.message_user(request, f"Probed {len(results)} stream(s): {online} online.")

    @admin.action(description="Re-sync media-server proxies")
    def sync_proxies(self, request, queryset):
        from .zlm import ZLMError

        done = 0
        for stream in queryset:
            try:
                services.sync_proxy(stream.pk)
                done += 1
            except ZLMError as exc:
                self.message_user(request, f"{stream}: {exc.msg}", messages.WARNING)
        self.message_user(request, f"Synced {done} stream(s).")


@admin.register(StreamGroup)
class StreamGroupAdmin(admin.ModelAdmin):
    """Groups shown as a tree: each row indented under its parent, in tree order."""

    list_display = ("tree_name", "kind", "stream_count", "address", "contact_name")
    list_filter = ("kind",)
    search_fields = ("name", "address")
    filter_horizontal = ("members",)

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("parent").annotate(stream_total=Count("streams"))
        # Tree order (parents before their children) for the change list.
        self._tree = _tree_positions()
        whens = [When(pk=gid, then=Value(pos)) for gid, (_depth, pos) in self._tree.items()]
        position = Case(*whens, default=Value(len(self._tree)), output_field=IntegerField()) if whens else Value(0)
        return queryset.annotate(tree_position=position)

    def get_changelist(self, request, **kwargs):
        return TreeChangeList

    @admin.display(description="name")
    def tree_name(self, obj):
        depth, _order = getattr(self, "_tree", {}).get(obj.pk, (0, 0))
        return format_html('<span style="padding-left:{}em">{}{}</span>', depth * 1.5, "└ " if depth else "", obj.name)

    @admin.display(description="streams", ordering="stream_total")
    def stream_count(self, obj):
        return obj.stream_total


class TreeChangeList(ChangeList):
    """Orders by the tree position annotated in StreamGroupAdmin.get_queryset (get_ordering is also used
    by other admins' filters, which lack the annotation, so the order is set here)."""

    def get_ordering(self, request, queryset):
        return ["tree_position", "id"]


def _tree_positions() -> dict[int, tuple[int, int]]:
    """id -> (depth, position in a depth-first walk)."""
    rows = list(StreamGroup.objects.values_list("id", "parent_id", "name"))
    children: dict[int | None, list[tuple[int, str]]] = {}
    for gid, parent, name in rows:
        children.setdefault(parent, []).append((gid, name))
    result: dict[int, tuple[int, int]] = {}
    stack = [(gid, 0) for gid, _ in sorted(children.get(None, []), key=lambda c: c[1], reverse=True)]
    while stack:
        gid, depth = stack.pop()
        if gid in result:
            continue
        result[gid] = (depth, len(result))
        stack.extend((cid, depth + 1) for cid, _ in sorted(children.get(gid, []), key=lambda c: c[1], reverse=True))
    return result
# --- end cameras and groups ------------------------------------------------------------------------

from . import admin_tasks  # noqa: E402, F401 - monitoring tasks (monitoring engineer)
