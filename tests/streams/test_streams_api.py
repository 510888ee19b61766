"""The cameras API: CRUD with validated sources and masked credentials, 409 on delete while in use,
filters and group scoping, status probes, snapshots and playback URLs (direct capture and ZLM)."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from django.urls import reverse

from streams.choices import TaskStatus
from streams.models import MonitorTask, StreamGroup, VideoStream
from tests.conftest import client_for
from tests.streams.conftest import closed_port_url

pytestmark = pytest.mark.django_db
LIST = reverse("streams:stream-list")


def detail(pk, action=""):
    return reverse(f"streams:stream-{action or 'detail'}", kwargs={"pk": pk})


def make_stream(**fields) -> VideoStream:
    fields.setdefault("name", "cam")
    fields.setdefault("url", "rtsp://10.0.0.1/live")
    stream = VideoStream.objects.create(**fields)
    stream.media_stream_id = stream.media_stream_id or f"cam{stream.pk}"
    stream.save()
    return stream


def make_task(stream, status, name="watch"):
    from algorithms.models import Algorithm

    algorithm = Algorithm.objects.first() or Algorithm.objects.create(name="yolo")
    return MonitorTask.objects.create(name=name, stream=stream, algorithm=algorithm, status=status)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    return body


# --- create / read ------------------------------------------------------------------------------
def test_admin_creates_rtsp_stream_and_password_is_masked(admin_client, no_zlm):
    response = admin_client.post(LIST, {"name": "Gate", "type": "rtsp", "location": "North",
                                        "url": "rtsp://admin:s3cret@10.0.0.9:554/live"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["url"] == "rtsp://admin:****@10.0.0.9:554/live"
    assert "s3cret" not in response.content.decode()
    stream = VideoStream.objects.get()
    assert stream.url == "rtsp://admin:s3cret@10.0.0.9:554/live"
    assert stream.media_stream_id == f"cam{stream.pk}" and stream.media_proxy_key == ""
    assert "s3cret" not in admin_client.get(detail(stream.pk)).content.decode()


def test_sending_back_the_masked_url_keeps_the_stored_password(admin_client, no_zlm):
    stream = make_stream(url="rtsp://admin:s3cret@10.0.0.9/live")
    masked = admin_client.get(detail(stream.pk)).json()["url"]
    response = admin_client.put(detail(stream.pk), {"name": "Renamed", "type": "rtsp", "url": masked})
    assert response.status_code == 200, response.content
    stream.refresh_from_db()
    assert stream.name == "Renamed" and stream.url == "rtsp://admin:s3cret@10.0.0.9/live"


@pytest.mark.parametrize(("payload", "field", "code"), [
    ({"type": "rtsp", "url": "http://10.0.0.1/live"}, "url", "invalid_scheme"),
    ({"type": "rtmp", "url": "rtsp://10.0.0.1/live"}, "url", "invalid_scheme"),
    ({"type": "hls", "url": "rtmp://10.0.0.1/x.m3u8"}, "url", "invalid_scheme"),
    ({"type": "rtsp", "url": "rtsp:///nohost"}, "url", "invalid_url"),
    ({"type": "rtsp", "url": "rtsp://10.0.0.1:99999/x"}, "url", "invalid_url"),
    ({"type": "webcam", "url": "rtsp://10.0.0.1/x"}, "type", "invalid_choice"),
    ({"type": "rtsp"}, "url", "required"),
    ({"type": "rtsp", "url": ["rtsp://10.0.0.1/x"]}, "url", "invalid"),
])
def test_invalid_sources_are_refused_and_nothing_is_written(admin_client, no_zlm, payload, field, code):
    response = admin_client.post(LIST, {"name": "bad", **payload})
    body = assert_error(response, 400, code)
    assert field in body["errors"]
    assert VideoStream.objects.count() == 0


def test_missing_name_is_refused(admin_client, no_zlm):
    body = assert_error(admin_client.post(LIST, {"type": "rtsp", "url": "rtsp://10.0.0.1/x"}), 400, "required")
    assert "name" in body["errors"]
    assert VideoStream.objects.count() == 0


def test_file_stream_must_live_under_a_media_root(admin_client, videos, tmp_path, clip_dir, no_zlm):
    outside = tmp_path / "outside.mp4"
    outside.write_bytes((clip_dir / "short.mp4").read_bytes())
    os.symlink(outside, videos / "link.mp4")
    for url in (str(outside), str(videos / ".." / "outside.mp4"), str(videos / "link.mp4"), "../outside.mp4"):
        body = assert_error(admin_client.post(LIST, {"name": "f", "type": "file", "url": url}), 400, "path_not_allowed")
        assert "url" in body["errors"]
    assert_error(admin_client.post(LIST, {"name": "f", "type": "file", "url": "nope.mp4"}), 400, "file_not_found")
    assert VideoStream.objects.count() == 0
    response = admin_client.post(LIST, {"name": "demo", "type": "file", "url": "short.mp4"})
    assert response.status_code == 201, response.content
    assert VideoStream.objects.get().url == str((videos / "short.mp4").resolve())


def test_list_filters_by_status_type_group_and_searches(viewer_client):
    group = StreamGroup.objects.create(name="North")
    a = make_stream(name="Gate north", location="yard", status="online")
    make_stream(name="Lobby", location="hall", status="offline", type="rtmp", url="rtmp://10.0.0.2/live")
    a.groups.add(group)

    def names(query):
        response = viewer_client.get(LIST, query)
        assert response.status_code == 200
        return [s["name"] for s in response.json()["results"]]

    assert names({"status": "online"}) == ["Gate north"]
    assert names({"type": "rtmp"}) == ["Lobby"]
    assert names({"group": group.pk}) == ["Gate north"]
    assert names({"search": "hall"}) == ["Lobby"]
    assert names({}) == ["Gate north", "Lobby"]


def test_user_assigned_to_a_group_sees_only_that_groups_streams(make_user):
    parent = StreamGroup.objects.create(name="Company")
    child = StreamGroup.objects.create(name="Site", parent=parent)
    other = StreamGroup.objects.create(name="Elsewhere")
    mine, theirs = make_stream(name="mine"), make_stream(name="theirs")
    mine.groups.add(child)
    theirs.groups.add(other)
    viewer = make_user("viewer")
    parent.members.add(viewer)
    client = client_for(viewer)
    assert [s["name"] for s in client.get(LIST).json()["results"]] == ["mine"]
    assert client.get(detail(theirs.pk)).status_code == 404
    assert client.get(detail(mine.pk)).status_code == 200
    groups = client.get(reverse("streams:stream-group-list")).json()["results"]
    assert sorted(g["name"] for g in groups) == ["Company", "Site"]


def test_unknown_stream_is_404_in_the_error_shape(viewer_client):
    assert_error(viewer_client.get(detail(999)), 404, "not_found")


def test_viewer_and_operator_cannot_create_streams(viewer_client, operator_client, no_zlm):
    for client in (viewer_client, operator_client):
        assert_error(client.post(LIST, {"name": "x", "type": "rtsp", "url": "rtsp://1.2.3.4/x"}), 403,
                     "permission_denied")
    assert VideoStream.objects.count() == 0


# --- delete ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [TaskStatus.RUNNING, TaskStatus.STARTING, TaskStatus.WAITING])
def test_delete_is_refused_while_a_monitoring_task_uses_the_stream(admin_client, status):
    stream = make_stream()
    make_task(stream, status)
    body = assert_error(admin_client.delete(detail(stream.pk)), 409, "stream_in_use")
    assert "watch" in body["detail"]
    assert VideoStream.objects.filter(pk=stream.pk).exists()


def test_delete_is_refused_while_stopped_tasks_still_reference_it(admin_client):
    stream = make_stream()
    make_task(stream, TaskStatus.STOPPED)
    assert_error(admin_client.delete(detail(stream.pk)), 409, "stream_in_use")
    assert VideoStream.objects.filter(pk=stream.pk).exists()


def test_delete_removes_the_stream_and_its_zlm_proxy(admin_client, fake_zlm, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = admin_client.post(LIST, {"name": "Gate", "type": "rtsp", "url": "rtsp://10.0.0.9/live"})
    stream = VideoStream.objects.get(pk=created.json()["id"])
    assert stream.media_proxy_key == f"__defaultVhost__/live/cam{stream.pk}"
    assert stream.media_proxy_key in fake_zlm.proxies
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.delete(detail(stream.pk)).status_code == 204
    assert not VideoStream.objects.exists()
    assert fake_zlm.proxies == {}


def test_disabling_a_stream_removes_its_proxy_and_enabling_adds_it(admin_client, fake_zlm,
                                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        pk = admin_client.post(LIST, {"name": "Gate", "type": "rtsp", "url": "rtsp://10.0.0.9/live"}).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.patch(detail(pk), {"enabled": False}).status_code == 200
    assert fake_zlm.proxies == {} and VideoStream.objects.get(pk=pk).media_proxy_key == ""
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.patch(detail(pk), {"enabled": True}).status_code == 200
    assert list(fake_zlm.proxies) == [f"__defaultVhost__/live/cam{pk}"]


def test_source_zlm_cannot_pull_marks_the_stream_offline(admin_client, fake_zlm, django_capture_on_commit_callbacks):
    fake_zlm.unreachable.add("rtsp://10.0.0.66/live")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(LIST, {"name": "Dead", "type": "rtsp", "url": "rtsp://10.0.0.66/live"})
    assert response.status_code == 201
    stream = VideoStream.objects.get()
    assert stream.status == "offline" and "DESCRIBE:404" in stream.last_error
    assert stream.media_proxy_key == ""


# --- status, snapshot, play URLs ----------------------------------------------------------------------
def test_status_probe_of_a_file_stream_reports_online_with_facts(viewer_client, videos):
    stream = make_stream(type="file", url=str(videos / "short.mp4"))
    response = viewer_client.get(detail(stream.pk, "status"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "online" and body["error"] == ""
    assert (body["width"], body["height"], body["fps"], body["codec"]) == (320, 240, 10.0, "h264")
    assert body["latency_ms"] > 0 and body["last_checked"]
    stream.refresh_from_db()
    assert stream.status == "online" and stream.width == 320


def test_status_probe_of_a_dead_camera_is_offline_with_reason_not_a_hang(viewer_client, settings):
    import time

    settings.STREAM_PROBE_TIMEOUT = 2.0
    stream = make_stream(url=closed_port_url().replace("rtsp://", "rtsp://u:pw@"))
    started = time.monotonic()
    response = viewer_client.get(detail(stream.pk, "status"))
    assert time.monotonic() - started < 6
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "offline" and "cannot open" in body["error"]
    assert "pw" not in body["error"]
    assert VideoStream.objects.get(pk=stream.pk).status == "offline"


def test_status_probe_of_a_deleted_file_is_error(viewer_client, videos):
    stream = make_stream(type="file", url=str(videos / "short.mp4"))
    (videos / "short.mp4").unlink()
    body = viewer_client.get(detail(stream.pk, "status")).json()
    assert body["status"] == "error" and "does not exist" in body["error"]


def test_snapshot_is_a_real_jpeg_grabbed_directly(viewer_client, videos, no_zlm):
    stream = make_stream(type="file", url=str(videos / "short.mp4"))
    response = viewer_client.get(detail(stream.pk, "snapshot"))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (240, 320, 3)


def test_snapshot_of_an_unreachable_camera_is_503(viewer_client, settings, no_zlm):
    settings.STREAM_PROBE_TIMEOUT = 1.0
    stream = make_stream(url=closed_port_url())
    assert_error(viewer_client.get(detail(stream.pk, "snapshot")), 503, "stream_unreachable")


def test_snapshot_goes_through_zlm_getsnap_when_configured(viewer_client, fake_zlm, videos):
    stream = make_stream(type="file", url=str(videos / "short.mp4"))
    from streams import services

    services.ensure_proxy(stream)
    response = viewer_client.get(detail(stream.pk, "snapshot"))
    assert response.status_code == 200
    assert response.content == fake_zlm.snap_jpeg
    assert "getSnap" in fake_zlm.names()


def test_snapshot_falls_back_to_a_direct_grab_when_zlm_answers_its_logo(viewer_client, fake_zlm, videos, settings):
    settings.STREAM_PROBE_TIMEOUT = 1.0
    stream = make_stream(type="file", url=str(videos / "short.mp4"), media_proxy_key="__defaultVhost__/live/gone")
    response = viewer_client.get(detail(stream.pk, "snapshot"))
    assert response.status_code == 200
    assert response.content != fake_zlm.snap_jpeg and response.content[:2] == b"\xff\xd8"


def test_play_urls_are_empty_without_a_media_server(viewer_client, no_zlm):
    stream = make_stream()
    response = viewer_client.get(detail(stream.pk, "play-urls"))
    assert response.status_code == 200 and response.json() == {}


def test_play_urls_come_from_zlm_settings(viewer_client, fake_zlm):
    stream = make_stream()
    body = viewer_client.get(detail(stream.pk, "play-urls")).json()
    assert body["rtsp"] == f"rtsp://media.example.com:554/live/cam{stream.pk}"
    assert body["hls"] == f"http://media.example.com/live/cam{stream.pk}/hls.m3u8"
    assert set(body) == {"rtsp", "rtmp", "http_flv", "ws_flv", "hls", "fmp4", "webrtc"}


def test_paths_answer_without_trailing_slash(viewer_client):
    stream = make_stream()
    assert viewer_client.get(LIST.rstrip("/")).status_code == 200
    assert viewer_client.get(detail(stream.pk, "play-urls").rstrip("/")).status_code == 200
    assert viewer_client.get(detail(stream.pk, "play-urls").rstrip("/") + "/").status_code == 200
