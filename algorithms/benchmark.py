"""Inference timing shared by the ``bench_inference`` command and ``bench/bench_inference.py``.

Every figure compares paths on the same frames in the same run, interleaved batch by batch so that
a machine whose load drifts (2 shared cores) hits both sides alike:
- raw ultralytics ``predict`` (the baseline) against the engine's ``Predictor.predict``;
- the engine's overhead as a share of raw model time, measured inside the same calls:
  ultralytics' pre-processing (letterbox) and post-processing (NMS) plus the engine's own frame
  checks and conversion to ``Detection``, over the model's forward time;
- batch 1 against batch N, and whichever weights formats the caller gives.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
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
    return [np.roll(pictures[i % len(pictures)], shift=(i * 7) % 40, axis=1) for i in range(count)]


@dataclass
class Timing:
    label: str
    batch: int
    per_frame: list[float] = field(default_factory=list)  # ms, one value per call
    total_ms: float = 0.0
    frames: int = 0
    model_ms: list[float] = field(default_factory=list)  # per frame, ultralytics' own split
    pre_post_ms: list[float] = field(default_factory=list)
    convert_ms: list[float] = field(default_factory=list)  # per frame, the engine's conversion

    def add(self, elapsed_ms: float, n: int) -> None:
        self.per_frame.append(elapsed_ms / n)
        self.total_ms += elapsed_ms
        self.frames += n

    @property
    def ms_per_frame(self) -> float:
        return statistics.median(self.per_frame)

    @property
    def fps(self) -> float:
        return self.frames * 1000 / self.total_ms if self.total_ms else 0.0

    @property
    def overhead_share(self) -> float | None:
        """(pre + post + conversion) / model time, medians per frame."""
        if not self.model_ms:
            return None
        return (statistics.median(self.pre_post_ms) + statistics.median(self.convert_ms or [0.0])) / \
            statistics.median(self.model_ms)


def _chunks(frames, batch):
    return [frames[i:i + batch] for i in range(0, len(frames), batch)]


def measure(predictor: Predictor, frames: list[np.ndarray], batch: int, name: str = "",
            rounds: int = 1) -> tuple[Timing, Timing]:
    """Raw ultralytics predict and the engine, alternating on each batch of the same frames."""
    options = predictor.run_options({"max_batch_size": batch})
    raw, eng = Timing(f"{name}raw ultralytics", batch), Timing(f"{name}engine", batch)
    predictor.predict(frames[:batch], options)  # warm this batch shape
    for _ in range(rounds):
        for chunk in _chunks(frames, batch):
            started = time.perf_counter()
            predictor.forward(chunk, options)
            raw.add((time.perf_counter() - started) * 1000, len(chunk))

            started = time.perf_counter()
            results = predictor.predict(chunk, options)
            eng.add((time.perf_counter() - started) * 1000, len(chunk))

            # The same work again, split: ultralytics' stages (its own per-image timings) and ours.
            started = time.perf_counter()
            out = predictor.forward(chunk, options)
            middle = time.perf_counter()
            predictor.to_detections(out)
            convert = (time.perf_counter() - middle) * 1000
            speed = out[0].speed
            eng.model_ms.append(speed["inference"])
            eng.pre_post_ms.append(speed["preprocess"] + speed["postprocess"])
            eng.convert_ms.append(convert / len(chunk))
            assert len(results) == len(chunk)
    return raw, eng


def format_table(rows: list[Timing]) -> str:
    lines = [f"{'path':<24} {'batch':>5} {'frames':>6} {'ms/frame':>9} {'fps':>7} {'model ms':>9} "
             f"{'pre+post':>9} {'convert':>8}"]
    for r in rows:
        split = (f"{statistics.median(r.model_ms):>9.1f} {statistics.median(r.pre_post_ms):>9.2f} "
                 f"{statistics.median(r.convert_ms):>8.3f}" if r.model_ms else "")
        lines.append(f"{r.label:<24} {r.batch:>5} {r.frames:>6} {r.ms_per_frame:>9.1f} {r.fps:>7.2f} {split}")
    return "\n".join(lines)


def compare(predictor: Predictor, frames: list[np.ndarray], batches: list[int], name: str = "",
            rounds: int = 1) -> tuple[list[Timing], list[str]]:
    """Raw vs engine at each batch size; returns the timings and summary lines."""
    rows: list[Timing] = []
    notes: list[str] = []
    for batch in batches:
        raw, eng = measure(predictor, frames, batch, name, rounds)
        rows += [raw, eng]
        notes.append(f"{name}batch {batch}: engine {eng.ms_per_frame:.1f} vs raw {raw.ms_per_frame:.1f} ms/frame "
                     f"({(eng.ms_per_frame / raw.ms_per_frame - 1) * 100:+.1f}% end to end); overhead "
                     f"(pre+post+conversion) = {eng.overhead_share * 100:.1f}% of model time")
    engines = [r for r in rows if r.label.endswith("engine")]
    if len(engines) > 1:
        first, last = engines[0], engines[-1]
        notes.append(f"{name}batch {last.batch} vs {first.batch}: {first.ms_per_frame / last.ms_per_frame:.2f}x "
                     f"per-frame speed ({last.ms_per_frame:.1f} vs {first.ms_per_frame:.1f} ms/frame)")
    return rows, notes
