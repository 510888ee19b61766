"""The worker loop in this process with real parts: a generated H.264 clip read through OpenCV, the
shipped YOLO person detector, the rules, and real alert rows with annotated snapshots."""
from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from django.db import OperationalError, connection

from streams import tasks_services, worker
from streams.models import MonitorTask
from tests.media import bus_image, zidane_image
from tests.monitoring.factories import make_algorithm, make_stream, make_task

# The loops run in threads with their own connections: committed data, no test transaction. Tasks
# are marked as started directly (start_task would queue a loop, which eager Celery runs inline).
pytestmark = pytest.mark.django_db(transaction=True)


def retrying(read, attempts: int = 50):
    """Runs a read; SQLite's shared in-memory test database answers "table is locked" while the
    worker thread writes, so try again (PostgreSQL never does)."""
    for attempt in range(attempts):
        try:
            return read()
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05)


def wait_for(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = retrying(predicate)
        if value:
            return value
        time.sleep(interval)
    return retrying(predicate)


def expected_boxes() -> dict[str, list[list[float]]]:
    """What the detector finds on the clip's two pictures at the clip's size (the baseline)."""
    from ultralytics import YOLO

    from tests.media import fall_detector_weights

    model = YOLO(str(fall_detector_weights()))
    found = {}
    for name, image in (("bus", bus_image()), ("zidane", zidane_image())):
        result = model.predict(cv2.resize(image, (640, 480)), conf=0.5, verbose=False)[0]
        found[name] = [list(map(float, b)) for b, c in zip(result.boxes.xyxy.tolist(), result.boxes.cls.tolist(),
                                                           strict=True) if int(c) == 0]
    return found


def matches_one_of(box, candidates, tolerance=16.0) -> bool:
    return any(np.max(np.abs(np.array(box) - np.array(c))) <= tolerance for c in candidates)


def run_in_thread(task_id):
    outcome = {}

    def target():
        try:
            outcome["result"] = worker.run_task(task_id)
        finally:
            connection.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def test_a_running_task_raises_one_alert_with_correct_boxes_and_snapshot(people_clip, settings):
    settings.MONITOR_HEARTBEAT_SECONDS = 0.5
    from alerts.models import Alert

    stream = make_stream("Demo clip", url=str(people_clip), type="file")
    task = make_task(stream=stream, algorithm=make_algorithm(),
                     config={"target_classes": ["Normal"], "cooldown_seconds": 3600, "sample_fps": 2},
                     desired_running=True, status="starting")
    thread, outcome = run_in_thread(task.pk)
    try:
        alert = wait_for(lambda: Alert.objects.filter(task=task).first(), timeout=60)
        assert alert is not None, "no alert within 60 s"
        assert wait_for(lambda: MonitorTask.objects.get(pk=task.pk).frames_processed >= 6, timeout=30)
        status = tasks_services.status_payload(MonitorTask.objects.get(pk=task.pk))
        assert status["status"] == "running" and status["current_fps"] > 0 and status["worker"]
        assert status["detected_objects"] and status["detected_objects"][0]["class"] == "Normal"
    finally:
        tasks_services.stop_task(MonitorTask.objects.get(pk=task.pk))
        thread.join(timeout=15)
    assert not thread.is_alive() and outcome["result"] == "stopped"

    # Cooldown: one person standing in view (or four) is one alert for the whole run.
    assert Alert.objects.filter(task=task).count() == 1
    alert.refresh_from_db()
    assert (alert.stream_id, alert.algorithm_id, alert.type, alert.level) == (
        stream.pk, task.algorithm_id, "intrusion_detection", "warning")
    detections = alert.metadata["detections"]
    assert detections and {d["class"] for d in detections} == {"Normal"}
    baseline = expected_boxes()
    picture = "bus" if len(detections) > 2 else "zidane"
    assert all(matches_one_of(d["bbox"], baseline[picture]) for d in detections), (detections, baseline)
    snapshot = cv2.imdecode(np.frombuffer(alert.snapshot.read(), np.uint8), cv2.IMREAD_COLOR)
    assert snapshot.shape == (480, 640, 3)
    task.refresh_from_db()
    assert (task.status, task.claim_token, task.desired_running) == ("stopped", "", False)


def test_a_bad_weights_file_puts_the_task_in_error(tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    task = make_task(algorithm=make_algorithm(name="Broken", weights=str(broken)), desired_running=True)
    assert worker.run_task(task.pk) == "error"
    task.refresh_from_db()
    assert task.status == "error" and task.desired_running is False
    assert "Cannot load the algorithm" in task.error


def test_a_second_copy_of_the_loop_does_not_run_a_claimed_task():
    task = make_task(desired_running=True)
    assert tasks_services.claim_task(task.pk, "elsewhere:1")
    assert worker.run_task(task.pk) == "not-claimed"


def test_frames_from_several_tasks_share_one_predict_call():
    """The batcher puts frames that arrive together into one predict call."""
    calls = []

    class CountingPredictor:
        def predict(self, frames):
            calls.append(len(frames))
            time.sleep(0.05)
            return [[] for _ in frames]

    algorithm = make_algorithm(name="Counting")
    batcher = worker.BatchPredictor(algorithm, CountingPredictor(), max_batch=8, wait_ms=50)
    frame = np.zeros((48, 64, 3), np.uint8)
    results, threads = [], []
    for _ in range(4):
        threads.append(threading.Thread(target=lambda: results.append(batcher.predict(frame))))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and sum(calls) == 4
    assert max(calls) >= 2 and len(calls) < 4
