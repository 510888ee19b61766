"""GPU figures through NVML, and the device check that workers run before they start.

- :func:`sample_gpus` reads utilisation, memory and temperature of every GPU this host's NVML sees
  (``nvidia-ml-py``); on a machine without a GPU or driver it says so instead of failing.
- :class:`GpuSampler` is the thread each Celery worker runs: every ``GPU_SAMPLE_SECONDS`` it stores
  its host's sample in the cache, where ``GET /api/system/gpus``, ``/metrics`` and the admin
  dashboard read it, so the web server needs no GPU and sees every worker host.
- :func:`require_device` refuses, with a clear message, a worker asked for a GPU that is not there.

``python -m aimonitor.gpu check --device cuda:0`` runs the check from a shell (the start scripts do).
"""
from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from datetime import UTC, datetime

logger = logging.getLogger(__name__)

CACHE_PREFIX = "aimonitor:gpu:"
HOSTS_KEY = CACHE_PREFIX + "hosts"


class DeviceUnavailable(RuntimeError):
    """The configured inference device does not exist on this machine."""


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def sample_gpus() -> dict:
    """This host's GPUs now: ``{"host", "sampled_at", "available", "driver", "error", "gpus": [...]}``.

    ``available`` is False, with the reason in ``error``, when NVML cannot start (no NVIDIA driver, a
    CPU-only machine); a GPU whose one figure is unreadable reports that figure as None.
    """
    sample = {"host": socket.gethostname(), "sampled_at": datetime.now(UTC).isoformat(),
              "available": False, "driver": None, "error": None, "gpus": []}
    try:
        import pynvml
    except ImportError:
        sample["error"] = "nvidia-ml-py is not installed"
        return sample
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded, ...
        sample["error"] = f"no GPU: NVML is unavailable ({type(exc).__name__}: {exc})"
        return sample
    try:
        sample["driver"] = _text(pynvml.nvmlSystemGetDriverVersion())
        count = pynvml.nvmlDeviceGetCount()
        for index in range(count):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            sample["gpus"].append(_read_gpu(pynvml, index, handle))
        sample["available"] = count > 0
        if count == 0:
            sample["error"] = "no GPU: the driver reports no devices"
    except Exception as exc:  # noqa: BLE001
        sample["error"] = f"NVML error: {type(exc).__name__}: {exc}"
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001 - nothing to release when shutdown itself fails
            logger.debug("nvmlShutdown failed", exc_info=True)
    return sample


def _read_gpu(pynvml, index: int, handle) -> dict:
    def read(fn):
        try:
            return fn()
        except Exception:  # noqa: BLE001 - some boards (or MIG slices) do not report every figure
            return None

    memory = read(lambda: pynvml.nvmlDeviceGetMemoryInfo(handle))
    utilization = read(lambda: pynvml.nvmlDeviceGetUtilizationRates(handle))
    return {
        "index": index,
        "name": read(lambda: _text(pynvml.nvmlDeviceGetName(handle))),
        "uuid": read(lambda: _text(pynvml.nvmlDeviceGetUUID(handle))),
        "utilization_percent": utilization.gpu if utilization is not None else None,
        "memory_utilization_percent": utilization.memory if utilization is not None else None,
        "memory_used_bytes": int(memory.used) if memory is not None else None,
        "memory_total_bytes": int(memory.total) if memory is not None else None,
        "temperature_c": read(lambda: pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU)),
        "power_watts": read(lambda: pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0),
    }


# --- The cache: one sample per host ---------------------------------------------------------------

def _ttl() -> int:
    from django.conf import settings

    # A host whose worker stopped sampling disappears after three missed intervals.
    return max(30, int(settings.GPU_SAMPLE_SECONDS * 3))


def store_sample(sample: dict) -> None:
    """Keeps ``sample`` in the cache under its host, and the host in the list of hosts."""
    from django.core.cache import cache

    ttl = _ttl()
    cache.set(CACHE_PREFIX + sample["host"], sample, ttl)
    hosts = set(cache.get(HOSTS_KEY) or [])
    if sample["host"] not in hosts:
        hosts.add(sample["host"])
        # The host list outlives the samples; stale names are skipped when read.
        cache.set(HOSTS_KEY, sorted(hosts), None)


def cached_samples() -> list[dict]:
    """The latest sample of every host whose worker is still sampling, newest host name order."""
    from django.core.cache import cache

    hosts = cache.get(HOSTS_KEY) or []
    found = cache.get_many([CACHE_PREFIX + host for host in hosts])
    return [found[CACHE_PREFIX + host] for host in hosts if CACHE_PREFIX + host in found]


