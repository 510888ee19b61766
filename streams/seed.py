"""Initial data for streams: a "Head office" group and a demo camera (a looped H.264 clip written into
the videos folder from the pictures that ship with ultralytics), so a fresh install has something to
monitor. Idempotent: existing rows and files are left alone."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from django.conf import settings

from . import services
from .choices import StreamType
from .models import StreamGroup, VideoStream

DEMO_CLIP = "demo-bus.mp4"
DEMO_NAME = "Demo camera (looped file)"


def _pictures() -> list[np.ndarray]:
    try:
        import ultralytics

        assets = Path(ultralytics.__file__).parent / "assets"
        images = [cv2.imread(str(assets / name)) for name in ("bus.jpg", "zidane.jpg")]
        images = [image for image in images if image is not None]
    except ImportError:  # pragma: no cover - ultralytics is a base requirement
        images = []
    return images or [np.full((480, 640, 3), 90, np.uint8)]


def write_demo_clip(path: Path, *, fps: int = 10, seconds_per_picture: int = 5) -> Path:
    """An H.264 mp4 (PyAV) holding each picture for a few seconds."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial.mp4")
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        stream.options = {"preset": "veryfast"}
        stream.codec_context.gop_size = fps
        for image in _pictures():
            frame = av.VideoFrame.from_ndarray(cv2.resize(image, (640, 480)), format="bgr24")
            for _ in range(fps * seconds_per_picture):
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)  # never leave a half-written clip under the final name
    return path


def run(stdout) -> None:
    group, created = StreamGroup.objects.get_or_create(name="Head office", parent=None)
    if created:
        stdout.write("streams: created group 'Head office'")
    if VideoStream.objects.filter(name=DEMO_NAME).exists():
        return
    clip = Path(settings.VIDEOS_DIR) / DEMO_CLIP
    if not clip.exists():
        write_demo_clip(clip)
        stdout.write(f"streams: wrote demo clip {clip}")
    try:
        services.create_stream(name=DEMO_NAME, type=StreamType.FILE, url=str(clip), location="Demo",
                               description="A looped video file standing in for a camera.", groups=[group])
    except services.StreamError as exc:
        # The videos folder is not among AIMONITOR_MEDIA_ROOTS: skip the demo rather than fail the seed.
        stdout.write(f"streams: demo camera skipped ({exc.detail})")
        return
    stdout.write(f"streams: created demo camera {DEMO_NAME!r}")


# --- Monitoring demo (monitoring engineer): a stopped person-detection task on the demo camera ---
_seed_cameras = run


def run(stdout) -> None:  # noqa: F811 - wraps the cameras seed above
    _seed_cameras(stdout)
    from .demo import ensure_demo

    ensure_demo(stdout)
# --- (monitoring demo end) -------------------------------------------------------------------------
