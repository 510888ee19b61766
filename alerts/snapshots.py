"""Annotated snapshots: detections (boxes with labels) and regions of interest drawn on a frame, encoded
as JPEG in memory so that :func:`alerts.services.raise_alert` can write the file and the row together."""
from __future__ import annotations

import cv2
import numpy as np
from django.conf import settings

# BGR colours by alert level; regions are drawn in one colour so they read apart from the boxes.
LEVEL_COLOURS = {"info": (255, 160, 0), "warning": (0, 200, 255), "critical": (0, 0, 255)}
REGION_COLOUR = (80, 220, 80)


class SnapshotError(ValueError):
    """A frame or an extra image that cannot be turned into a JPEG (wrong shape or type)."""


def as_bgr(image: np.ndarray, what: str = "frame") -> np.ndarray:
    """Checks ``image`` is an 8-bit picture (H x W, H x W x 3 or H x W x 4) and returns it as BGR."""
    if not isinstance(image, np.ndarray):
        raise SnapshotError(f"{what} must be a numpy array, not {type(image).__name__}")
    if image.size == 0 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise SnapshotError(f"{what} must be an H x W (x 3) image, got shape {image.shape}")
    if image.dtype != np.uint8:
        if np.issubdtype(image.dtype, np.floating) and image.max(initial=0) <= 1.0:
            image = (image * 255.0).round()
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _label(image: np.ndarray, text: str, x: int, y: int, colour, scale: float, thickness: int) -> None:
    (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    # Keep the label inside the picture: above the box when there is room, inside it otherwise.
    top = y - th - baseline - 4 if y - th - baseline - 4 >= 0 else y
    cv2.rectangle(image, (x, top), (x + tw + 4, top + th + baseline + 4), colour, cv2.FILLED)
    cv2.putText(image, text, (x + 2, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness,
                cv2.LINE_AA)


def annotate(frame: np.ndarray, detections: list[dict], regions: list[dict] | None = None,
             level: str = "warning") -> np.ndarray:
    """A copy of ``frame`` with the regions (normalised polygons) and the detections' boxes and labels."""
    image = as_bgr(frame).copy()
    height, width = image.shape[:2]
    scale = max(0.4, min(width, height) / 900)
    thickness = max(1, round(min(width, height) / 400))
    for region in regions or []:
        points = np.array([[float(x) * width, float(y) * height] for x, y in region.get("points") or []],
                          dtype=np.float64)
        if len(points) < 2:
            continue
        polygon = points.round().astype(np.int32).reshape(-1, 1, 2)
        overlay = image.copy()
        cv2.fillPoly(overlay, [polygon], REGION_COLOUR)
        cv2.addWeighted(overlay, 0.18, image, 0.82, 0, dst=image)
        cv2.polylines(image, [polygon], True, REGION_COLOUR, thickness, cv2.LINE_AA)
        if region.get("name"):
            x, y = polygon[:, 0, :].min(axis=0)
            _label(image, str(region["name"]), int(x), int(y), REGION_COLOUR, scale, thickness)
    colour = LEVEL_COLOURS.get(level, LEVEL_COLOURS["warning"])
    for det in detections:
        bbox = det.get("bbox")
        if not bbox or len(bbox) != 4:
            continue
        x1, y1, x2, y2 = (int(round(float(v))) for v in bbox)
        x1, x2 = sorted((max(0, min(width - 1, x1)), max(0, min(width - 1, x2))))
        y1, y2 = sorted((max(0, min(height - 1, y1)), max(0, min(height - 1, y2))))
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, thickness + 1, cv2.LINE_AA)
        text = str(det.get("class", "object"))
        if det.get("confidence") is not None:
            text = f"{text} {float(det['confidence']):.2f}"
        _label(image, text, x1, y1, colour, scale, thickness)
    return image


def encode_jpeg(image: np.ndarray, what: str = "frame") -> bytes:
    """JPEG bytes at ``ALERT_SNAPSHOT_JPEG_QUALITY``, the picture downscaled to ``ALERT_SNAPSHOT_MAX_SIDE``."""
    image = as_bgr(image, what)
    max_side = settings.ALERT_SNAPSHOT_MAX_SIDE
    height, width = image.shape[:2]
    if max_side and max(height, width) > max_side:
        factor = max_side / max(height, width)
        image = cv2.resize(image, (max(1, round(width * factor)), max(1, round(height * factor))),
                           interpolation=cv2.INTER_AREA)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, settings.ALERT_SNAPSHOT_JPEG_QUALITY])
    if not ok:
        raise SnapshotError(f"{what} could not be encoded as JPEG")
    return buffer.tobytes()