def current_samples() -> list[dict]:
    """What the API shows: the workers' cached samples, or, when no worker has sampled yet (the
    embedded mode, a fresh start), this host sampled now."""
    samples = cached_samples()
    if samples:
        return samples
    sample = sample_gpus()
    store_sample(sample)
    return [sample]


class GpuSampler(threading.Thread):
    """Samples this host's GPUs every ``interval`` seconds into the cache until stopped."""

    def __init__(self, interval: float):
        super().__init__(name="gpu-sampler", daemon=True)
        self.interval = max(1.0, float(interval))
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                store_sample(sample_gpus())
            except Exception:  # noqa: BLE001 - a cache outage must not kill the sampler
                logger.warning("GPU sample could not be stored", exc_info=True)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()


_sampler: GpuSampler | None = None


def start_sampler(interval: float | None = None) -> GpuSampler | None:
    """Starts this process's sampler once (a second call returns the running one); 0 turns it off."""
    global _sampler
    from django.conf import settings

    interval = settings.GPU_SAMPLE_SECONDS if interval is None else interval
    if interval <= 0:
        return None
    if _sampler is None or not _sampler.is_alive():
        _sampler = GpuSampler(interval)
        _sampler.start()
    return _sampler


def stop_sampler() -> None:
    global _sampler
    if _sampler is not None:
        _sampler.stop()
        _sampler = None


# --- The device check -----------------------------------------------------------------------------

def parse_device(device: str | int | None) -> tuple[str, int | None]:
    """``"auto"``/``"cpu"``/``"cuda"``/``"cuda:N"``/``"N"`` -> ``(kind, index)``."""
    raw = str(device if device is not None else "auto").strip().lower()
    if raw in ("", "auto"):
        return "auto", None
    if raw == "cpu":
        return "cpu", None
    if raw in ("cuda", "gpu"):
        return "cuda", 0
    if raw.startswith(("cuda:", "gpu:")):
        raw = raw.split(":", 1)[1]
    if raw.isdigit():
        return "cuda", int(raw)
    raise DeviceUnavailable(
        f"INFERENCE_DEVICE={device!r} is not a device: use auto, cpu, cuda or cuda:N (N = 0, 1, ...)."
    )


def cuda_device_count() -> int:
    """GPUs this process may use (after CUDA_VISIBLE_DEVICES), as torch sees them; 0 without torch."""
    # NVML answers without creating a CUDA context, so a Celery parent can still fork its pool.
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    try:
        import torch
    except ImportError:
        return 0
    try:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - a broken driver reads as "no GPU"
        return 0


def require_device(device: str | int | None, *, count: int | None = None) -> str:
    """Returns the device a worker will use (``"cpu"`` or ``"cuda:N"``), or raises
    :class:`DeviceUnavailable` with a message that says what was asked, what exists and how to fix it.

    ``auto`` picks ``cuda:0`` when a GPU is there and ``cpu`` otherwise; it never refuses.
    """
    kind, index = parse_device(device)
    if kind == "cpu":
        return "cpu"
    available = cuda_device_count() if count is None else count
    if kind == "auto":
        return "cuda:0" if available else "cpu"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if available == 0:
        raise DeviceUnavailable(
            f"This worker was asked to run on {device!r} but no CUDA GPU is available here "
            f"(CUDA_VISIBLE_DEVICES={visible!r}). Check the NVIDIA driver (nvidia-smi), or start the "
            f"worker with INFERENCE_DEVICE=cpu (or auto)."
        )
    if index >= available:
        raise DeviceUnavailable(
            f"This worker was asked to run on cuda:{index} but only {available} GPU(s) are visible "
            f"(cuda:0..cuda:{available - 1}, CUDA_VISIBLE_DEVICES={visible!r}). With CUDA_VISIBLE_DEVICES "
            f"set, devices are renumbered from 0 inside the worker."
        )
    return f"cuda:{index}"


def main(argv: list[str] | None = None) -> int:
    """``python -m aimonitor.gpu check --device D`` (exit 0 or 2 with the message) or ``sample``."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m aimonitor.gpu")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="exit non-zero when the device is not there")
    check.add_argument("--device", default=os.environ.get("INFERENCE_DEVICE", "auto"))
    sub.add_parser("sample", help="print this host's NVML sample as JSON")
    args = parser.parse_args(argv)
    if args.command == "sample":
        print(json.dumps(sample_gpus(), indent=2))
        return 0
    try:
        chosen = require_device(args.device)
    except DeviceUnavailable as exc:
        print(f"aimonitor: refusing to start: {exc}", file=sys.stderr)
        return 2
    print(f"aimonitor: inference device {chosen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
