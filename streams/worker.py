"""The monitoring loop: capture -> batch -> predict -> rules -> alert, with a heartbeat.

Each running task is one :class:`TaskRunner` in one Celery pool thread (``run_monitor_task``). The
runners of one worker process share a :class:`BatchPredictor` per algorithm: frames that arrive
together from several streams go through one ``predict`` call. A process-wide stop event ends every
loop on worker shutdown (SIGTERM), and each loop releases its task so another worker takes it over.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection

from aimonitor.live import broadcast, task_group

from . import ports, schedule, tasks_services
from .choices import TaskStatus
from .models import MonitorTask
from .rules import AlertSpec, RuleEngine

logger = logging.getLogger(__name__)

SHUTDOWN = threading.Event()
_local_runners: dict[int, TaskRunner] = {}
_local_lock = threading.Lock()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def request_local_stop(task_id: int) -> None:
    """Stops the loop of ``task_id`` at once if it runs in this process (others notice at heartbeat)."""
    with _local_lock:
        runner = _local_runners.get(task_id)
    if runner is not None:
        runner.stop.set()


def shutdown(timeout: float = 10.0) -> None:
    """Ends every loop of this process and waits for them to release their tasks (worker shutdown)."""
    SHUTDOWN.set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _local_lock:
            if not _local_runners:
                return
        time.sleep(0.05)


def local_task_ids() -> list[int]:
    with _local_lock:
        return sorted(_local_runners)


# --- Batching across the streams one process serves --------------------------------------------

class BatchPredictor:
    """Collects frames from every loop of this process that uses one algorithm and runs them through
    one ``predict`` call: the first waiting frame waits at most ``wait_ms`` for company, and a batch
    never exceeds ``max_batch``."""

    def __init__(self, algorithm, predictor, *, max_batch: int, wait_ms: float):
        self.algorithm_id = algorithm.pk
        self.predictor = predictor
        self.max_batch = max(1, max_batch)
        self.wait = wait_ms / 1000.0
        self.pending: list[tuple] = []
        self.cond = threading.Condition()
        self.batches = 0
        self.thread = threading.Thread(target=self._run, name=f"batch:{algorithm.pk}", daemon=True)
        self.thread.start()

    def predict(self, image) -> tuple[list, float, int]:
        """(detections, inference ms of the batch, batch size) for one frame."""
        future: Future = Future()
        with self.cond:
            self.pending.append((image, future))
            self.cond.notify_all()
        return future.result()

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.pending:
                    self.cond.wait()
                deadline = time.monotonic() + self.wait
                while len(self.pending) < self.max_batch:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.cond.wait(left)
                batch, self.pending = self.pending[:self.max_batch], self.pending[self.max_batch:]
            images = [image for image, _ in batch]
            started = time.perf_counter()
            try:
                results = self.predictor.predict(images)
            except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
                for _, future in batch:
                    future.set_exception(exc)
                continue
            elapsed = (time.perf_counter() - started) * 1000
            self.batches += 1
            for (_, future), detections in zip(batch, results, strict=True):
                future.set_result((detections, elapsed, len(batch)))
            try:
                ports.record_inference(self.algorithm_id, len(batch), elapsed)
            except Exception:  # noqa: BLE001 - statistics must not stop the loop
                logger.warning("record_inference failed", exc_info=True)
            finally:
                # This thread lives as long as the process: never keep a connection it opened.
                connection.close()


_batchers: dict[tuple, BatchPredictor] = {}
_batchers_lock = threading.Lock()


def batcher_for(algorithm) -> BatchPredictor:
    """The process's batcher for ``algorithm`` (its model loaded once; a new weights file, a new one)."""
    key = (algorithm.pk, algorithm.weights, algorithm.weights_sha256)
    with _batchers_lock:
        batcher = _batchers.get(key)
        if batcher is None:
            max_batch = int((algorithm.config or {}).get("max_batch_size", 8))
            batcher = BatchPredictor(algorithm, ports.get_predictor(algorithm), max_batch=max_batch,
                                     wait_ms=settings.MONITOR_BATCH_WAIT_MS)
            _batchers[key] = batcher
        return batcher


