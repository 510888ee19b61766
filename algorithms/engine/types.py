"""The engine's result type: one detected object in one frame."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Detection:
    """One object: class id and name, confidence, and its box as x1, y1, x2, y2 in pixels of the frame
    that was passed to ``Predictor.predict`` (not of the letterboxed model input)."""

    class_id: int
    class_name: str
    confidence: float
    bbox: tuple[float, float, float, float]

    def to_dict(self) -> dict:
        return {"class": self.class_name, "class_id": self.class_id, "confidence": self.confidence,
                "bbox": list(self.bbox)}

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.bbox
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)
