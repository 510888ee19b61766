"""ZLMediaKit web hooks (bodies as ZLM sends them), the reconcile task, and set_stream_status."""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.urls import reverse

from aimonitor.live import stream_group
from streams import services
from streams.choices import TaskStatus
from streams.models import MonitorTask, VideoStream
from streams.tasks import reconcile_streams, sync_stream_proxy
from tests.streams.conftest import HOOK_SECRET
from tests.streams.fake_zlm import hook_body

pytestmark = pytest.mark.django_db


def hook(api_client, name, body, secret=HOOK_SECRET):
    url = reverse("streams:zlm-hook", kwargs={"hook": name})
    return api_client.post(f"{url}?secret={secret}" if secret is not None else url, body, format="json")


@pytest.fixture
def cam(db):
    return VideoStream.objects.create(name="Gate", url="rtsp://10.0.0.1/live", media_app="live",
                                      media_stream_id="cam1")


def listen(stream_id):
    """A fresh channel in the stream's group (unique, so nothing left on a shared Redis leaks in)."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(stream_group(stream_id), channel)
    return layer, channel


def received(layer, channel, count: int) -> list[dict]:
    """The next ``count`` payloads on ``channel``, read in one event loop (channels-redis buffers a
    channel's messages per loop, so separate async_to_sync calls could re-read one message)."""
    import asyncio

    async def read():
        return [(await asyncio.wait_for(layer.receive(channel), 5))["payload"] for _ in range(count)]

    return async_to_sync(read)()


def task_on(stream, status):
    from algorithms.models import Algorithm

    return MonitorTask.objects.create(name="t", stream=stream, algorithm=Algorithm.objects.create(name="a"),
                                      status=status)


@pytest.mark.parametrize("secret", [None, "", "wrong"])
def test_hook_without_the_shared_secret_is_refused_and_changes_nothing(api_client, cam, hook_secret, secret):
    response = hook(api_client, "on_stream_changed", hook_body("on_stream_changed"), secret=secret)
    assert response.status_code == 403 and response.json()["code"] == "invalid_hook_secret"
    cam.refresh_from_db()
    assert cam.status == "unknown"


def test_hooks_are_refused_when_no_secret_is_configured(api_client, cam, settings):
    settings.ZLM_HOOK_SECRET = ""
    response = hook(api_client, "on_play", hook_body("on_play"), secret="")
    assert response.status_code == 403


def test_unknown_hook_is_404_and_non_object_body_is_400(api_client, hook_secret):
    assert hook(api_client, "on_http_access", {}).status_code == 404
    response = hook(api_client, "on_play", [1, 2])
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_stream_changed_sets_online_then_offline_and_pushes_once(api_client, cam, hook_secret,
                                                                  django_capture_on_commit_callbacks):
    layer, listener = listen(cam.pk)
    with django_capture_on_commit_callbacks(execute=True):
        for schema in ("hls", "rtsp", "rtmp"):  # ZLM fires once per protocol
            response = hook(api_client, "on_stream_changed", hook_body("on_stream_changed", schema=schema))
            assert response.status_code == 200 and response.json()["code"] == 0
    cam.refresh_from_db()
    assert (cam.status, cam.width, cam.height, cam.fps, cam.codec) == ("online", 640, 480, 25.0, "h264")
    with django_capture_on_commit_callbacks(execute=True):
        hook(api_client, "on_stream_changed", hook_body("on_stream_changed", regist=False))
    cam.refresh_from_db()
    assert cam.status == "offline" and "lost" in cam.last_error
    first, second = received(layer, listener, 2)
    assert first["type"] == "stream.status" and first["status"] == "online"
    assert second["status"] == "offline"


def test_none_reader_keeps_the_stream_while_a_task_reads_it(api_client, cam, hook_secret):
    body = hook_body("on_stream_none_reader")
    assert hook(api_client, "on_stream_none_reader", body).json() == {"code": 0, "close": True}
    task = task_on(cam, TaskStatus.RUNNING)
    assert hook(api_client, "on_stream_none_reader", body).json() == {"code": 0, "close": False}
    MonitorTask.objects.filter(pk=task.pk).update(status=TaskStatus.STARTING)
    assert hook(api_client, "on_stream_none_reader", body).json()["close"] is False
    MonitorTask.objects.filter(pk=task.pk).update(status=TaskStatus.STOPPED)
    assert hook(api_client, "on_stream_none_reader", body).json()["close"] is True
    unknown = hook_body("on_stream_none_reader", stream="nobody")
    assert hook(api_client, "on_stream_none_reader", unknown).json()["close"] is True


def test_stream_not_found_re_adds_the_proxy_on_demand(api_client, cam, hook_secret, fake_zlm):
    response = hook(api_client, "on_stream_not_found", hook_body("on_stream_not_found"))
    assert response.json() == {"code": 0, "close": False}
    assert list(fake_zlm.proxies) == ["__defaultVhost__/live/cam1"]
    assert fake_zlm.proxies["__defaultVhost__/live/cam1"]["url"] == cam.url
    cam.refresh_from_db()
    assert cam.media_proxy_key == "__defaultVhost__/live/cam1"
    unknown = hook(api_client, "on_stream_not_found", hook_body("on_stream_not_found", stream="ghost"))
    assert unknown.json() == {"code": 0, "close": True}
    assert len(fake_zlm.proxies) == 1


def test_publish_is_allowed_only_onto_known_enabled_streams(api_client, cam, hook_secret):
    assert hook(api_client, "on_publish", hook_body("on_publish")).json()["code"] == 0
    assert hook(api_client, "on_publish", hook_body("on_publish", stream="intruder")).json()["code"] == -1
    VideoStream.objects.filter(pk=cam.pk).update(enabled=False)
    assert hook(api_client, "on_publish", hook_body("on_publish")).json()["code"] == -1


def test_play_keepalive_record_and_server_started_answer_code_zero(api_client, cam, hook_secret, fake_zlm,
                                                                    django_capture_on_commit_callbacks):
    from django.core.cache import cache

    for name in ("on_play", "on_server_keepalive", "on_record_mp4"):
        assert hook(api_client, name, hook_body(name)).json()["code"] == 0
    assert cache.get("streams:zlm:keepalive")["data"] == {"MediaSource": 5, "Socket": 12}
    with django_capture_on_commit_callbacks(execute=True):
        assert hook(api_client, "on_server_started", hook_body("on_server_started")).json()["code"] == 0
    # A (re)started ZLM gets its proxies back through the reconcile it triggers.
    assert list(fake_zlm.proxies) == ["__defaultVhost__/live/cam1"]


def test_reconcile_re_adds_proxies_lost_in_a_zlm_restart(cam, fake_zlm):
    other = VideoStream.objects.create(name="Off", url="rtsp://10.0.0.2/live", media_stream_id="cam2",
                                       enabled=False)
    services.ensure_proxy(cam)
    services.ensure_proxy(other)
    fake_zlm.restart()
    summary = reconcile_streams()
    assert summary["readded"] == 1 and summary["online"] == 1
    assert list(fake_zlm.proxies) == ["__defaultVhost__/live/cam1"]
    cam.refresh_from_db()
    other.refresh_from_db()
    assert cam.status == "online" and other.media_proxy_key == ""
    # Run twice: nothing left to do.
    again = reconcile_streams()
    assert again["readded"] == 0 and again["online"] == 1


def test_reconcile_marks_streams_zlm_cannot_pull_offline(cam, fake_zlm):
    fake_zlm.unreachable.add(cam.url)
    summary = reconcile_streams()
    assert summary["failed"] == 1
    cam.refresh_from_db()
    assert cam.status == "offline" and "DESCRIBE:404" in cam.last_error


def test_reconcile_with_zlm_down_changes_nothing(cam, settings):
    from tests.streams.conftest import closed_port_url

    settings.ZLM_API_URL = closed_port_url("http")
    VideoStream.objects.filter(pk=cam.pk).update(status="online")
    assert "error" in reconcile_streams()
    cam.refresh_from_db()
    assert cam.status == "online"


def test_reconcile_without_media_server_does_nothing(cam, no_zlm):
    assert reconcile_streams() == {"online": 0, "offline": 0, "readded": 0, "removed": 0, "failed": 0}


def test_sync_task_is_quiet_for_a_deleted_stream(fake_zlm):
    assert sync_stream_proxy(424242) is None
    assert fake_zlm.calls == []


def test_set_stream_status_pushes_only_on_change(cam, django_capture_on_commit_callbacks):
    layer, listener = listen(cam.pk)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert services.set_stream_status(cam.pk, "offline", "rtsp://u:pw@10.0.0.1/live timed out") is True
        assert services.set_stream_status(cam.pk, "offline", "still down") is False
        assert services.set_stream_status(cam.pk, "online", latency_ms=12.5, width=640) is True
    assert len(callbacks) == 2
    first, second = received(layer, listener, 2)
    assert first["status"] == "offline" and "pw" not in first["error"] and "****" in first["error"]
    assert second == {**second, "status": "online", "latency_ms": 12.5, "width": 640, "stream_id": cam.pk}
    cam.refresh_from_db()
    assert (cam.status, cam.latency_ms, cam.width, cam.last_error) == ("online", 12.5, 640, "")


def test_capture_url_prefers_the_zlm_restream(cam, settings, no_zlm):
    assert services.capture_url(cam) == "rtsp://10.0.0.1/live"
    settings.ZLM_API_URL = "http://127.0.0.1:1"
    settings.ZLM_RTSP_HOST, settings.ZLM_RTSP_PORT = "zlm.internal", 8554
    assert services.capture_url(cam) == "rtsp://10.0.0.1/live"  # no proxy yet
    cam.media_proxy_key = "__defaultVhost__/live/cam1"
    assert services.capture_url(cam) == "rtsp://zlm.internal:8554/live/cam1"
