"""Face-recognition tasks: the config keys, the per-frame recogniser and the alert rules.

A task whose algorithm has kind ``face_recognition`` runs the same loop as a detection task (capture,
heartbeat, schedule, config reload); only two pieces differ and both live here:

* :class:`FacePredictor` stands where the YOLO batcher stands: ``predict(image)`` detects faces
  (YuNet), extracts their features (SFace) and searches the task's libraries, one frame at a time
  (YuNet is per image). It does not join the shared YOLO batch, so detection tasks of the same worker
  are never held up by face work.
* :class:`FaceRuleEngine` stands where :class:`~streams.rules.RuleEngine` stands: it keeps the faces
  inside the region of interest, applies dwell and cooldown, and turns the frame into alert specs:
  ``known_person`` for a watchlist hit (cooldown per person per task) and, with ``alert_strangers``,
  ``stranger`` for a face that matches nobody (one cooldown per task for all strangers, since an
  unknown face has no identity to key on).

Everything from other apps goes through :mod:`streams.ports`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from . import ports
from .rules import AlertSpec, DwellCooldown, Match, point_in_polygon, rule_key

logger = logging.getLogger(__name__)

FACE_KIND = "face_recognition"
KNOWN_PERSON = "known_person"
STRANGER = "stranger"
STRANGER_CLASS = "stranger"

FACE_DEFAULTS: dict[str, Any] = {
    # None: every watchlist library (resolved while the task runs, so a new watchlist counts).
    "face_libraries": None,
    # None: FACES_MATCH_THRESHOLD (cosine similarity, -1..1).
    "face_threshold": None,
    "alert_strangers": False,
    "max_faces": 10,
}

# How long the resolved "every watchlist library" list is trusted before it is read again.
LIBRARY_REFRESH_SECONDS = 10.0


def is_face_kind(kind: str | None) -> bool:
    return kind == FACE_KIND


def normalise_face_config(config: dict, errors: dict[str, list[str]]) -> dict:
    """Validates the face keys of a task config (missing keys take defaults); problems go into
    ``errors`` as ``config.<key>`` -> messages. Library ids must exist."""
    merged = {**FACE_DEFAULTS, **{k: v for k, v in config.items() if k in FACE_DEFAULTS}}
    result: dict[str, Any] = {}

    libraries = merged["face_libraries"]
    if libraries is None:
        result["face_libraries"] = None
    elif (not isinstance(libraries, list) or not libraries
          or not all(isinstance(i, int) and not isinstance(i, bool) for i in libraries)):
        errors.setdefault("config.face_libraries", []).append(
            "Must be a non-empty list of face library ids, or null for every watchlist library.")
    else:
        ids = list(dict.fromkeys(libraries))
        missing = sorted(set(ids) - ports.existing_face_libraries(ids))
        if missing:
            errors.setdefault("config.face_libraries", []).append(
                f"No face library with id {', '.join(map(str, missing))}.")
        else:
            result["face_libraries"] = ids

    threshold = merged["face_threshold"]
    if threshold is None:
        result["face_threshold"] = None
    elif not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0.0 < threshold <= 1.0:
        errors.setdefault("config.face_threshold", []).append(
            "Must be a cosine similarity greater than 0 and at most 1, or null for the default.")
    else:
        result["face_threshold"] = float(threshold)

    if not isinstance(merged["alert_strangers"], bool):
        errors.setdefault("config.alert_strangers", []).append("Must be true or false.")
    else:
        result["alert_strangers"] = merged["alert_strangers"]

    max_faces = merged["max_faces"]
    if not isinstance(max_faces, int) or isinstance(max_faces, bool) or not 1 <= max_faces <= 50:
        errors.setdefault("config.max_faces", []).append("Must be an integer from 1 to 50.")
    else:
        result["max_faces"] = max_faces
    return result


# --- The recogniser ----------------------------------------------------------------------------

@dataclass
class FaceDetection:
    """One face in a frame, shaped like an engine detection (``class_name``, ``confidence``, ``bbox``)
    so the loop's live statistics and detection pushes treat it like any other detection."""

    match: Any  # faces.services.FaceMatch
    class_name: str = field(init=False)
    confidence: float = field(init=False)
    bbox: list[float] = field(init=False)
    class_id: None = None

    def __post_init__(self):
        best = self.match.best
        known = best is not None and self.match.is_watchlist
        self.class_name = best["name"] if best is not None else STRANGER_CLASS
        self.confidence = float(best["similarity"]) if known else float(self.match.score)
        self.bbox = [float(v) for v in self.match.bbox]

    @property
    def known(self) -> bool:
        return self.match.best is not None and self.match.is_watchlist

    @property
    def stranger(self) -> bool:
        return self.match.best is None


