"""Inference benchmark: raw ultralytics predict vs the engine, batch 1 vs batch 8, .pt vs .onnx, on
the same frames in one run (the shipped YOLOv8 person detector, 640x480 frames from ultralytics'
pictures, CPU unless --device says otherwise).

    .venv/bin/python bench/bench_inference.py            # 16 frames, 1 round (a few minutes on 2 cores)
    .venv/bin/python bench/bench_inference.py --quick    # 8 frames, 1 round

Targets (issue 3): engine overhead <= 10% of raw predict time; ONNX >= 1.5x the PyTorch throughput on
CPU; batch 8 not slower per frame than batch 1. Prints medians and ratios, exits 0 either way.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")
os.environ.setdefault("YOLO_VERBOSE", "0")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "aimonitor-bench-ultralytics"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from algorithms.benchmark import compare, format_table, sample_frames  # noqa: E402
from algorithms.engine import Predictor  # noqa: E402


def shipped_detector() -> Path:
    import fall_detection

    return Path(fall_detection.__file__).parent / "models" / "best.pt"


def export_onnx(source: Path, cache: Path, batch: int, imgsz: int) -> Path:
    """The detector exported once (dynamic batch axis, so one file serves batch 1 and batch N)."""
    target = cache / f"detector-{imgsz}-dyn{batch}.onnx"
    if target.is_file():
        return target
    from ultralytics import YOLO

    cache.mkdir(parents=True, exist_ok=True)
    work = cache / "work"
    work.mkdir(exist_ok=True)
    shutil.copyfile(source, work / "best.pt")
    out = Path(YOLO(str(work / "best.pt")).export(format="onnx", imgsz=imgsz, dynamic=True, batch=batch,
                                                  device="cpu"))
    out.replace(target)
    shutil.rmtree(work, ignore_errors=True)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8 frames, 1 round")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8, help="the large batch size, compared with 1")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "aimonitor-bench"),
                        help="where the ONNX export is kept between runs")
    args = parser.parse_args()
    frames_n, rounds = (8, 1) if args.quick else (args.frames, args.rounds)
    frames = sample_frames(max(frames_n, args.batch))
    batches = [1, args.batch]
    config = {"device": args.device, "input_size": args.imgsz, "confidence_threshold": 0.25, "iou_threshold": 0.7}

    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(frames)} frames of 640x480 x "
          f"{rounds} round(s); batches {batches}")
    pt = Predictor(shipped_detector(), config)
    onnx = Predictor(export_onnx(shipped_detector(), Path(args.cache), args.batch, args.imgsz), config)
    print(f"models on {pt.device}: {pt.weights.name} (PyTorch), {onnx.weights.name} (onnxruntime)\n")

    print(f"load average before: {os.getloadavg()[0]:.1f}")
    pt_rows, pt_notes = compare(pt, frames, batches, "pt ", rounds)
    onnx_rows, onnx_notes = compare(onnx, frames, batches, "onnx ", rounds)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(format_table(pt_rows + onnx_rows))
    print()
    for note in pt_notes + onnx_notes:
        print(note)
    pt_engine = {r.batch: r for r in pt_rows if r.label.endswith("engine")}
    onnx_engine = {r.batch: r for r in onnx_rows if r.label.endswith("engine")}
    for batch in batches:
        ratio = pt_engine[batch].ms_per_frame / onnx_engine[batch].ms_per_frame
        print(f"batch {batch}: onnx {onnx_engine[batch].ms_per_frame:.1f} ms/frame vs pt "
              f"{pt_engine[batch].ms_per_frame:.1f} -> onnx throughput {ratio:.2f}x pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
