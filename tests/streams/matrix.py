"""Permission matrix entries for cameras, stream groups and ZLM hooks."""
from tests.matrix import READ, Endpoint, admin_write, expect


def _stream(ctx):
    from streams.models import VideoStream

    ctx.fixture("settings").ZLM_API_URL = ""
    return {"pk": VideoStream.objects.create(name="cam", url="rtsp://10.0.0.1/live", media_stream_id="m").pk}


def _no_zlm(ctx):
    ctx.fixture("settings").ZLM_API_URL = ""
    return {}


def _file_stream(ctx):
    """A looped-file camera on a real (tiny) H.264 clip under an allowed media root."""
    from streams.models import VideoStream
    from tests.media import astronaut_image, make_clip

    root = ctx.fixture("tmp_path") / "videos"
    root.mkdir(exist_ok=True)
    settings = ctx.fixture("settings")
    settings.STREAM_MEDIA_ROOTS, settings.ZLM_API_URL = [root], ""
    clip = make_clip(root / "tiny.mp4", [astronaut_image()], fps=5, seconds_per_frame=1.0, size=(160, 120))
    return {"pk": VideoStream.objects.create(name="f", type="file", url=str(clip)).pk}


def _group(ctx):
    from streams.models import StreamGroup

    return {"pk": StreamGroup.objects.create(name="G").pk}


def _group_with_stream(ctx):
    from streams.models import StreamGroup, VideoStream

    group = StreamGroup.objects.create(name="G")
    VideoStream.objects.create(name="cam", url="rtsp://10.0.0.1/live")
    return {"pk": group.pk}


def _stream_ids(ctx):
    from streams.models import VideoStream

    return {"stream_ids": list(VideoStream.objects.values_list("id", flat=True))}


def _hook(ctx):
    ctx.fixture("settings").ZLM_HOOK_SECRET = "matrix-secret"
    return {"hook": "on_play"}


NEW_STREAM = {"name": "Gate", "type": "rtsp", "url": "rtsp://10.0.0.9/live"}
HOOK_BODY = {"mediaServerId": "x", "hook_index": 1, "schema": "rtsp", "vhost": "__defaultVhost__", "app": "live",
             "stream": "cam1", "params": "", "ip": "127.0.0.1", "port": 5000, "id": "p"}

ENDPOINTS = [
    Endpoint("GET", "streams:stream-list", READ),
    Endpoint("POST", "streams:stream-list", admin_write(201), data=NEW_STREAM, kwargs=_no_zlm),
    Endpoint("GET", "streams:stream-detail", READ, kwargs=_stream),
    Endpoint("PUT", "streams:stream-detail", admin_write(200), kwargs=_stream, data=NEW_STREAM),
    Endpoint("PATCH", "streams:stream-detail", admin_write(200), kwargs=_stream, data={"location": "Yard"}),
    Endpoint("DELETE", "streams:stream-detail", admin_write(204), kwargs=_stream),
    Endpoint("GET", "streams:stream-status", READ, kwargs=_file_stream),
    Endpoint("GET", "streams:stream-snapshot", READ, kwargs=_file_stream),
    Endpoint("GET", "streams:stream-play-urls", READ, kwargs=_stream),
    Endpoint("GET", "streams:stream-group-list", READ),
    Endpoint("POST", "streams:stream-group-list", admin_write(201), data={"name": "Site", "kind": "organization"}),
    Endpoint("GET", "streams:stream-group-detail", READ, kwargs=_group),
    Endpoint("PUT", "streams:stream-group-detail", admin_write(200), kwargs=_group,
             data={"name": "Site B", "kind": "virtual"}),
    Endpoint("PATCH", "streams:stream-group-detail", admin_write(200), kwargs=_group, data={"name": "Renamed"}),
    Endpoint("DELETE", "streams:stream-group-detail", admin_write(204), kwargs=_group),
    Endpoint("GET", "streams:stream-group-streams", READ, kwargs=_group),
    Endpoint("POST", "streams:stream-group-add-streams", admin_write(200), kwargs=_group_with_stream,
             data=_stream_ids),
    Endpoint("POST", "streams:stream-group-remove-streams", admin_write(200), kwargs=_group_with_stream,
             data=_stream_ids),
    # ZLM cannot log in: hooks ignore user credentials and need the shared secret.
    Endpoint("POST", "streams:zlm-hook", expect(403, 403, 403, 403), kwargs=_hook, data=HOOK_BODY,
             note="no secret"),
    Endpoint("POST", "streams:zlm-hook", expect(200, 200, 200, 200), kwargs=_hook, data=HOOK_BODY,
             query={"secret": "matrix-secret"}, note="with secret"),
]

# Monitoring tasks (monitoring engineer).
from tests.streams.matrix_tasks import ENDPOINTS as MONITOR_TASK_ENDPOINTS  # noqa: E402

ENDPOINTS += MONITOR_TASK_ENDPOINTS