def pipeline_for(task: MonitorTask):
    """What a task's frames go through: ``(predictor, rules)``. A detection task shares the process's
    YOLO batcher for its algorithm; a face-recognition task gets its own per-frame face recogniser
    (``streams.face_rules``). Both answer ``predict(image)`` and ``evaluate(...)`` alike."""
    from . import face_rules

    if face_rules.is_face_kind(task.algorithm.kind):
        return (face_rules.FacePredictor(task.algorithm, task.config),
                face_rules.FaceRuleEngine(task.config, last_fired=_last_fired(task)))
    return batcher_for(task.algorithm), RuleEngine(task.config, last_fired=_last_fired(task))


# --- One task's loop ---------------------------------------------------------------------------

def _process_stats() -> dict:
    import psutil

    proc = psutil.Process()
    stats = {"cpu_usage": proc.cpu_percent(None), "memory_usage": round(proc.memory_info().rss / 2**20, 1),
             "gpu_usage": None}
    # Only when the engine already loaded torch: importing it here would cost seconds.
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        stats["gpu_usage"] = round(torch.cuda.memory_allocated() / 2**20, 1)
    return stats


def _last_fired(task: MonitorTask) -> dict[str, float]:
    """Cooldown clocks from the task's recent alerts, so a restarted loop does not alert twice."""
    from alerts.models import Alert

    since = datetime.now(UTC) - timedelta(seconds=task.config.get("cooldown_seconds", 60))
    fired: dict[str, float] = {}
    for meta, when in Alert.objects.filter(task=task, detection_time__gte=since).values_list(
            "metadata", "detection_time"):
        for key in (meta or {}).get("rule_keys", []):
            fired[key] = max(fired.get(key, 0.0), when.timestamp())
    return fired


