"""Camera and stream-group workflows: validation of sources, create/update/delete with the media
server's proxy kept in step, status (probe, push to WebSocket subscribers), snapshots, playback URLs,
ZLMediaKit web hooks and the periodic reconcile.

Views, admin actions, tasks and hooks call these functions; none re-implements them. Everything
works without a media server (``ZLM_API_URL`` unset): capture then reads the camera directly.
"""
from __future__ import annotations

import logging
import os
import threading
import urllib.parse
from pathlib import Path

import cv2
from django.conf import settings
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from aimonitor.live import broadcast, stream_group

from .capture import grab_one, redact
from .choices import StreamStatus, StreamType, TaskStatus
from .models import StreamGroup, VideoStream
from .zlm import ZLMClient, ZLMError, get_client

logger = logging.getLogger(__name__)

SCHEMES = {
    StreamType.RTSP: ("rtsp", "rtsps"),
    StreamType.RTMP: ("rtmp", "rtmps"),
    StreamType.HLS: ("http", "https"),
    StreamType.HTTP_FLV: ("http", "https"),
}
PROBE_FIELDS = ("latency_ms", "width", "height", "fps", "codec")
ACTIVE_TASK_STATUSES = (TaskStatus.RUNNING, TaskStatus.STARTING, TaskStatus.WAITING)
MASK = "****"


