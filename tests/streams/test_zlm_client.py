"""The ZLMediaKit client against a local server that speaks ZLM's documented API (tests/streams/fake_zlm.py)."""
from __future__ import annotations

import json
import time
import urllib.request

import pytest

from streams.zlm import AUTH_FAILED, INVALID_ARGS, NOT_FOUND, ZLMClient, ZLMError, ZLMUnavailable
from tests.streams.conftest import closed_port_url
from tests.streams.fake_zlm import FakeZLM

SECRET = "s3cret"


@pytest.fixture
def zlm():
    with FakeZLM(SECRET) as server:
        yield server


@pytest.fixture
def client(zlm):
    return ZLMClient(zlm.url, SECRET, timeout=2)


def test_add_stream_proxy_sends_documented_parameters_and_returns_the_key(zlm, client):
    key = client.add_stream_proxy("live", "cam1", "rtsp://10.0.0.5/stream", retry_count=-1, enable_rtsp=True)
    assert key == "__defaultVhost__/live/cam1"
    name, params = zlm.calls[-1]
    assert name == "addStreamProxy"
    assert params["secret"] == SECRET and params["vhost"] == "__defaultVhost__"
    assert (params["app"], params["stream"], params["url"]) == ("live", "cam1", "rtsp://10.0.0.5/stream")
    assert params["retry_count"] == "-1" and params["enable_rtsp"] == "1"


def test_already_existing_proxy_is_deleted_and_added_again(zlm, client):
    zlm.proxies["__defaultVhost__/live/cam1"] = {"vhost": "__defaultVhost__", "app": "live", "stream": "cam1",
                                                 "url": "rtsp://old/source", "online": False}
    key = client.add_stream_proxy("live", "cam1", "rtsp://new/source")
    assert key == "__defaultVhost__/live/cam1"
    assert zlm.names() == ["addStreamProxy", "delStreamProxy", "addStreamProxy"]
    assert zlm.proxies[key]["url"] == "rtsp://new/source"


def test_wrong_secret_is_an_auth_error_not_a_success(zlm):
    with pytest.raises(ZLMError) as info:
        ZLMClient(zlm.url, "wrong").add_stream_proxy("live", "cam1", "rtsp://x/y")
    assert info.value.code == AUTH_FAILED and info.value.msg == "Please login first"
    assert zlm.proxies == {}


def test_unreachable_source_maps_zlm_failure_message(zlm, client):
    zlm.unreachable.add("rtsp://admin:pw@10.9.9.9/live")
    with pytest.raises(ZLMError) as info:
        client.add_stream_proxy("live", "cam2", "rtsp://admin:pw@10.9.9.9/live")
    assert info.value.code == -1 and info.value.msg == "DESCRIBE:404 Not Found"
    assert zlm.names() == ["addStreamProxy"]  # no delete-and-retry for other failures


def test_missing_parameter_is_invalid_arguments(client):
    with pytest.raises(ZLMError) as info:
        client.call("isMediaOnline", vhost="__defaultVhost__", app="live", stream="cam1")
    assert info.value.code == INVALID_ARGS and "schema" in info.value.msg


def test_unknown_api_name_is_not_found(client):
    with pytest.raises(ZLMError) as info:
        client.call("noSuchApi")
    assert info.value.code == NOT_FOUND


def test_del_stream_proxy_reports_whether_it_existed(client):
    key = client.add_stream_proxy("live", "cam1", "rtsp://a/b")
    assert client.del_stream_proxy(key) is True
    assert client.del_stream_proxy(key) is False


def test_media_list_is_empty_when_zlm_omits_data_and_filters_by_schema(client):
    assert client.get_media_list() == []
    client.add_stream_proxy("live", "cam1", "rtsp://a/b")
    assert len(client.get_media_list()) == 5  # one entry per protocol
    rtsp = client.get_media_list(schema="rtsp", app="live", stream="cam1")
    assert [(m["schema"], m["stream"]) for m in rtsp] == [("rtsp", "cam1")]
    assert client.is_media_online("live", "cam1") is True
    assert client.is_media_online("live", "other") is False


def test_get_snap_returns_jpeg_bytes(client):
    client.add_stream_proxy("live", "cam1", "rtsp://a/b")
    body = client.get_snap("rtsp://127.0.0.1:554/live/cam1", timeout_sec=1)
    assert body[:2] == b"\xff\xd8"


def test_get_snap_logo_png_for_an_unreadable_source_is_an_error(client):
    started = time.monotonic()
    with pytest.raises(ZLMError) as info:
        client.get_snap("rtsp://127.0.0.1:554/live/missing", timeout_sec=1)
    assert "image/png" in info.value.msg
    assert 0.9 <= time.monotonic() - started < 4


def test_recording_start_stop_and_query(client):
    client.add_stream_proxy("live", "cam1", "rtsp://a/b")
    assert client.start_record("live", "cam1", max_second=60) is True
    assert client.is_recording("live", "cam1") is True
    assert client.stop_record("live", "cam1") is True
    assert client.is_recording("live", "cam1") is False


def test_server_facts(client):
    assert client.version()["branchName"] == "master"
    assert client.get_server_config()["api.secret"] == SECRET
    assert "MediaSource" in client.get_statistic()


def test_slow_server_times_out_as_unavailable(zlm):
    zlm.delay = 1.5
    started = time.monotonic()
    with pytest.raises(ZLMUnavailable):
        ZLMClient(zlm.url, SECRET, timeout=0.5).version()
    assert time.monotonic() - started < 1.4


def test_server_that_is_down_is_unavailable():
    with pytest.raises(ZLMUnavailable):
        ZLMClient(closed_port_url("http"), SECRET, timeout=1).version()


def test_fake_server_accepts_the_secret_in_query_string_and_json_body_too(zlm):
    """The fake answers like ZLM for every way of passing parameters (keeps the fake honest)."""
    with urllib.request.urlopen(f"{zlm.url}/index/api/version?secret={SECRET}") as reply:  # noqa: S310
        assert json.loads(reply.read())["code"] == 0
    request = urllib.request.Request(f"{zlm.url}/index/api/version", data=json.dumps({"secret": "bad"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as reply:  # noqa: S310
        assert reply.status == 200 and "Set-Cookie" in reply.headers
        assert json.loads(reply.read())["code"] == AUTH_FAILED


def test_play_urls_follow_zlm_layout():
    urls = ZLMClient.play_urls("live", "cam1", host="media.example.com", http_port=8080)
    assert urls["rtsp"] == "rtsp://media.example.com:554/live/cam1"
    assert urls["rtmp"] == "rtmp://media.example.com:1935/live/cam1"
    assert urls["http_flv"] == "http://media.example.com:8080/live/cam1.live.flv"
    assert urls["hls"] == "http://media.example.com:8080/live/cam1/hls.m3u8"
    assert urls["webrtc"] == "http://media.example.com:8080/index/api/webrtc?app=live&stream=cam1&type=play"


def test_client_refuses_non_http_base_url():
    with pytest.raises(ValueError):
        ZLMClient("file:///etc/passwd", SECRET)
