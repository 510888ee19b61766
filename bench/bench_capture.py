"""Frame-capture benchmark: what sampling saves over decoding every frame.

For 720p and 1080p H.264 clips (generated here with PyAV, 25 fps, GOP 50), it measures
- the baseline: OpenCV ``read()`` of every frame (decode + colour conversion of all frames);
- ``streams.capture.FrameReader`` sampling 1, 5 and 25 fps (``grab()`` every frame, ``retrieve()``
  only the sampled ones), reading the file unpaced so the run measures decode cost, not playback;
- ``FrameReader(keyframes_only=True)`` sampling 1 fps: PyAV decodes keyframe packets only (here one
  every 2 s, so it hands out 0.5 frames/s: the option fits when the camera's keyframe interval is at
  or below the sampling interval).

Figures: wall frames/s, CPU seconds per second of video (all threads; "CPU per stream" when the
source plays in real time), the ratio to the baseline, and how many streams one core sustains
(1 / CPU per video-second). Medians of --repeat runs.

    .venv/bin/python bench/bench_capture.py --quick     # 4 s clips, 3 repeats (~1-2 min on 2 cores)
    .venv/bin/python bench/bench_capture.py             # 10 s clips, 5 repeats
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.capture import FrameReader  # noqa: E402

FPS = 25
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def make_clip(path: Path, size: tuple[int, int], seconds: int) -> Path:
    """A moving synthetic scene (so the encoder produces real P-frames), H.264 yuv420p, GOP 50."""
    width, height = size
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    background = cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "28"}
        stream.codec_context.gop_size = 50
        for i in range(seconds * FPS):
            frame = np.roll(background, i * 4, axis=1)
            cv2.circle(frame, ((i * 13) % width, height // 2), height // 8, (0, 0, 255), -1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def measure(func) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the whole process, frames handed out)."""
    cpu, wall = time.process_time(), time.perf_counter()
    frames = func()
    return time.perf_counter() - wall, time.process_time() - cpu, frames


def baseline(path: Path) -> int:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    count = 0
    while True:
        ok, _frame = capture.read()
        if not ok:
            break
        count += 1
    capture.release()
    return count


def sampled(path: Path, sample_fps: float, keyframes_only: bool = False) -> int:
    reader = FrameReader(str(path), sample_fps=sample_fps, pace=False, keyframes_only=keyframes_only)
    reader.start()
    while reader.alive or reader.get(timeout=0):
        reader.get(timeout=0.05)
    reader.close()
    return reader.frames_sampled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 s clips, 3 repeats")
    parser.add_argument("--seconds", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None)
    args = parser.parse_args()
    seconds = args.seconds or (4 if args.quick else 10)
    repeat = args.repeat or (3 if args.quick else 5)

    print(f"clips: {seconds} s at {FPS} fps, H.264 GOP 50; median of {repeat} runs; cv2 {cv2.__version__}")
    header = f"{'clip':6} {'mode':28} {'frames out':>10} {'wall fps':>9} {'CPU s/video s':>14} {'vs baseline':>11} " \
             f"{'streams/core':>12}"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for label, size in SIZES.items():
            path = make_clip(Path(tmp) / f"{label}.mp4", size, seconds)
            modes = [("baseline: read every frame", lambda p=path: baseline(p))]
            modes += [(f"FrameReader sample {f} fps", lambda p=path, f=f: sampled(p, f)) for f in (1, 5, 25)]
            modes.append(("FrameReader keyframes, 1 fps", lambda p=path: sampled(p, 1, keyframes_only=True)))
            base_cpu = None
            for name, func in modes:
                runs = [measure(func) for _ in range(repeat)]
                wall = statistics.median(r[0] for r in runs)
                cpu = statistics.median(r[1] for r in runs)
                frames = runs[-1][2]
                cpu_per_video_s = cpu / seconds
                base_cpu = base_cpu or cpu
                print(f"{label:6} {name:28} {frames:>10} {seconds * FPS / wall:>9.1f} {cpu_per_video_s:>14.3f} "
                      f"{cpu / base_cpu:>10.2f}x {1 / cpu_per_video_s:>12.1f}")


if __name__ == "__main__":
    main()