class StreamError(Exception):
    """A workflow refused: ``code`` is the API error code, ``field`` the input at fault (if any)."""

    def __init__(self, detail: str, code: str = "invalid", field: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.field = field


class StreamInUse(StreamError):
    def __init__(self, detail: str):
        super().__init__(detail, code="stream_in_use")


class StreamUnreachable(StreamError):
    def __init__(self, detail: str):
        super().__init__(detail, code="stream_unreachable")


# --- Sources -------------------------------------------------------------------------------------
def mask_url(url: str) -> str:
    """The URL with its password replaced by ``****`` (what the API returns and logs show)."""
    return redact(url)


def media_roots() -> list[Path]:
    return [Path(root).resolve() for root in settings.STREAM_MEDIA_ROOTS]


def resolve_media_file(raw: str) -> Path:
    """The real path of a ``file`` stream's source, which must be a file under a media root.
    Symlinks and ``..`` are resolved first, so neither can step outside the roots."""
    value = raw[len("file://"):] if raw.startswith("file://") else raw
    if not value or "\x00" in value:
        raise StreamError("A file path is required.", field="url")
    path = Path(value)
    if not path.is_absolute():
        # Relative paths are relative to the first media root (the project's videos folder).
        path = media_roots()[0] / path if media_roots() else path
    real = Path(os.path.realpath(path))
    if not any(real.is_relative_to(root) for root in media_roots()):
        raise StreamError("The file is outside the allowed media folders.", code="path_not_allowed", field="url")
    if not real.is_file():
        raise StreamError("The file does not exist.", code="file_not_found", field="url")
    return real


def validate_source(stream_type: str, url: str) -> str:
    """The URL to store for a stream of ``stream_type``: its scheme must fit the type; a ``file``
    source becomes its resolved path. Raises :class:`StreamError`."""
    url = (url or "").strip()
    if not url:
        raise StreamError("A URL is required.", code="required", field="url")
    if stream_type == StreamType.FILE:
        return str(resolve_media_file(url))
    allowed = SCHEMES.get(stream_type)
    if allowed is None:
        raise StreamError(f"Unknown stream type {stream_type!r}.", field="type")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in allowed:
        raise StreamError(f"A {stream_type} stream needs a {' or '.join(s + '://' for s in allowed)} URL.",
                          code="invalid_scheme", field="url")
    if not parts.hostname:
        raise StreamError("The URL has no host.", code="invalid_url", field="url")
    try:
        parts.port  # noqa: B018 - raises for a malformed port
    except ValueError:
        raise StreamError("The URL has an invalid port.", code="invalid_url", field="url") from None
    return url


def unmask(new_url: str, current_url: str) -> str:
    """A client that sends back the masked URL it was given means "keep the stored one"."""
    if current_url and MASK in (new_url or "") and new_url == mask_url(current_url):
        return current_url
    return new_url


# --- Create / update / delete ----------------------------------------------------------------------
@transaction.atomic
def create_stream(*, groups: list[StreamGroup] | None = None, **fields) -> VideoStream:
    """Creates a camera and, after commit, its media-server proxy."""
    fields["url"] = validate_source(fields.get("type", StreamType.RTSP), fields.get("url", ""))
    stream = VideoStream.objects.create(**fields)
    if not stream.media_stream_id:
        stream.media_stream_id = f"cam{stream.pk}"
        stream.media_app = stream.media_app or settings.ZLM_APP
        VideoStream.objects.filter(pk=stream.pk).update(media_stream_id=stream.media_stream_id,
                                                        media_app=stream.media_app)
    if groups:
        stream.groups.set(groups)
    logger.info("Stream %s created (%s %s)", stream.pk, stream.type, mask_url(stream.url))
    _queue_proxy_sync(stream.pk)
    return stream


@transaction.atomic
def update_stream(stream: VideoStream, *, groups: list[StreamGroup] | None = None, **fields) -> VideoStream:
    """Changes a camera; a new source or a change of ``enabled`` re-syncs the proxy after commit."""
    new_type = fields.get("type", stream.type)
    if "url" in fields or "type" in fields:
        url = unmask(fields.get("url", stream.url), stream.url)
        fields["url"] = validate_source(new_type, url)
    source_changed = fields.get("url", stream.url) != stream.url or new_type != stream.type
    enabled_changed = "enabled" in fields and fields["enabled"] != stream.enabled
    for name, value in fields.items():
        setattr(stream, name, value)
    if source_changed:
        stream.status, stream.last_error = StreamStatus.UNKNOWN, ""
    stream.save()
    if groups is not None:
        stream.groups.set(groups)
    if source_changed or enabled_changed:
        _queue_proxy_sync(stream.pk)
    return stream


def delete_stream(stream: VideoStream) -> None:
    """Deletes a camera and its proxy. Refused (:class:`StreamInUse`) while a monitoring task is
    running, starting or waiting on it, or while tasks still reference it."""
    active = stream.tasks.filter(status__in=ACTIVE_TASK_STATUSES)
    if active.exists():
        names = ", ".join(active.values_list("name", flat=True)[:5])
        raise StreamInUse(f"The stream is used by running monitoring tasks: {names}.")
    key = stream.media_proxy_key
    try:
        with transaction.atomic():
            stream.delete()
    except ProtectedError:
        raise StreamInUse("The stream still has monitoring tasks; delete them first.") from None
    if key:
        from . import tasks

        transaction.on_commit(lambda: tasks.delete_stream_proxy.delay(key), robust=True)


def _queue_proxy_sync(stream_id: int) -> None:
    if not settings.ZLM_API_URL:
        return
    from . import tasks

    transaction.on_commit(lambda: tasks.sync_stream_proxy.delay(stream_id), robust=True)


# --- Stream groups ----------------------------------------------------------------------------------
def validate_group_parent(group: StreamGroup | None, parent: StreamGroup | None) -> None:
    """A group cannot be its own ancestor."""
    node = parent
    while node is not None and group is not None and group.pk:
        if node.pk == group.pk:
            raise StreamError("A group cannot be placed under itself or its descendants.",
                              code="invalid_parent", field="parent")
        node = node.parent


@transaction.atomic
def add_streams_to_group(group: StreamGroup, stream_ids: list[int]) -> int:
    """Adds the streams to the group; all ids must exist. Returns how many were added."""
    streams = list(VideoStream.objects.filter(id__in=set(stream_ids)))
    missing = sorted(set(stream_ids) - {s.id for s in streams})
    if missing:
        raise StreamError(f"Unknown stream ids: {missing}.", code="unknown_streams", field="stream_ids")
    before = group.streams.count()
    group.streams.add(*streams)
    return group.streams.count() - before


@transaction.atomic
def remove_streams_from_group(group: StreamGroup, stream_ids: list[int]) -> int:
    before = group.streams.count()
    group.streams.remove(*VideoStream.objects.filter(id__in=set(stream_ids)))
    return before - group.streams.count()


# --- Status -------------------------------------------------------------------------------------
def set_stream_status(stream_id: int, status: str, error: str = "", **probe) -> bool:
    """Records a stream's status (and any probed facts). The status changes with one conditional
    update, so two writers cannot both announce the same transition; subscribers of the stream get a
    ``stream.status`` push after commit, only when the status changed. Returns whether it changed."""
    now = timezone.now()
    facts = {k: v for k, v in probe.items() if k in PROBE_FIELDS and v is not None}
    error = redact(error or "")[:2000]
    changed = VideoStream.objects.filter(id=stream_id).exclude(status=status).update(
        status=status, last_error=error, last_checked=now, **facts) == 1
    if not changed:
        VideoStream.objects.filter(id=stream_id).update(last_error=error, last_checked=now, **facts)
        return False
    payload = {"type": "stream.status", "stream_id": stream_id, "status": status, "error": error,
               "last_checked": now.isoformat(), **facts}
    transaction.on_commit(lambda: broadcast(stream_group(stream_id), payload), robust=True)
    return True


def status_callback(stream_id: int):
    """``on_status`` for a :class:`~streams.capture.FrameReader` reading this stream."""
    return lambda status, reason: set_stream_status(stream_id, status, reason)


def capture_url(stream: VideoStream) -> str:
    """What a worker should read: ZLM's RTSP re-stream when a media server is configured and holds
    the proxy, else the camera itself (a path for ``file`` streams)."""
    if settings.ZLM_API_URL and stream.media_proxy_key and stream.media_stream_id:
        return (f"rtsp://{settings.ZLM_RTSP_HOST}:{settings.ZLM_RTSP_PORT}/"
                f"{stream.media_app}/{stream.media_stream_id}")
    return stream.url


def _bounded(func, timeout: float):
    """Runs ``func`` in a helper thread and gives up after ``timeout`` seconds, so a request never
    hangs on a camera whose FFmpeg timeout does not fire (the helper ends when FFmpeg returns)."""
    result: dict = {}

    def target():
        try:
            result["value"] = func()
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            result["error"] = exc

    thread = threading.Thread(target=target, name="stream-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout:g}s")
    if "error" in result:
        raise result["error"]
    return result["value"]


def probe_stream(stream: VideoStream) -> dict:
    """Opens the source now (bounded by ``STREAM_PROBE_TIMEOUT``), records the outcome and returns
    ``{id, status, error, latency_ms, last_checked, width, height, fps, codec}``. A camera that does
    not answer is ``offline`` with the reason; a missing file is ``error``."""
    timeout = settings.STREAM_PROBE_TIMEOUT
    facts: dict = {}
    try:
        if stream.type == StreamType.FILE:
            resolve_media_file(stream.url)
        _frame, facts = _bounded(lambda: grab_one(stream.url, timeout=timeout), timeout + 2)
        status, error = StreamStatus.ONLINE, ""
    except StreamError as exc:
        status, error = StreamStatus.ERROR, exc.detail
    except (ConnectionError, TimeoutError, cv2.error) as exc:
        status, error = StreamStatus.OFFLINE, str(exc)
    set_stream_status(stream.pk, status, error, **facts)
    stream.refresh_from_db()
    return {"id": stream.pk, "status": stream.status, "error": stream.last_error, "latency_ms": stream.latency_ms,
            "last_checked": stream.last_checked, "width": stream.width, "height": stream.height,
            "fps": stream.fps, "codec": stream.codec}


def snapshot_jpeg(stream: VideoStream) -> bytes:
    """A current JPEG: through ZLM's ``getSnap`` when the media server holds the stream, else (or
    when ZLM cannot give one) a direct grab. Raises :class:`StreamUnreachable`."""
    timeout = settings.STREAM_PROBE_TIMEOUT
    client = get_client()
    if client is not None and stream.media_proxy_key:
        try:
            return client.get_snap(_zlm_rtsp_url(stream), timeout_sec=max(1, int(timeout)))
        except ZLMError as exc:
            logger.info("ZLM snapshot of stream %s failed (%s); grabbing directly", stream.pk, exc.msg)
    try:
        if stream.type == StreamType.FILE:
            resolve_media_file(stream.url)
        frame, _facts = _bounded(lambda: grab_one(stream.url, timeout=timeout), timeout + 2)
    except (StreamError, ConnectionError, TimeoutError, cv2.error) as exc:
        detail = exc.detail if isinstance(exc, StreamError) else str(exc)
        raise StreamUnreachable(f"No snapshot: {detail}") from None
    ok, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise StreamUnreachable("No snapshot: the frame could not be encoded.")
    return buffer.tobytes()


def play_urls(stream: VideoStream) -> dict:
    """RTSP/RTMP/HTTP-FLV/HLS/WebRTC URLs from the media server; empty without one."""
    if not settings.ZLM_API_URL or not stream.media_stream_id:
        return {}
    return ZLMClient.play_urls(stream.media_app, stream.media_stream_id, host=settings.ZLM_PUBLIC_HOST,
                               http_port=settings.ZLM_HTTP_PORT, rtsp_port=settings.ZLM_RTSP_PORT,
                               rtmp_port=settings.ZLM_RTMP_PORT)


# --- ZLMediaKit proxies ---------------------------------------------------------------------------
def _zlm_rtsp_url(stream: VideoStream) -> str:
    return f"rtsp://{settings.ZLM_RTSP_HOST}:{settings.ZLM_RTSP_PORT}/{stream.media_app}/{stream.media_stream_id}"


def _proxy_source(stream: VideoStream) -> str:
    # ZLM pulls files as well, through its FFmpeg source; it needs a path it can open.
    return stream.url


def ensure_proxy(stream: VideoStream, client: ZLMClient | None = None) -> str | None:
    """Adds (or replaces) the stream's proxy in ZLM and stores its key. Returns the key, or None when
    no media server is configured. A pull that fails marks the stream offline with ZLM's reason."""
    client = client or get_client()
    if client is None:
        return None
    try:
        key = client.add_stream_proxy(
            stream.media_app, stream.media_stream_id, _proxy_source(stream),
            retry_count=settings.ZLM_PROXY_RETRY_COUNT, timeout_sec=settings.ZLM_PROXY_TIMEOUT_SEC,
            rtp_type=0, enable_rtsp=True, enable_rtmp=True, enable_hls=True, enable_mp4=False,
            add_mute_audio=False)
    except ZLMError as exc:
        VideoStream.objects.filter(pk=stream.pk).update(media_proxy_key="")
        set_stream_status(stream.pk, StreamStatus.OFFLINE, f"media server: {exc.msg}")
        raise
    VideoStream.objects.filter(pk=stream.pk).update(media_proxy_key=key)
    stream.media_proxy_key = key
    return key


def remove_proxy(stream: VideoStream, client: ZLMClient | None = None) -> bool:
    client = client or get_client()
    if client is None or not stream.media_proxy_key:
        return False
    removed = client.del_stream_proxy(stream.media_proxy_key)
    VideoStream.objects.filter(pk=stream.pk).update(media_proxy_key="")
    stream.media_proxy_key = ""
    return removed


def sync_proxy(stream_id: int) -> str | None:
    """Brings ZLM in line with the row: a proxy for an enabled stream, none for a disabled one."""
    stream = VideoStream.objects.filter(pk=stream_id).first()
    client = get_client()
    if stream is None or client is None:
        return None
    if stream.enabled:
        return ensure_proxy(stream, client)
    remove_proxy(stream, client)
    return None


def reconcile() -> dict:
    """Re-adds proxies ZLM lost (after a ZLM restart, say) and marks streams online/offline from its
    media list. Without a media server it does nothing. Returns counts for the log."""
    client = get_client()
    summary = {"online": 0, "offline": 0, "readded": 0, "removed": 0, "failed": 0}
    if client is None:
        return summary
    media = client.get_media_list(schema=settings.ZLM_HOOK_SCHEMA)
    live = {(item.get("app"), item.get("stream")) for item in media}
    proxies = {item.get("key") for item in client.list_stream_proxy()}
    for stream in VideoStream.objects.all().iterator():
        key = client.proxy_key(stream.media_app, stream.media_stream_id)
        if not stream.enabled:
            if stream.media_proxy_key or key in proxies:
                stream.media_proxy_key = stream.media_proxy_key or key
                remove_proxy(stream, client)
                summary["removed"] += 1
            continue
        if (stream.media_app, stream.media_stream_id) in live:
            if stream.media_proxy_key != key:
                VideoStream.objects.filter(pk=stream.pk).update(media_proxy_key=key)
            set_stream_status(stream.pk, StreamStatus.ONLINE)
            summary["online"] += 1
            continue
        try:
            ensure_proxy(stream, client)
        except ZLMError:
            summary["failed"] += 1
            summary["offline"] += 1
            continue
        summary["readded"] += 1
        # The proxy is back; ZLM reports the stream online through on_stream_changed once it plays.
        online = client.is_media_online(stream.media_app, stream.media_stream_id, settings.ZLM_HOOK_SCHEMA)
        set_stream_status(stream.pk, StreamStatus.ONLINE if online else StreamStatus.OFFLINE,
                          "" if online else "waiting for the media server to pull the source")
        summary["online" if online else "offline"] += 1
    return summary


# --- Web hooks ------------------------------------------------------------------------------------
def _stream_for(body: dict) -> VideoStream | None:
    app, name = body.get("app"), body.get("stream")
    if not app or not name:
        return None
    return VideoStream.objects.filter(media_app=app, media_stream_id=name).first()


def stream_read_by_task(stream: VideoStream) -> bool:
    return stream.tasks.filter(status__in=(TaskStatus.RUNNING, TaskStatus.STARTING)).exists()


def handle_hook(hook: str, body: dict) -> dict:
    """Answers one ZLM web hook (the reply ZLM expects); unknown streams are refused or ignored."""
    stream = _stream_for(body)
    if hook == "on_stream_changed":
        if stream is not None and body.get("schema") == settings.ZLM_HOOK_SCHEMA:
            if body.get("regist"):
                video = next((t for t in body.get("tracks") or [] if t.get("codec_type") == 0), {})
                facts = {"width": video.get("width") or None, "height": video.get("height") or None,
                         "fps": video.get("fps") or None, "codec": (video.get("codec_id_name") or "").lower()}
                set_stream_status(stream.pk, StreamStatus.ONLINE, **facts)
            else:
                set_stream_status(stream.pk, StreamStatus.OFFLINE, "the media server lost the stream")
        return {"code": 0, "msg": "success"}
    if hook == "on_stream_none_reader":
        # ZLM tears the stream down unless told otherwise; a monitoring task is a reader ZLM cannot
        # always see (it may be between reconnects), so keep the stream while one runs.
        keep = stream is not None and stream.enabled and stream_read_by_task(stream)
        return {"code": 0, "close": not keep}
    if hook == "on_stream_not_found":
        if stream is None or not stream.enabled:
            return {"code": 0, "close": True}
        try:
            ensure_proxy(stream)
        except ZLMError as exc:
            logger.warning("Re-adding the proxy of stream %s on demand failed: %s", stream.pk, exc.msg)
            return {"code": 0, "close": True}
        return {"code": 0, "close": False}
    if hook == "on_publish":
        # Cameras are pulled; a push is allowed only onto a stream the platform knows and enables.
        if stream is None or not stream.enabled:
            return {"code": -1, "msg": "unknown stream"}
        return {"code": 0, "msg": "success", "enable_hls": True, "enable_mp4": False}
    if hook == "on_play":
        return {"code": 0, "msg": "success"}
    if hook == "on_server_started":
        from . import tasks

        transaction.on_commit(lambda: tasks.reconcile_streams.delay(), robust=True)
        return {"code": 0, "msg": "success"}
    if hook == "on_server_keepalive":
        from django.core.cache import cache

        cache.set("streams:zlm:keepalive", {"at": timezone.now().isoformat(), "data": body.get("data") or {}},
                  timeout=3600)
        return {"code": 0, "msg": "success"}
    if hook == "on_record_mp4":
        logger.info("ZLM recorded %s (%.1fs) for %s/%s", body.get("file_path"), float(body.get("time_len") or 0),
                    body.get("app"), body.get("stream"))
        return {"code": 0, "msg": "success"}
    raise KeyError(hook)


HOOKS = ("on_stream_changed", "on_stream_none_reader", "on_stream_not_found", "on_publish", "on_play",
         "on_server_started", "on_server_keepalive", "on_record_mp4")
