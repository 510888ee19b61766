"""Benchmark: the monitoring pipeline against the raw model, in one run.

Baseline: the shipped person detector's ``predict`` on the same frames at batch sizes 1, 4 and 16
(frames/s). Pipeline: 1, 4 and 16 streams on one worker process, each a real loop thread: decode the
generated H.264 clip (capture), share one BatchPredictor (batching across streams), apply the rules, and
raise alerts (row + annotated JPEG + push) with a cooldown. Reports medians, the pipeline/raw ratio at
the same batch size, and the frame-to-push alert latency (p50/p95) against one inference time.

    .venv/bin/python bench/bench_pipeline.py --quick      # ~2-3 minutes on 2 CPU cores
    .venv/bin/python bench/bench_pipeline.py              # more frames per run
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_var = tempfile.mkdtemp(prefix="aimonitor-bench-")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ["AIMONITOR_VAR_DIR"] = _var
os.environ.setdefault("LOG_TO_FILES", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("DATABASE_URL", "")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimonitor.settings")

import django  # noqa: E402

django.setup()

import cv2  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402


def clip_frames(path: Path, count: int) -> list:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        frames.append(frame)
    capture.release()
    return frames


def raw_throughput(predictor, frames, batch: int, repeats: int) -> float:
    """Median frames/s of predict() on ``batch`` frames at a time."""
    rates = []
    for i in range(repeats):
        chunk = [frames[(i * batch + j) % len(frames)] for j in range(batch)]
        started = time.perf_counter()
        predictor.predict(chunk)
        rates.append(batch / (time.perf_counter() - started))
    return statistics.median(rates)


def pipeline_throughput(task_ids, clip: Path, frames_per_stream: int, latencies: list) -> tuple[float, float]:
    """Runs one loop thread per task for ``frames_per_stream`` frames; returns (frames/s, mean batch)."""
    from streams import worker
    from streams.models import MonitorTask
    from streams.rules import RuleEngine

    tasks = [MonitorTask.objects.select_related("stream", "algorithm").get(pk=pk) for pk in task_ids]
    batcher = worker.batcher_for(tasks[0].algorithm)
    batcher.max_batch = len(tasks)
    batches_before = batcher.batches
    barrier = threading.Barrier(len(tasks) + 1)

    def loop(task):
        try:
            runner = worker.TaskRunner(task.pk, "bench")
            rules = RuleEngine(task.config)
            capture = cv2.VideoCapture(str(clip))
            barrier.wait()
            for _ in range(frames_per_stream):
                ok, image = capture.read()
                if not ok:
                    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, image = capture.read()
                frame = type("Frame", (), {"timestamp": time.time(), "image": image})()
                alerts_before = task.alerts.count() if latencies is not None else 0
                before = time.time()
                runner.process(task, rules, batcher, frame)
                if latencies is not None and task.alerts.count() > alerts_before:
                    latencies.append((time.time() - before) * 1000)
            capture.release()
        finally:
            connection.close()

    threads = [threading.Thread(target=loop, args=(task,)) for task in tasks]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    batches = batcher.batches - batches_before
    total = frames_per_stream * len(tasks)
    return total / elapsed, total / max(1, batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer frames per run (a few minutes on 2 cores)")
    parser.add_argument("--streams", default="1,4,16")
    args = parser.parse_args()
    per_stream_frames = {1: 16, 4: 8, 16: 4} if args.quick else {1: 48, 4: 24, 16: 8}
    repeats = 3 if args.quick else 7

    call_command("migrate", verbosity=0)
    from streams import ports
    from streams.demo import generate_clip, person_detector
    from streams.models import MonitorTask, VideoStream
    from streams.rules import normalise_config

    clip = generate_clip(Path(_var) / "bench.mp4", seconds_per_picture=2.0)
    algorithm = person_detector()
    algorithm.config = {**algorithm.config, "max_batch_size": 16}
    algorithm.save()
    frames = clip_frames(clip, 16)
    predictor = ports.get_predictor(algorithm)
    predictor.predict(frames[:1])  # warm-up, as a worker does once per process

    import torch

    print(f"device: cpu, torch threads {torch.get_num_threads()}, frames 640x480, model {Path(algorithm.weights).name}")
    print(f"{'streams':>7} {'raw fps':>9} {'pipeline fps':>13} {'ratio':>6} {'mean batch':>10}")
    for n in [int(s) for s in args.streams.split(",")]:
        stream = VideoStream.objects.create(name=f"bench-{n}", url=str(clip), type="file")
        task_ids = [MonitorTask.objects.create(
            name=f"bench-{n}-{i}", stream=stream, algorithm=algorithm,
            config=normalise_config({"cooldown_seconds": 10})).pk for i in range(n)]
        raw = raw_throughput(predictor, frames, n, repeats)
        runs = [pipeline_throughput(task_ids, clip, per_stream_frames.get(n, 4), None) for _ in range(repeats)]
        fps = statistics.median(r[0] for r in runs)
        batch = statistics.median(r[1] for r in runs)
        print(f"{n:>7} {raw:>9.2f} {fps:>13.2f} {fps / raw:>6.2f} {batch:>10.1f}")

    # Alert latency: one stream, cooldown 0 so every frame with a person is an alert.
    stream = VideoStream.objects.create(name="bench-latency", url=str(clip), type="file")
    task = MonitorTask.objects.create(name="bench-latency", stream=stream, algorithm=algorithm,
                                      config=normalise_config({"cooldown_seconds": 0}))
    inference = [raw_throughput(predictor, frames, 1, 1) for _ in range(repeats)]
    inference_ms = 1000 / statistics.median(inference)
    latencies: list[float] = []
    pipeline_throughput([task.pk], clip, 8 if args.quick else 30, latencies)
    latencies.sort()
    p50 = statistics.median(latencies)
    p95 = latencies[min(len(latencies) - 1, int(round(0.95 * (len(latencies) - 1))))]
    print(f"alert latency, frame to push handed to the channel layer (n={len(latencies)}): "
          f"p50 {p50:.0f} ms, p95 {p95:.0f} ms; one inference {inference_ms:.0f} ms; "
          f"target p95 <= inference + 100 ms = {inference_ms + 100:.0f} ms: "
          f"{'met' if p95 <= inference_ms + 100 else 'NOT met'}")


if __name__ == "__main__":
    main()
