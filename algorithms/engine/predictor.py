"""One model, loaded once per process, predicting batches of BGR frames.

``Predictor`` wraps an ultralytics model of any format it loads (.pt through PyTorch, .onnx through
onnxruntime, .engine through TensorRT) behind ``predict(frames) -> list[list[Detection]]``. The
process-level registry (``get_predictor``/``unload``) keeps one Predictor per algorithm and reloads it
when the weights (sha256) or the load-time configuration (device, half precision, input size) change;
thresholds, target classes and the batch size are read on every call and need no reload.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .device import apply_memory_cap, resolve_device
from .errors import DeviceUnavailable, EngineError
from .types import Detection

logger = logging.getLogger(__name__)

SUFFIX_FORMATS = {".pt": "pt", ".onnx": "onnx", ".engine": "engine"}


@dataclass(frozen=True)
class RunOptions:
    """Per-call settings, read from the algorithm's config (and a test request's override)."""

    conf: float = 0.25
    iou: float = 0.45
    imgsz: int = 640
    classes: tuple[int, ...] | None = None
    max_batch: int = 8


def _as_int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _as_float(value, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def class_ids(targets: Iterable | None, names: Mapping[int, str]) -> tuple[int, ...] | None:
    """Target classes given as ids or names -> sorted ids; None (all classes) when empty."""
    if not targets:
        return None
    by_name = {str(n).lower(): i for i, n in names.items()}
    ids: set[int] = set()
    for target in targets:
        if isinstance(target, bool):
            raise ValueError(f"unknown class {target!r}")
        if isinstance(target, int) or (isinstance(target, str) and target.strip().isdigit()):
            index = int(target)
            if names and index not in names:
                raise ValueError(f"class id {index} is not one of the model's classes {sorted(names)}")
            ids.add(index)
        elif isinstance(target, str) and target.strip().lower() in by_name:
            ids.add(by_name[target.strip().lower()])
        else:
            raise ValueError(f"unknown class {target!r}; the model knows {sorted(names.values())}")
    return tuple(sorted(ids))


class Predictor:
    """A loaded model. ``predict`` is thread-safe (one call at a time per model) and batches frames
    up to ``max_batch`` per forward pass."""

    def __init__(self, weights: str | Path, config: Mapping[str, Any] | None = None, *, warmup: bool = True):
        config = dict(config or {})
        self.weights = Path(weights)
        if not self.weights.is_file():
            raise EngineError(f"weights file not found: {self.weights}")
        self.format = SUFFIX_FORMATS.get(self.weights.suffix.lower())
        if self.format is None:
            raise EngineError(f"unsupported weights file {self.weights.name}; use .pt, .onnx or .engine")
        self.device = resolve_device(config.get("device"))
        if self.format == "engine" and not self.device.startswith("cuda"):
            raise DeviceUnavailable("TensorRT engines run only on a CUDA GPU, and none is available here.")
        # Half precision only helps (and only works) on CUDA; on the CPU it is silently FP32.
        self.half = bool(config.get("half")) and self.device.startswith("cuda")
        self.imgsz = _as_int(config.get("input_size"), 640)
        apply_memory_cap(self.device)
        self._lock = threading.Lock()
        started = time.perf_counter()
        try:
            from ultralytics import YOLO

            self.model = YOLO(str(self.weights), task="detect")
        except Exception as exc:
            raise EngineError(f"cannot load {self.weights.name}: {exc}") from exc
        self.names: dict[int, str] = {int(k): str(v) for k, v in (self.model.names or {}).items()}
        try:
            self.options = self.run_options(config, RunOptions(imgsz=self.imgsz))
        except ValueError as exc:  # e.g. target classes the new weights do not have
            raise EngineError(f"config does not fit {self.weights.name}: {exc}") from exc
        self.load_ms = (time.perf_counter() - started) * 1000
        if warmup:
            self.warmup()
        logger.info("Loaded %s (%s) on %s%s in %.0f ms", self.weights.name, self.format, self.device,
                    " half" if self.half else "", self.load_ms)

    def run_options(self, config: Mapping[str, Any], base: RunOptions | None = None) -> RunOptions:
        """Per-call options from a config dict; keys it lacks keep ``base``'s (by default the current
        options: a test run's override changes only what it names)."""
        base = base or getattr(self, "options", None) or RunOptions(imgsz=self.imgsz)
        targets = config.get("target_classes", None)
        return RunOptions(
            conf=_as_float(config.get("confidence_threshold"), base.conf),
            iou=_as_float(config.get("iou_threshold"), base.iou),
            imgsz=_as_int(config.get("input_size"), base.imgsz),
            classes=class_ids(targets, self.names) if targets is not None else base.classes,
            max_batch=max(1, _as_int(config.get("max_batch_size"), base.max_batch)),
        )

    def configure(self, config: Mapping[str, Any]) -> None:
        """Applies a changed config's call-time settings (thresholds, classes, batch size) in place."""
        try:
            self.options = self.run_options(config, RunOptions(imgsz=self.imgsz))
        except ValueError as exc:
            raise EngineError(f"config does not fit {self.weights.name}: {exc}") from exc

    def warmup(self) -> None:
        """One forward pass on a blank frame: the first real call then pays no lazy set-up (graph
        building, CUDA context, onnxruntime session) and the load is proven to work."""
        started = time.perf_counter()
        try:
            self._predict_batch([np.zeros((self.imgsz, self.imgsz, 3), dtype=np.uint8)], self.options)
        except Exception as exc:
            raise EngineError(f"{self.weights.name} loaded but failed its warm-up run: {exc}") from exc
        self.warmup_ms = (time.perf_counter() - started) * 1000

    def predict(self, frames: list[np.ndarray], options: RunOptions | None = None) -> list[list[Detection]]:
        """Detections per frame, in order. Frames are HxWx3 uint8 BGR arrays of any size (several
        streams' frames may be mixed); they go through the model ``max_batch`` at a time."""
        if not frames:
            return []
        for index, frame in enumerate(frames):
            if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.size == 0:
                raise ValueError(f"frame {index} is not an HxWx3 BGR image")
        options = options or self.options
        results: list[list[Detection]] = []
        with self._lock:
            for start in range(0, len(frames), options.max_batch):
                results.extend(self._predict_batch(frames[start:start + options.max_batch], options))
        return results

    def _predict_batch(self, frames: list[np.ndarray], options: RunOptions) -> list[list[Detection]]:
        return self.to_detections(self.forward(frames, options))

    def forward(self, frames: list[np.ndarray], options: RunOptions):
        """ultralytics' predict on one batch (letterbox, model, NMS): its Results objects."""
        kwargs: dict[str, Any] = {"conf": options.conf, "iou": options.iou, "imgsz": options.imgsz,
                                  "device": self.device, "verbose": False, "batch": len(frames)}
        if options.classes is not None:
            kwargs["classes"] = list(options.classes)
        if self.half:
            kwargs["quantize"] = 16
        return self.model.predict(frames, **kwargs)

    def to_detections(self, results) -> list[list[Detection]]:
        """ultralytics Results -> Detections, with one device-to-host copy per frame."""
        names = self.names
        out: list[list[Detection]] = []
        for result in results:
            rows = result.boxes.data.cpu().numpy().tolist() if result.boxes is not None else []
            # rows are (x1, y1, x2, y2, conf, cls)
            out.append([
                Detection(int(r[5]), names.get(int(r[5]), str(int(r[5]))), float(r[4]),
                          (float(r[0]), float(r[1]), float(r[2]), float(r[3])))
                for r in rows
            ])
        return out