class FacePredictor:
    """Recognises the faces of one frame for one task; ``predict`` answers like the YOLO batcher:
    ``(detections, elapsed ms, batch size)``."""

    def __init__(self, algorithm, config: dict):
        self.algorithm_id = algorithm.pk
        self.config = config
        self._libraries: list[int] | None = None
        self._libraries_at = 0.0

    def update_config(self, config: dict) -> None:
        self.config = config
        self._libraries_at = 0.0

    def libraries(self) -> list[int]:
        chosen = self.config.get("face_libraries")
        if chosen:
            return list(chosen)
        if time.monotonic() - self._libraries_at > LIBRARY_REFRESH_SECONDS:
            self._libraries = ports.watchlist_face_libraries()
            self._libraries_at = time.monotonic()
        return list(self._libraries or [])

    def predict(self, image) -> tuple[list[FaceDetection], float, int]:
        libraries = self.libraries()
        started = time.perf_counter()
        matches = ports.recognise_faces(image, libraries=libraries, threshold=self.config.get("face_threshold"),
                                        max_faces=self.config.get("max_faces", 10))
        elapsed = (time.perf_counter() - started) * 1000
        try:
            ports.record_inference(self.algorithm_id, 1, elapsed)
        except Exception:  # noqa: BLE001 - statistics must not stop the loop
            logger.warning("record_inference failed", exc_info=True)
        return [FaceDetection(m) for m in matches], elapsed, 1


# --- The rules ---------------------------------------------------------------------------------

def person_key(match) -> str:
    """The cooldown key of a known person: the person id (several enrolled images, one person)."""
    best = match.best
    return rule_key(KNOWN_PERSON, f"person:{best['person_id'] or best['face_id']}")


STRANGER_KEY = rule_key(STRANGER, "task")


@dataclass
class FaceDecision:
    """The alerts one frame raises: one per known person out of cooldown, one for the strangers."""

    specs: list[AlertSpec]

    def alerts(self) -> list[AlertSpec]:
        return self.specs


class FaceRuleEngine(DwellCooldown):
    """Region of interest (face box centre), dwell and cooldown for a face task."""

    def filter(self, detections: list[FaceDetection], width: int, height: int) -> list[Match]:
        zones = self.config.get("region_of_interest") or []
        matches = []
        for det in detections:
            if not zones:
                matches.append(Match(det, None))
                continue
            x1, y1, x2, y2 = det.bbox
            cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
            for zone in zones:
                if point_in_polygon(cx, cy, zone["polygon"]):
                    matches.append(Match(det, zone["name"]))
                    break
        return matches

    def evaluate(self, detections, width: int, height: int, now: float) -> tuple[list[Match], FaceDecision | None]:
        matches = self.filter(detections, width, height)
        seen: dict[str, list[Match]] = {}
        for match in matches:
            det = match.detection
            if det.known:
                seen.setdefault(person_key(det.match), []).append(match)
            elif det.stranger and self.config.get("alert_strangers"):
                seen.setdefault(STRANGER_KEY, []).append(match)
        level = self.config.get("level", "warning")
        specs = [self._spec(key, seen[key], level) for key in self.fire(list(seen), now)]
        return matches, (FaceDecision(specs) if specs else None)

    @staticmethod
    def _spec(key: str, matches: list[Match], level: str) -> AlertSpec:
        # The largest face is the one whose crop goes with the alert.
        main = max(matches, key=lambda m: (m.detection.bbox[2] - m.detection.bbox[0])
                   * (m.detection.bbox[3] - m.detection.bbox[1]))
        face_matches = []
        for m in matches:
            fm = m.detection.match
            face_matches.append({**(fm.best or {}), "bbox": [round(float(v), 1) for v in fm.bbox],
                                 "detector_score": round(float(fm.score), 4), "quality": round(float(fm.quality), 4),
                                 "zone": m.zone})
        known = key != STRANGER_KEY
        return AlertSpec(alert_type=KNOWN_PERSON if known else STRANGER, level=level, keys=[key],
                         detections=[m.to_dict() for m in matches], metadata={"face_matches": face_matches},
                         extra_images={"face_crop": main.detection.match.crop})
