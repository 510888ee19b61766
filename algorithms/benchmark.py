"""Inference timing shared by the ``bench_inference`` command and ``bench/bench_inference.py``.

Every figure compares paths on the same frames in the same run: raw ultralytics ``predict`` (the
baseline) against the engine's ``Predictor.predict`` (which adds batching and the conversion to
``Detection``), batch 1 against batch N, and whichever weights formats are given.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .engine import Predictor


def sample_frames(count: int, size: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    """``count`` camera-sized BGR frames cycling through the pictures that ship with ultralytics
    (people in a street and on a pitch), each shifted a little so no two frames are identical."""
    import ultralytics

    assets = Path(ultralytics.__file__).parent / "assets"
    pictures = [cv2.resize(cv2.imread(str(assets / name)), size) for name in ("bus.jpg", "zidane.jpg")]
    frames = []
    for i in range(count):
        frame = pictures[i % len(pictures)]
        frames.append(np.roll(frame, shift=(i * 7) % 40, axis=1))
    return frames


@dataclass
class Timing:
    label: str
    batch: int
    frames: int
    per_frame_ms: float  # median over calls of (call time / frames in the call)
    throughput_fps: float  # frames / total time
    preprocess_ms: float | None = None  # ultralytics' own split, per frame (raw path only)
    inference_ms: float | None = None
    postprocess_ms: float | None = None


def _chunks(frames, batch):
    return [frames[i:i + batch] for i in range(0, len(frames), batch)]


def time_raw(predictor: Predictor, frames: list[np.ndarray], batch: int, label: str = "raw ultralytics",
             rounds: int = 1) -> Timing:
    """The baseline: ultralytics' ``predict`` on the engine's own model object with the same
    arguments, results left as ultralytics returns them."""
    opts = predictor.options
    kwargs = {"conf": opts.conf, "iou": opts.iou, "imgsz": opts.imgsz, "device": predictor.device,
              "verbose": False}
    if predictor.half:
        kwargs["quantize"] = 16
    per_frame, total, splits = [], 0.0, []
    for _ in range(rounds):
        for chunk in _chunks(frames, batch):
            started = time.perf_counter()
            results = predictor.model.predict(chunk, batch=len(chunk), **kwargs)
            elapsed = (time.perf_counter() - started) * 1000
            per_frame.append(elapsed / len(chunk))
            total += elapsed
            splits.append(results[0].speed)
    n = len(frames) * rounds
    return Timing(label, batch, n, statistics.median(per_frame), n * 1000 / total,
                  statistics.median(s["preprocess"] for s in splits),
                  statistics.median(s["inference"] for s in splits),
                  statistics.median(s["postprocess"] for s in splits))


def time_engine(predictor: Predictor, frames: list[np.ndarray], batch: int, label: str = "engine",
                rounds: int = 1) -> Timing:
    options = predictor.run_options({"max_batch_size": batch})
    per_frame, total = [], 0.0
    for _ in range(rounds):
        for chunk in _chunks(frames, batch):
            started = time.perf_counter()
            predictor.predict(chunk, options)
            elapsed = (time.perf_counter() - started) * 1000
            per_frame.append(elapsed / len(chunk))
            total += elapsed
    n = len(frames) * rounds
    return Timing(label, batch, n, statistics.median(per_frame), n * 1000 / total)


def warm(predictor: Predictor, frames: list[np.ndarray], batch: int) -> None:
    predictor.predict(frames[:batch], predictor.run_options({"max_batch_size": batch}))


def format_table(rows: list[Timing]) -> str:
    lines = [f"{'path':<28} {'batch':>5} {'frames':>6} {'ms/frame':>9} {'fps':>7} {'pre':>6} {'model':>7} {'post':>6}"]
    for r in rows:
        split = (f"{r.preprocess_ms:>6.1f} {r.inference_ms:>7.1f} {r.postprocess_ms:>6.1f}"
                 if r.inference_ms is not None else f"{'':>6} {'':>7} {'':>6}")
        lines.append(f"{r.label:<28} {r.batch:>5} {r.frames:>6} {r.per_frame_ms:>9.1f} "
                     f"{r.throughput_fps:>7.2f} {split}")
    return "\n".join(lines)


def compare(predictor: Predictor, frames: list[np.ndarray], batches: list[int], name: str = "",
            rounds: int = 1) -> tuple[list[Timing], list[str]]:
    """Raw vs engine at each batch size (interleaved, so drifting machine load hits both alike).
    Returns the timings and summary lines: engine overhead, ultralytics' pre/post share, batch gain."""
    rows: list[Timing] = []
    notes: list[str] = []
    for batch in batches:
        warm(predictor, frames, batch)
        raw = time_raw(predictor, frames, batch, f"{name}raw ultralytics".strip(), rounds)
        eng = time_engine(predictor, frames, batch, f"{name}engine".strip(), rounds)
        raw2 = time_raw(predictor, frames, batch, f"{name}raw ultralytics".strip(), rounds)
        # Two raw runs around the engine run: their mean is the baseline the engine is held against.
        base = (raw.per_frame_ms + raw2.per_frame_ms) / 2
        rows += [raw, eng]
        overhead = eng.per_frame_ms / base - 1
        pre_post = ((raw.preprocess_ms + raw.postprocess_ms) / raw.inference_ms) if raw.inference_ms else 0.0
        notes.append(f"{name}batch {batch}: engine overhead vs raw predict {overhead * 100:+.1f}% "
                     f"(raw {base:.1f} ms/frame, engine {eng.per_frame_ms:.1f}); ultralytics pre+post = "
                     f"{pre_post * 100:.1f}% of model time")
    engines = [r for r in rows if r.label.endswith("engine")]
    if len(engines) > 1:
        first, last = engines[0], engines[-1]
        notes.append(f"{name}batch {last.batch} vs {first.batch}: {first.per_frame_ms / last.per_frame_ms:.2f}x "
                     f"per-frame speed ({last.per_frame_ms:.1f} vs {first.per_frame_ms:.1f} ms/frame)")
    return rows, notes