class TaskRunner:
    """Runs one claimed task until it is stopped, deleted, claimed elsewhere, or the process stops."""

    def __init__(self, task_id: int, token: str):
        self.task_id = task_id
        self.token = token
        self.stop = threading.Event()
        self.frames_since_beat = 0
        self.fps_window: list[float] = []
        self.inference_ms = 0.0
        self.last_frame_time: datetime | None = None
        self.detected: dict[str, list[float]] = {}
        self.last_detection_push = 0.0

    def stopping(self) -> bool:
        return self.stop.is_set() or SHUTDOWN.is_set()

    def load(self) -> MonitorTask | None:
        return MonitorTask.objects.select_related("stream", "algorithm").filter(pk=self.task_id).first()

    def run(self) -> str:
        with _local_lock:
            _local_runners[self.task_id] = self
        reader = None
        outcome = "stopped"
        try:
            task = self.load()
            if task is None:
                return "gone"
            try:
                batcher, rules = pipeline_for(task)
            except Exception as exc:  # noqa: BLE001 - a bad weights file is the task's error, not a crash
                logger.warning("Monitor task %s: cannot load algorithm %s: %s", task.pk, task.algorithm_id, exc)
                tasks_services.release_task(task.pk, self.token, error=f"Cannot load the algorithm: {exc}")
                outcome = "error"
                return outcome
            # Loading a model takes seconds: say so at once, before the reconcile thinks the loop is lost.
            if self.beat(TaskStatus.STARTING) is None:
                return outcome
            known_updated = task.updated_at
            sample_fps = task.config.get("sample_fps", 2.0)
            status = TaskStatus.RUNNING
            next_beat = 0.0
            while not self.stopping():
                active = schedule.is_active(task.schedule_type, task.schedule_config)
                status = TaskStatus.RUNNING if active else TaskStatus.WAITING
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + settings.MONITOR_HEARTBEAT_SECONDS
                    try:
                        reply = self.beat(status)
                    except DatabaseError:
                        # A busy or briefly unreachable database is not a reason to drop the camera;
                        # the reconcile takes over only if heartbeats stay missing.
                        logger.warning("Monitor task %s: heartbeat failed; retrying", self.task_id, exc_info=True)
                        continue
                    if reply is None:
                        break
                    if reply.updated_at != known_updated:
                        task = self.load()
                        if task is None:
                            break
                        known_updated = task.updated_at
                        rules.update_config(task.config)
                        if hasattr(batcher, "update_config"):
                            batcher.update_config(task.config)
                        if reader is not None and task.config.get("sample_fps") != sample_fps:
                            reader.close()
                            reader = None
                        sample_fps = task.config.get("sample_fps", 2.0)
                        continue
                if not active:
                    if reader is not None:
                        reader.close()
                        reader = None
                    self.stop.wait(1.0)
                    continue
                if reader is None:
                    reader = ports.open_reader(task.stream, sample_fps=sample_fps)
                frame = reader.get(timeout=0.5)
                if frame is None:
                    continue
                self.process(task, rules, batcher, frame)
        except Exception as exc:
            logger.exception("Monitor task %s crashed", self.task_id)
            outcome = "error"
            tasks_services.release_task(self.task_id, self.token, error=f"The loop failed: {exc}")
        finally:
            if reader is not None:
                reader.close()
            with _local_lock:
                _local_runners.pop(self.task_id, None)
            if outcome != "error":
                # On shutdown another worker takes the task over; otherwise it was stopped or moved.
                tasks_services.release_task(self.task_id, self.token, requeue=SHUTDOWN.is_set())
            connection.close()
        return outcome

    def beat(self, status: str):
        now = time.monotonic()
        self.fps_window = [t for t in self.fps_window if now - t <= 5.0]
        span = (self.fps_window[-1] - self.fps_window[0]) if len(self.fps_window) > 1 else 0.0
        fps = (len(self.fps_window) - 1) / span if span > 0 else 0.0
        objects = [{"class": name, "confidence": round(max(confs), 3), "count": len(confs)}
                   for name, confs in sorted(self.detected.items())]
        reply = tasks_services.heartbeat(
            self.task_id, self.token, status=status, fps=round(fps, 2), inference_ms=round(self.inference_ms, 1),
            frames=self.frames_since_beat, last_frame_time=self.last_frame_time,
            live_stats={**_process_stats(), "detected_objects": objects})
        self.frames_since_beat = 0
        return reply

    def process(self, task: MonitorTask, rules, batcher, frame) -> None:
        image = frame.image
        height, width = image.shape[:2]
        detections, elapsed_ms, _ = batcher.predict(image)
        self.inference_ms = elapsed_ms
        self.frames_since_beat += 1
        self.fps_window.append(time.monotonic())
        frame_time = datetime.fromtimestamp(frame.timestamp, UTC)
        self.last_frame_time = frame_time
        matches, decision = rules.evaluate(detections, width, height, frame.timestamp)
        self.detected = {}
        for match in matches:
            self.detected.setdefault(match.detection.class_name, []).append(float(match.detection.confidence))
        if matches and time.monotonic() - self.last_detection_push >= settings.MONITOR_DETECTION_PUSH_SECONDS:
            self.last_detection_push = time.monotonic()
            broadcast(task_group(task.pk), {
                "type": "detection", "task": task.pk, "frame_time": frame_time.isoformat(),
                "width": width, "height": height, "detections": [m.to_dict() for m in matches]})
        if decision is None:
            return
        for spec in decision.alerts():
            try:
                self.raise_alert(task, spec, image, frame_time, width, height)
            except DatabaseError:
                # Not written: forget the cooldown it started so the next frame raises it again.
                for key in spec.keys:
                    rules.last_fired.pop(key, None)
                logger.warning("Monitor task %s: alert not written; retrying on the next frame", task.pk,
                               exc_info=True)

    def raise_alert(self, task, spec: AlertSpec, image, frame_time, width, height) -> None:
        ports.raise_alert(
            alert_type=spec.alert_type, level=spec.level, detections=spec.detections, frame=image, task=task,
            stream=task.stream, algorithm=task.algorithm, regions=task.config.get("region_of_interest") or None,
            detection_time=frame_time,
            metadata={**spec.metadata, "rule_keys": spec.keys, "frame_size": [width, height]},
            extra_images=spec.extra_images or None)


def run_task(task_id: int) -> str:
    """Claims ``task_id`` and runs its loop in the calling thread; returns how it ended."""
    if SHUTDOWN.is_set():
        return "shutting-down"
    token = tasks_services.claim_task(task_id, worker_name())
    if token is None:
        return "not-claimed"
    return TaskRunner(task_id, token).run()
