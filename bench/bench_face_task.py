"""Benchmark: a face-recognition monitoring task against raw face recognition, in one run.

Baseline: ``faces.services.recognise`` (YuNet + SFace + FAISS search) on the same 640x480 frames,
one frame at a time (frames/s). Pipeline: the worker's ``TaskRunner.process`` for a face task on those
frames: ``FacePredictor`` (through ``streams.ports``), the face rules, and the alerts it raises (row +
annotated snapshot + face crop + push) with a per-person cooldown. A second figure measures what a
face loop costs a detection task on the same worker: the YOLO person detector's per-frame time
alone and while a face loop runs in another thread of the process. Medians and ratios are printed.

    .venv/bin/python bench/bench_face_task.py --quick     # about a minute on 2 CPU cores
    .venv/bin/python bench/bench_face_task.py             # more frames per run
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
import numpy as np  # noqa: E402
from django.core.management import call_command  # noqa: E402


def frames() -> list[np.ndarray]:
    from tests import media

    def on_canvas(image, size, x, y):
        canvas = np.full((480, 640, 3), 90, np.uint8)
        canvas[y:y + size, x:x + size] = cv2.resize(image, (size, size))
        return canvas

    astronaut = media.astronaut_image()
    return [on_canvas(astronaut, 448, 96, 16), cv2.resize(media.bus_image(), (640, 480)),
            on_canvas(astronaut, 360, 0, 100), cv2.resize(media.zidane_image(), (640, 480))]


def rate(run, images, count: int) -> float:
    """Frames/s of ``run(image)`` over ``count`` frames."""
    started = time.perf_counter()
    for i in range(count):
        run(images[i % len(images)])
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer frames per run (about a minute on 2 cores)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    per_run = 40 if args.quick else 200
    call_command("migrate", verbosity=0)

    from faces import services
    from faces.models import FaceLibrary
    from faces.seed import ensure_face_algorithm
    from streams import worker
    from streams.models import MonitorTask, VideoStream
    from streams.rules import normalise_config
    from tests import media
    from tests.monitoring.factories import make_algorithm

    watchlist = FaceLibrary.objects.create(name="watchlist", is_watchlist=True)
    services.enroll(library=watchlist, name="Eileen Collins", person_id="astro-1",
                    image_bytes=media.jpeg_bytes(media.astronaut_image()))
    images = frames()
    algorithm = ensure_face_algorithm()
    stream = VideoStream.objects.create(name="Bench", url="rtsp://127.0.0.1:1/none")
    task = MonitorTask.objects.create(name="Bench faces", stream=stream, algorithm=algorithm,
                                      config=normalise_config({"cooldown_seconds": 60, "alert_strangers": True},
                                                              kind=algorithm.kind))
    services.recognise(images[0], libraries=[watchlist.pk])  # load the models once

    raw, pipeline = [], []
    for _ in range(args.repeats):
        raw.append(rate(lambda image: services.recognise(image, libraries=[watchlist.pk]), images, per_run))
        runner = worker.TaskRunner(task.pk, "bench")
        predictor, rules = worker.pipeline_for(task)

        def process(image, runner=runner, predictor=predictor, rules=rules):
            frame = type("Frame", (), {"timestamp": time.time(), "image": image})()
            runner.process(task, rules, predictor, frame)

        pipeline.append(rate(process, images, per_run))
    raw_fps, pipe_fps = statistics.median(raw), statistics.median(pipeline)
    print(f"face recognition, 640x480, {per_run} frames x {args.repeats} runs (medians)")
    print(f"  raw recognise():        {raw_fps:7.1f} frames/s ({1000 / raw_fps:.1f} ms/frame)")
    print(f"  face task pipeline:     {pipe_fps:7.1f} frames/s ({1000 / pipe_fps:.1f} ms/frame)")
    print(f"  pipeline / raw:         {pipe_fps / raw_fps:7.2f}")

    # What a face loop costs a detection task of the same worker: the YOLO detector alone, then with a
    # face loop running flat out in another thread.
    detector = worker.batcher_for(make_algorithm(name="Bench detector"))
    detector.predict(images[0])
    yolo_runs = max(10, per_run // 4)

    def yolo_ms() -> float:
        times = []
        for i in range(yolo_runs):
            started = time.perf_counter()
            detector.predict(images[i % len(images)])
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    alone = yolo_ms()
    stop = threading.Event()

    def face_loop():
        i = 0
        while not stop.is_set():
            services.recognise(images[i % len(images)], libraries=[watchlist.pk])
            i += 1

    thread = threading.Thread(target=face_loop, daemon=True)
    thread.start()
    try:
        shared = yolo_ms()
    finally:
        stop.set()
        thread.join()
    print(f"  YOLO frame alone:       {alone:7.1f} ms (median of {yolo_runs})")
    print(f"  YOLO beside a face loop:{shared:7.1f} ms  (x{shared / alone:.2f}; {os.cpu_count()} CPU cores)")


if __name__ == "__main__":
    main()