# --- the process-level registry ------------------------------------------------------------------
_registry: dict[int, tuple[tuple, Predictor]] = {}
_registry_lock = threading.RLock()


def _load_key(algorithm) -> tuple:
    config = algorithm.config or {}
    return (str(algorithm.weights_path), algorithm.weights_sha256, str(config.get("device") or "auto"),
            bool(config.get("half")), _as_int(config.get("input_size"), 640))


def get_predictor(algorithm) -> Predictor:
    """The Predictor for this algorithm in this process: loaded (and warmed up) on first use, reused
    afterwards, reloaded when its weights or load-time config changed."""
    if not algorithm.weights:
        raise EngineError(f"algorithm {algorithm.pk} has no weights file")
    key = _load_key(algorithm)
    with _registry_lock:
        entry = _registry.get(algorithm.pk)
        if entry is not None and entry[0] == key:
            predictor = entry[1]
            predictor.configure(algorithm.config or {})
            return predictor
        if entry is not None:
            logger.info("Weights or config of algorithm %s changed; reloading", algorithm.pk)
            _registry.pop(algorithm.pk, None)
        predictor = Predictor(algorithm.weights_path, algorithm.config or {})
        _registry[algorithm.pk] = (key, predictor)
        return predictor


def unload(algorithm_id: int) -> bool:
    """Drops the algorithm's model from this process (and frees cached GPU memory). Whether one was loaded."""
    with _registry_lock:
        entry = _registry.pop(int(algorithm_id), None)
    if entry is None:
        return False
    device = entry[1].device
    del entry
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
    logger.info("Unloaded algorithm %s", algorithm_id)
    return True


def loaded() -> dict[int, Predictor]:
    """What this process has loaded, by algorithm id (for health and tests)."""
    with _registry_lock:
        return {pk: entry[1] for pk, entry in _registry.items()}
