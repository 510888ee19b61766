#!/usr/bin/env bash
# GPU check for an inference host: NVML figures, CUDA inference with the shipped person detector
# (fall_detection/models/best.pt) in full and half precision against a CPU baseline in the same run,
# and the per-process memory fraction cap. Prints a small report; record it in README.md.
#
#   bash bench/gpu_check.sh [--quick] [--device cuda:0] [--fraction 0.25] [--require-gpu]
#
# On a machine without a GPU it prints the NVML "no GPU" answer and the CPU baseline, and says the
# CUDA checks were skipped (exit 0; with --require-gpu exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
export YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0 YOLO_VERBOSE=0
export YOLO_CONFIG_DIR=${YOLO_CONFIG_DIR:-${TMPDIR:-/tmp}/aimonitor-gpu-check}
export PYTORCH_NVML_BASED_CUDA_CHECK=1
mkdir -p "$YOLO_CONFIG_DIR"

exec "$PYTHON" - "$@" <<'PY'
"""The GPU check itself (see bench/gpu_check.sh)."""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, ".")
parser = argparse.ArgumentParser(prog="bench/gpu_check.sh")
parser.add_argument("--quick", action="store_true", help="5 timed runs instead of 20")
parser.add_argument("--device", default="cuda:0")
parser.add_argument("--fraction", type=float, default=0.25, help="memory fraction cap to verify")
parser.add_argument("--require-gpu", action="store_true")
args = parser.parse_args()
runs = 5 if args.quick else 20

import cv2  # noqa: E402
import fall_detection  # noqa: E402
import torch  # noqa: E402
import ultralytics  # noqa: E402
from ultralytics import YOLO  # noqa: E402

from aimonitor.gpu import sample_gpus  # noqa: E402

report = {"torch": torch.__version__, "ultralytics": ultralytics.__version__, "runs": runs}
weights = Path(fall_detection.__file__).parent / "models" / "best.pt"
image = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg"))


def timed(model, device, half=False):
    model.predict(image, device=device, half=half, verbose=False)  # warm-up (CUDA kernels, cuDNN autotune)
    times, persons = [], None
    for _ in range(runs):
        if device != "cpu":
            torch.cuda.synchronize()
        started = time.perf_counter()
        result = model.predict(image, device=device, half=half, verbose=False)[0]
        if device != "cpu":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - started) * 1000)
        persons = len(result.boxes)
    return round(statistics.median(times), 2), persons


def nvml_summary():
    sample = sample_gpus()
    return {"available": sample["available"], "driver": sample["driver"], "error": sample["error"],
            "gpus": [{k: g[k] for k in ("index", "name", "utilization_percent", "memory_used_bytes",
                                        "memory_total_bytes", "temperature_c")} for g in sample["gpus"]]}


print("== NVML")
report["nvml_before"] = nvml_summary()
print(json.dumps(report["nvml_before"], indent=2))

print("== CPU baseline (PyTorch, batch 1, bus.jpg)")
cpu_ms, cpu_persons = timed(YOLO(str(weights)), "cpu")
report["cpu"] = {"median_ms": cpu_ms, "persons": cpu_persons}
print(f"cpu: median {cpu_ms} ms, {cpu_persons} persons")

if not torch.cuda.is_available():
    print("== CUDA checks skipped: no CUDA device here (record this report on a GPU machine)")
    report["cuda"] = None
    print(json.dumps(report))
    sys.exit(1 if args.require_gpu else 0)

device = args.device
index = int(device.split(":")[1]) if ":" in device else 0
torch.cuda.set_device(index)
report["cuda"] = {"device": device, "name": torch.cuda.get_device_name(index),
                  "capability": ".".join(map(str, torch.cuda.get_device_capability(index)))}

print(f"== CUDA inference on {device} ({report['cuda']['name']})")
# One model object per precision: ultralytics sets the precision up when its predictor is first built.
fp32_ms, fp32_persons = timed(YOLO(str(weights)), device, half=False)
model16 = YOLO(str(weights))
fp16_ms, fp16_persons = timed(model16, device, half=True)
dtype = next(model16.predictor.model.parameters()).dtype
report["cuda"].update({
    "fp32": {"median_ms": fp32_ms, "persons": fp32_persons},
    "fp16": {"median_ms": fp16_ms, "persons": fp16_persons, "weights_dtype": str(dtype)},
    "speedup_vs_cpu_fp32": round(cpu_ms / fp32_ms, 1), "speedup_vs_cpu_fp16": round(cpu_ms / fp16_ms, 1),
})
print(f"fp32: median {fp32_ms} ms, {fp32_persons} persons ({report['cuda']['speedup_vs_cpu_fp32']}x CPU)")
print(f"fp16: median {fp16_ms} ms, {fp16_persons} persons ({report['cuda']['speedup_vs_cpu_fp16']}x CPU), "
      f"weights {dtype}")
ok = abs(fp32_persons - cpu_persons) <= 1 and abs(fp16_persons - fp32_persons) <= 1 and dtype == torch.float16

print(f"== Memory fraction cap {args.fraction}")
torch.cuda.empty_cache()
torch.cuda.set_per_process_memory_fraction(args.fraction, index)
total = torch.cuda.get_device_properties(index).total_memory
cap = int(total * args.fraction)
small = torch.empty(int(cap * 0.5) // 4, dtype=torch.float32, device=device)  # half the cap: allowed
refused = False
try:
    big = torch.empty(int(cap * 1.2) // 4, dtype=torch.float32, device=device)  # above the cap
    del big
except torch.cuda.OutOfMemoryError:
    refused = True
del small
torch.cuda.empty_cache()
report["memory_fraction"] = {"fraction": args.fraction, "cap_bytes": cap, "total_bytes": total,
                             "within_cap_allowed": True, "above_cap_refused": refused}
print(f"cap {cap / 2**30:.1f} GiB of {total / 2**30:.1f} GiB: 50% of cap allocated, 120% of cap "
      f"{'refused (OK)' if refused else 'ALLOWED (cap not enforced!)'}")
ok = ok and refused

print("== NVML after inference")
report["nvml_after"] = nvml_summary()
print(json.dumps(report["nvml_after"], indent=2))
ok = ok and report["nvml_after"]["available"]

report["ok"] = ok
print("== RESULT:", "OK" if ok else "FAILED")
print(json.dumps(report))
sys.exit(0 if ok else 1)
PY
