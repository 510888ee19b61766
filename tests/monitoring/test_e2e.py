"""End to end with real parts: a generated H.264 clip of people served over RTSP on loopback, the
shipped person detector, a real Celery worker (a separate process on Redis when REDIS_URL is set, as
in CI; the embedded in-process worker otherwise), alerts with boxes and snapshots, cooldown, live
status, the WebSocket feed, a source that dies and comes back, and a worker killed with SIGKILL."""
from __future__ import annotations

import os
import signal
import time
import uuid

import cv2
import numpy as np
import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse

from alerts.models import Alert
from streams import tasks_services
from streams.models import MonitorTask, VideoStream
from tests.conftest import client_for
from tests.media import bus_image, make_clip, zidane_image
from tests.monitoring.factories import make_algorithm, make_stream, make_task
from tests.monitoring.live import RtspServer, WorkerProcess
from tests.monitoring.test_worker import expected_boxes, matches_one_of, retrying, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ON_REDIS = bool(os.environ.get("REDIS_URL"))
COOLDOWN = 6


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """40 s of people (bus.jpg, then zidane.jpg): longer than any test reads one RTSP session."""
    folder = tmp_path_factory.mktemp("e2e-clips")
    return make_clip(folder / "people-long.mp4", [bus_image(), zidane_image()], fps=10, seconds_per_frame=20.0)


@pytest.fixture
def rtsp(long_clip, tmp_path):
    server = RtspServer(long_clip, tmp_path / "rtsp").start()
    yield server
    server.kill()


@pytest.fixture
def celery_live(settings, tmp_path):
    """Celery sends for real (no eager inline runs) to a queue of this test's own; yields a function
    that starts a worker for it."""
    from aimonitor.celery import app

    settings.CELERY_INFERENCE_QUEUE = f"inference-e2e-{uuid.uuid4().hex[:8]}"
    settings.MONITOR_STALE_SECONDS = 15
    settings.MONITOR_HEARTBEAT_SECONDS = 1
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    started: list = []

    def start_worker():
        if ON_REDIS:
            proc = WorkerProcess(settings.CELERY_INFERENCE_QUEUE, tmp_path)
            started.append(proc)
            return proc
        from aimonitor import embedded

        settings.CELERY_EMBEDDED = True
        settings.CELERY_TASK_DEFAULT_QUEUE = settings.CELERY_INFERENCE_QUEUE
        embedded.start(with_beat=False)
        started.append(embedded)
        return embedded

    yield start_worker
    for worker in started:
        worker.stop()
    app.conf.task_always_eager = eager


def start_via_api(task, operator):
    response = client_for(operator).post(reverse("streams:monitor-task-start", kwargs={"pk": task.pk}))
    assert response.status_code == 200, response.content
    return response.json()


def rtsp_task(url: str, **config):
    stream = make_stream("RTSP camera", url=url, type="rtsp")
    return make_task("People watch", stream=stream, algorithm=make_algorithm(), config={
        "target_classes": ["Normal"], "cooldown_seconds": COOLDOWN, "sample_fps": 2, "min_consecutive_frames": 2,
        **config})


async def watch_for_alert(task, operator):
    """Connects to the task's feed, starts the task through the API, returns the first alert push."""
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from rest_framework_simplejwt.tokens import AccessToken

    from aimonitor.asgi import application

    communicator = WebsocketCommunicator(
        application, f"/ws/monitor-tasks/{task.pk}/?token={AccessToken.for_user(operator)}",
        headers=[(b"origin", b"http://localhost")])
    connected, _ = await communicator.connect()
    assert connected
    await sync_to_async(start_via_api)(task, operator)
    kinds = set()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            message = await communicator.receive_json_from(timeout=120)
            kinds.add(message["type"])
            if message["type"] == "alert.created":
                return message, kinds
    finally:
        await communicator.disconnect()
    raise AssertionError(f"no alert.created pushed; got {kinds}")


def fresh(task) -> MonitorTask:
    return retrying(lambda: MonitorTask.objects.get(pk=task.pk))


def stream_status(task) -> str:
    return retrying(lambda: VideoStream.objects.get(pk=task.stream_id).status)


def alert_times(task) -> list[float]:
    return retrying(lambda: [a.detection_time.timestamp()
                             for a in Alert.objects.filter(task=task).order_by("detection_time")])


def assert_cooldown_held(times: list[float]) -> None:
    gaps = np.diff(times)
    assert all(gap >= COOLDOWN - 0.01 for gap in gaps), f"alerts closer than the cooldown: {gaps}"


