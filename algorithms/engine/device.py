"""Choosing the device a model runs on, and capping this process's share of GPU memory.

``auto`` means the first CUDA device when there is one, else the CPU. Asking for CUDA on a machine
without it falls back to the CPU with a logged notice instead of failing, so one configuration
serves both GPU hosts and CPU-only machines.
"""
from __future__ import annotations

import logging
import re
import threading

logger = logging.getLogger(__name__)

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+|\d+)$")
_capped: set[int] = set()
_lock = threading.Lock()


def is_valid_device(value: str) -> bool:
    return bool(_DEVICE_RE.match(str(value).strip().lower()))


def cuda_device_count() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # a broken CUDA driver must not take the CPU path down with it
        logger.exception("CUDA probe failed; using the CPU")
        return 0


def _default_device() -> str:
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django.conf import settings

        return str(getattr(settings, "INFERENCE_DEVICE", "auto") or "auto")
    except ImproperlyConfigured:  # used outside Django (the validation subprocess, benchmarks)
        return "auto"


def resolve_device(requested: str | None) -> str:
    """``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` / ``N`` -> ``cpu`` or ``cuda:N`` that exists here."""
    value = str(requested or "auto").strip().lower()
    if not is_valid_device(value):
        raise ValueError(f"unknown device {requested!r}; use auto, cpu, cuda or cuda:N")
    if value == "auto":
        value = _default_device().strip().lower()
        if value == "auto":
            return "cuda:0" if cuda_device_count() else "cpu"
        if not is_valid_device(value):
            raise ValueError(f"INFERENCE_DEVICE={value!r} is not a device; use auto, cpu, cuda or cuda:N")
    if value == "cpu":
        return "cpu"
    index = 0 if value == "cuda" else int(value.split(":")[-1])
    count = cuda_device_count()
    if count == 0:
        logger.warning("Device %s requested but CUDA is not available here; running on the CPU.", value)
        return "cpu"
    if index >= count:
        logger.warning("Device cuda:%d requested but only %d CUDA device(s) exist; running on the CPU.",
                       index, count)
        return "cpu"
    return f"cuda:{index}"


def memory_fraction() -> float:
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django.conf import settings

        return float(getattr(settings, "GPU_MEMORY_FRACTION", 0.0) or 0.0)
    except ImproperlyConfigured:
        return 0.0


def apply_memory_cap(device: str, fraction: float | None = None) -> bool:
    """Caps this process's share of the GPU's memory once per device, so that several inference
    workers can share one GPU without one of them starving the others. Returns whether a cap was set."""
    if not device.startswith("cuda"):
        return False
    fraction = memory_fraction() if fraction is None else fraction
    if not 0.0 < fraction <= 1.0:
        return False
    index = int(device.split(":")[-1]) if ":" in device else 0
    with _lock:
        if index in _capped:
            return False
        import torch

        torch.cuda.set_per_process_memory_fraction(fraction, index)
        _capped.add(index)
    logger.info("GPU memory of cuda:%d capped at %.0f%% for this process", index, fraction * 100)
    return True


def cuda_available() -> bool:
    return cuda_device_count() > 0
