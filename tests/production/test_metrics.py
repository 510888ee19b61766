"""/metrics: what it exposes, who may scrape it, and how it merges the processes of a host."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.test import Client
from prometheus_client import REGISTRY

from aimonitor import metrics

ROOT = Path(__file__).resolve().parents[2]
REMOTE = "203.0.113.7"
TOKEN = "scrape-token-0123456789"


@pytest.fixture
def restricted(settings):
    settings.METRICS_PUBLIC = False
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1", "::1", "10.20.0.0/16"]
    return settings


def scrape(**meta):
    return Client().get("/metrics", **meta)


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db
def test_remote_scrape_without_token_is_refused(restricted):
    response = scrape(REMOTE_ADDR=REMOTE)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert b"aimonitor_" not in response.content


@pytest.mark.django_db
def test_remote_scrape_with_a_wrong_token_is_refused(restricted):
    assert scrape(REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION="Bearer not-the-token").status_code == 403
    assert scrape(REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 403


@pytest.mark.django_db
def test_scrape_with_the_token_gets_the_metrics(restricted):
    response = scrape(REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    for name in ("aimonitor_http_request_duration_seconds", "aimonitor_inference_duration_seconds",
                 "aimonitor_frames_processed_total", "aimonitor_alerts_raised_total", "aimonitor_queue_depth",
                 "aimonitor_websocket_connections", "aimonitor_monitor_tasks"):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name


@pytest.mark.django_db
def test_direct_scrape_from_an_allowed_address_needs_no_token(restricted):
    assert scrape(REMOTE_ADDR="127.0.0.1").status_code == 200
    assert scrape(REMOTE_ADDR="10.20.3.4").status_code == 200
    assert scrape(REMOTE_ADDR="10.21.0.1").status_code == 403


@pytest.mark.django_db
def test_proxied_request_is_not_admitted_by_the_proxys_loopback_address(restricted):
    """GIVEN nginx on the same host forwarding a public request (REMOTE_ADDR 127.0.0.1)
    THEN the forwarded request is refused without the token."""
    assert scrape(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=REMOTE).status_code == 403
    assert scrape(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=REMOTE,
                  HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


@pytest.mark.django_db
def test_metrics_can_be_switched_off(restricted):
    restricted.METRICS_ENABLED = False
    assert scrape(REMOTE_ADDR="127.0.0.1").status_code == 404


@pytest.mark.django_db
def test_post_to_metrics_is_refused(restricted):
    response = Client().post("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 405


@pytest.mark.django_db
def test_requests_are_counted_and_timed_by_route_pattern(api_client):
    before = value("aimonitor_http_requests_total", method="GET", route="^api/health/?$", status="200")
    timed = value("aimonitor_http_request_duration_seconds_count", method="GET", route="^api/health/?$")
    api_client.get("/api/health")
    api_client.get("/api/health/")
    assert value("aimonitor_http_requests_total", method="GET", route="^api/health/?$", status="200") == before + 2
    assert value("aimonitor_http_request_duration_seconds_count", method="GET", route="^api/health/?$") == timed + 2
    unmatched = value("aimonitor_http_requests_total", method="GET", route="unmatched", status="404")
    api_client.get("/no/such/page/123")
    assert value("aimonitor_http_requests_total", method="GET", route="unmatched", status="404") == unmatched + 1


def test_helpers_update_the_metrics_other_apps_use():
    frames = value("aimonitor_frames_processed_total", task="41")
    alerts = value("aimonitor_alerts_raised_total", type="fall_detection", level="critical")
    count = value("aimonitor_inference_duration_seconds_count", algorithm="7")
    batch_frames = value("aimonitor_inference_frames_total", algorithm="7")
    total = value("aimonitor_inference_duration_seconds_sum", algorithm="7")
    reconnects = value("aimonitor_stream_reconnects_total", stream="3")
    metrics.count_frames(41, 8)
    metrics.count_alert("fall_detection", "critical")
    metrics.observe_inference(7, 0.040, batch_size=4)
    metrics.observe_inference_ms(7, 60.0)
    metrics.count_stream_reconnect(3)
    assert value("aimonitor_frames_processed_total", task="41") == frames + 8
    assert value("aimonitor_alerts_raised_total", type="fall_detection", level="critical") == alerts + 1
    assert value("aimonitor_inference_duration_seconds_count", algorithm="7") == count + 2
    assert value("aimonitor_inference_frames_total", algorithm="7") == batch_frames + 5
    assert value("aimonitor_inference_duration_seconds_sum", algorithm="7") == pytest.approx(total + 0.1)
    assert value("aimonitor_stream_reconnects_total", stream="3") == reconnects + 1


def test_helpers_never_raise_on_bad_input():
    metrics.count_frames(1, "many")
    metrics.observe_inference(1, "slow")


@pytest.mark.django_db
def test_scrape_reports_monitor_tasks_by_status(restricted):
    from algorithms.models import Algorithm
    from streams.models import MonitorTask, VideoStream

    algorithm = Algorithm.objects.create(name="people")
    stream = VideoStream.objects.create(name="gate", url="rtsp://127.0.0.1/gate")
    for status in ("running", "running", "error"):
        MonitorTask.objects.create(name=status, stream=stream, algorithm=algorithm, status=status)
    text = scrape(REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'aimonitor_monitor_tasks{status="running"} 2.0' in text
    assert 'aimonitor_monitor_tasks{status="error"} 1.0' in text
    assert 'aimonitor_monitor_tasks{status="stopped"} 0.0' in text
    assert 'aimonitor_queue_depth{queue="inference"} 0.0' in text


class _AcceptingConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()


class _RefusingConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.close(code=4401)


def test_websocket_route_names_have_no_ids():
    assert metrics.websocket_route("/ws/monitor-tasks/12/") == "/ws/monitor-tasks/{id}/"
    assert metrics.websocket_route("/ws/streams/5") == "/ws/streams/{id}"
    assert metrics.websocket_route("/ws/alerts/") == "/ws/alerts/"


@pytest.mark.django_db  # channels closes old database connections when a consumer ends
def test_websocket_connections_are_counted_while_open():
    asyncio.run(_open_and_close_two_connections())


async def _open_and_close_two_connections():
    app = metrics.WebSocketMetricsMiddleware(_AcceptingConsumer.as_asgi())
    route = "/ws/test-open/{id}/"
    start = value("aimonitor_websocket_connections", route=route)
    first = WebsocketCommunicator(app, "/ws/test-open/1/")
    second = WebsocketCommunicator(app, "/ws/test-open/2/")
    assert (await first.connect())[0] and (await second.connect())[0]
    assert value("aimonitor_websocket_connections", route=route) == start + 2
    await first.disconnect()
    await first.wait()
    assert value("aimonitor_websocket_connections", route=route) == start + 1
    await second.disconnect()
    await second.wait()
    assert value("aimonitor_websocket_connections", route=route) == start


def test_refused_websocket_is_not_counted():
    app = metrics.WebSocketMetricsMiddleware(_RefusingConsumer.as_asgi())
    connected, code = asyncio.run(WebsocketCommunicator(app, "/ws/test-refused/").connect())
    assert not connected and code == 4401
    assert value("aimonitor_websocket_connections", route="/ws/test-refused/") == 0


_CHILD = """
import os, sys
sys.path.insert(0, {root!r})
from aimonitor import metrics
metrics.count_alert("intrusion_detection", "warning")
metrics.count_frames(5, 10)
metrics.WEBSOCKET_CONNECTIONS.labels(route="/ws/alerts/").inc()
"""


@pytest.mark.django_db
def test_scrape_merges_the_values_of_every_process_of_the_host(restricted, tmp_path, monkeypatch):
    """GIVEN two processes (e.g. gunicorn workers) that wrote metrics into PROMETHEUS_MULTIPROC_DIR
    WHEN /metrics is scraped THEN counters are summed over both, and once those processes are gone
    their live gauges are dropped and their files pruned."""
    folder = tmp_path / "prom"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    pids = []
    for _ in range(2):
        child = subprocess.run([sys.executable, "-c", _CHILD.format(root=str(ROOT))], env=env,
                               capture_output=True, text=True, timeout=60)
        assert child.returncode == 0, child.stderr
    pids = sorted({int(f.stem.rsplit("_", 1)[1]) for f in folder.glob("*.db")})
    assert len(pids) == 2

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    text = scrape(REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'aimonitor_alerts_raised_total{level="warning",type="intrusion_detection"} 2.0' in text
    assert 'aimonitor_frames_processed_total{task="5"} 20.0' in text
    # livesum gauges of exited processes still count until they are marked dead.
    assert 'aimonitor_websocket_connections{route="/ws/alerts/"} 2.0' in text
    for pid in pids:
        metrics.mark_process_dead(pid)
    text = scrape(REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'aimonitor_websocket_connections{route="/ws/alerts/"}' not in text
    assert 'aimonitor_frames_processed_total{task="5"} 20.0' in text

    left = list(folder.glob("*.db"))
    assert {f.name.split("_")[0] for f in left} >= {"counter"}
    assert metrics.prune_dead_process_files() == len(left)  # every file of the exited processes
    assert list(folder.glob("*.db")) == []