def test_rtsp_camera_to_alerts_status_and_websocket(rtsp, celery_live, make_user):
    """On Redis a WebSocket client in this process receives the alert pushed by the worker process;
    the in-memory channel layer cannot carry pushes between threads' event loops, so without Redis the
    feed is covered by test_consumer and this test watches the database."""
    operator = make_user("operator")
    task = rtsp_task(rtsp.url)
    worker = celery_live()
    if ON_REDIS:
        pushed, kinds = async_to_sync(watch_for_alert)(task, operator)
        assert "task.status" in kinds
    else:
        start_via_api(task, operator)
        assert wait_for(lambda: Alert.objects.filter(task=task).exists(), timeout=120), "no alert"
    first = retrying(lambda: Alert.objects.filter(task=task).order_by("detection_time").first())
    assert first is not None
    if ON_REDIS:
        assert pushed["alert"]["id"] == first.pk
    # Keep it running over two cooldowns: the person standing in view is one alert per cooldown.
    time.sleep(2 * COOLDOWN + 1)
    status = client_for(operator).get(reverse("streams:monitor-task-status", kwargs={"pk": task.pk})).json()
    assert status["status"] == "running" and status["current_fps"] > 0 and status["frames_processed"] > 0
    assert stream_status(task) == "online"
    retrying(lambda: tasks_services.stop_task(fresh(task)))
    times = alert_times(task)
    window = times[-1] - times[0]
    assert 2 <= len(times) <= int(window // COOLDOWN) + 1, (times, worker)
    assert_cooldown_held(times)
    baseline = expected_boxes()
    for alert in Alert.objects.filter(task=task):
        detections = alert.metadata["detections"]
        assert {d["class"] for d in detections} == {"Normal"}
        assert all(matches_one_of(d["bbox"], baseline["bus"] + baseline["zidane"]) for d in detections)
        snapshot = cv2.imdecode(np.frombuffer(alert.snapshot.read(), np.uint8), cv2.IMREAD_COLOR)
        assert snapshot.shape == (480, 640, 3)


def test_a_source_that_dies_and_returns(rtsp, celery_live, make_user):
    task = rtsp_task(rtsp.url, cooldown_seconds=3600)
    celery_live()
    start_via_api(task, make_user("operator"))

    def frames():
        return fresh(task).frames_processed

    assert wait_for(lambda: frames() > 2, timeout=90), "no frames processed"
    rtsp.kill()
    assert wait_for(lambda: stream_status(task) == "offline", timeout=40)
    during = fresh(task)
    time.sleep(3)
    later = fresh(task)
    assert later.status == "running" and later.desired_running and later.claim_token == during.claim_token
    assert later.last_heartbeat > during.last_heartbeat  # the loop is alive while the camera is not
    before = later.frames_processed
    rtsp.start()
    assert wait_for(lambda: frames() > before + 2, timeout=60), "frames did not resume"
    assert wait_for(lambda: stream_status(task) == "online", timeout=20)
    retrying(lambda: tasks_services.stop_task(fresh(task)))


@pytest.mark.skipif(not (ON_REDIS and os.environ.get("DATABASE_URL")),
                    reason="killing a worker needs a worker process: REDIS_URL and DATABASE_URL")
def test_a_worker_killed_with_sigkill_is_replaced_and_no_alert_is_lost_or_doubled(rtsp, celery_live, make_user):
    task = rtsp_task(rtsp.url)
    first_worker = celery_live()
    start_via_api(task, make_user("operator"))
    assert wait_for(lambda: Alert.objects.filter(task=task).exists(), timeout=90), first_worker.output()
    owner = fresh(task).worker
    first_worker.stop(signal.SIGKILL)
    second_worker = celery_live()
    # The beat's reconcile: nothing is re-queued while the heartbeat is fresh, then the task is.
    requeued = wait_for(lambda: tasks_services.reconcile()["requeued"], timeout=30, interval=1.0)
    assert requeued == [task.pk]
    assert wait_for(lambda: (t := fresh(task)).claim_token and t.worker != owner
                    and t.status == "running", timeout=60), second_worker.output()
    killed_at = time.time()
    assert wait_for(lambda: alert_times(task)[-1] > killed_at, timeout=60), "no alert after the restart"
    retrying(lambda: tasks_services.stop_task(fresh(task)))
    assert_cooldown_held(alert_times(task))
