"""The rules engine: which detections in a frame become an alert.

A task's ``config`` is validated and normalised by :func:`normalise_config`; a :class:`RuleEngine` built
from it filters each frame's detections (class, confidence, minimum size, region of interest by box
centre or by overlap) and decides when to alert: a (class, zone) pair must be seen on
``min_consecutive_frames`` consecutive sampled frames (dwell), and after an alert that pair stays quiet
for ``cooldown_seconds``, so one person standing in view is one alert, not one per frame.

Pure Python and deterministic (time is passed in), so it is unit-tested without a model or a camera.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

ROI_MODES = ("center", "overlap")
LEVELS = ("info", "warning", "critical")
DEFAULT_ZONE = "roi"

DEFAULTS: dict[str, Any] = {
    "target_classes": [],
    "alert_threshold": 0.5,
    "region_of_interest": [],
    "roi_mode": "center",
    "roi_min_overlap": 0.5,
    "min_box_area": 0.0,
    "sample_fps": 2.0,
    "cooldown_seconds": 60,
    "min_consecutive_frames": 1,
    "level": "warning",
    "type": "intrusion_detection",
}


class ConfigError(ValueError):
    """An invalid task config; ``errors`` maps ``config.<key>`` to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {m}" for k, v in errors.items() for m in v))
        self.errors = errors


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _polygon(value, where: str, errors: dict) -> list[list[float]] | None:
    if not isinstance(value, list) or len(value) < 3:
        errors.setdefault(where, []).append("A polygon is a list of at least 3 [x, y] points.")
        return None
    points = []
    for point in value:
        if (not isinstance(point, (list, tuple)) or len(point) != 2 or not all(_number(c) for c in point)):
            errors.setdefault(where, []).append(f"{point!r} is not an [x, y] point.")
            return None
        x, y = float(point[0]), float(point[1])
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            errors.setdefault(where, []).append(
                f"Point {point!r} is outside the frame: coordinates are normalised to 0..1.")
            return None
        points.append([round(x, 6), round(y, 6)])
    if abs(_shoelace(points)) < 1e-9:
        errors.setdefault(where, []).append("The polygon has no area.")
        return None
    return points


def _zones(value, errors: dict) -> list[dict]:
    """``[]`` (whole frame), one polygon, or named zones -> ``[{"name", "polygon"}]``."""
    where = "config.region_of_interest"
    if value in (None, []):
        return []
    if not isinstance(value, list):
        errors.setdefault(where, []).append("Must be a polygon or a list of named zones.")
        return []
    if all(isinstance(item, dict) for item in value):
        zones, names = [], set()
        for index, item in enumerate(value):
            name = item.get("name")
            if not isinstance(name, str) or not name.strip() or len(name) > 64:
                errors.setdefault(f"{where}.{index}.name", []).append("A zone needs a name (1-64 characters).")
                continue
            if name in names:
                errors.setdefault(f"{where}.{index}.name", []).append(f"Duplicate zone name {name!r}.")
                continue
            names.add(name)
            polygon = _polygon(item.get("polygon"), f"{where}.{index}.polygon", errors)
            if polygon is not None:
                zones.append({"name": name.strip(), "polygon": polygon})
        return zones
    polygon = _polygon(value, where, errors)
    return [{"name": DEFAULT_ZONE, "polygon": polygon}] if polygon is not None else []


def config_keys(kind: str | None) -> set[str]:
    """The config keys a task of an algorithm of ``kind`` knows."""
    from . import face_rules

    return set(DEFAULTS) | (set(face_rules.FACE_DEFAULTS) if face_rules.is_face_kind(kind) else set())


def normalise_config(config, *, class_names: list[str] | None = None, kind: str | None = None) -> dict:
    """Validates a task config (missing keys take defaults) and returns the normalised form: regions
    of interest become named zones. ``class_names`` (the algorithm's) restricts ``target_classes``;
    ``kind`` (the algorithm's) ``face_recognition`` adds the face keys (see ``streams.face_rules``).
    Raises :class:`ConfigError`."""
    from . import face_rules

    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError({"config": ["Must be an object."]})
    errors: dict[str, list[str]] = {}
    face = face_rules.is_face_kind(kind)
    unknown = sorted(set(config) - config_keys(kind))
    if unknown:
        errors["config"] = [f"Unknown keys: {', '.join(unknown)}."]
    merged = {**DEFAULTS, **{k: v for k, v in config.items() if k in DEFAULTS}}
    result: dict[str, Any] = {}

    classes = merged["target_classes"]
    if not isinstance(classes, list) or not all(isinstance(c, str) and c.strip() for c in classes):
        errors.setdefault("config.target_classes", []).append("Must be a list of class names.")
    else:
        result["target_classes"] = list(dict.fromkeys(c.strip() for c in classes))
        if class_names:
            missing = [c for c in result["target_classes"] if c not in class_names]
            if missing:
                errors.setdefault("config.target_classes", []).append(
                    f"Not classes of this algorithm: {', '.join(missing)} (it knows {', '.join(class_names)}).")

    def bounded(key: str, low: float, high: float, *, integer: bool = False, low_open: bool = False):
        value = merged[key]
        ok = (isinstance(value, int) and not isinstance(value, bool)) if integer else _number(value)
        if not ok or value < low or value > high or (low_open and value == low):
            kind = "an integer" if integer else "a number"
            low_text = f"greater than {low}" if low_open else f"at least {low}"
            errors.setdefault(f"config.{key}", []).append(f"Must be {kind} {low_text} and at most {high}.")
            return None
        return int(value) if integer else float(value)

    result["alert_threshold"] = bounded("alert_threshold", 0.0, 1.0, low_open=True)
    result["roi_min_overlap"] = bounded("roi_min_overlap", 0.0, 1.0, low_open=True)
    result["min_box_area"] = bounded("min_box_area", 0.0, 0.99)
    result["sample_fps"] = bounded("sample_fps", settings.MONITOR_MIN_SAMPLE_FPS, settings.MONITOR_MAX_SAMPLE_FPS)
    result["cooldown_seconds"] = bounded("cooldown_seconds", 0, 7 * 86400, integer=True)
    result["min_consecutive_frames"] = bounded("min_consecutive_frames", 1, 1000, integer=True)
    if merged["roi_mode"] not in ROI_MODES:
        errors.setdefault("config.roi_mode", []).append(f"Must be one of {', '.join(ROI_MODES)}.")
    result["roi_mode"] = merged["roi_mode"]
    if merged["level"] not in LEVELS:
        errors.setdefault("config.level", []).append(f"Must be one of {', '.join(LEVELS)}.")
    result["level"] = merged["level"]
    alert_type = merged["type"]
    if not isinstance(alert_type, str) or not alert_type.strip() or len(alert_type) > 64:
        errors.setdefault("config.type", []).append("Must be an alert type name (1-64 characters).")
    else:
        result["type"] = alert_type.strip()
    result["region_of_interest"] = _zones(merged["region_of_interest"], errors)
    face_result = face_rules.normalise_face_config(config, errors) if face else {}
    if errors:
        raise ConfigError(errors)
    return {**{key: result[key] for key in DEFAULTS}, **face_result}


# --- Geometry ----------------------------------------------------------------------------------

def _shoelace(points) -> float:
    return 0.5 * sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True))


def point_in_polygon(x: float, y: float, polygon) -> bool:
    """Ray casting; points on an edge count as inside."""
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if min(y1, y2) <= y <= max(y1, y2) and min(x1, x2) <= x <= max(x1, x2):
            cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
            if abs(cross) < 1e-12:
                return True
        if (y1 > y) != (y2 > y):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < x_cross:
                inside = not inside
    return inside


def _clip(polygon, edge_inside, intersect):
    out = []
    for i, current in enumerate(polygon):
        previous = polygon[i - 1]
        if edge_inside(current):
            if not edge_inside(previous):
                out.append(intersect(previous, current))
            out.append(current)
        elif edge_inside(previous):
            out.append(intersect(previous, current))
    return out


def box_overlap(box: tuple[float, float, float, float], polygon) -> float:
    """The fraction of ``box`` (x1, y1, x2, y2, same units as the polygon) covered by the polygon:
    the polygon clipped to the box (Sutherland-Hodgman), then its area over the box's."""
    x1, y1, x2, y2 = box
    area = (x2 - x1) * (y2 - y1)
    if area <= 0:
        return 0.0
    poly = [tuple(p) for p in polygon]

    def lerp(a, b, t):
        return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)

    for axis, bound, keep_greater in ((0, x1, True), (0, x2, False), (1, y1, True), (1, y2, False)):
        if not poly:
            return 0.0
        poly = _clip(
            poly,
            lambda p, a=axis, b=bound, g=keep_greater: p[a] >= b if g else p[a] <= b,
            lambda p, q, a=axis, b=bound: lerp(p, q, (b - p[a]) / (q[a] - p[a])),
        )
    if len(poly) < 3:
        return 0.0
    return min(1.0, abs(_shoelace(poly)) / area)


# --- The engine --------------------------------------------------------------------------------

@dataclass
class Match:
    """A detection that passed the filters, with the zone it is in (None: the whole frame)."""

    detection: Any
    zone: str | None

    def to_dict(self) -> dict:
        d = self.detection
        return {"class": d.class_name, "class_id": getattr(d, "class_id", None),
                "confidence": round(float(d.confidence), 4),
                "bbox": [round(float(v), 1) for v in d.bbox], "zone": self.zone}


@dataclass
class AlertSpec:
    """One alert the loop should raise for a frame: its type and level, the cooldown keys it
    started (forgotten again if the alert cannot be written), its detections, extra metadata and
    extra images (e.g. a face crop)."""

    alert_type: str
    level: str
    keys: list[str]
    detections: list[dict]
    metadata: dict = field(default_factory=dict)
    extra_images: dict = field(default_factory=dict)


@dataclass
class Decision:
    """An alert to raise: the (class, zone) pairs that fired on this frame and their matches."""

    keys: list[tuple[str, str | None]]
    matches: list[Match] = field(default_factory=list)
    alert_type: str = "intrusion_detection"
    level: str = "warning"

    def alerts(self) -> list[AlertSpec]:
        """A detection task's frame raises one alert holding every pair that fired."""
        return [AlertSpec(alert_type=self.alert_type, level=self.level,
                          keys=[rule_key(cls, zone) for cls, zone in self.keys],
                          detections=[m.to_dict() for m in self.matches])]


def rule_key(class_name: str, zone: str | None) -> str:
    """How a (class, zone) pair is written in alert metadata, so cooldowns survive a restart."""
    return f"{class_name}|{zone or ''}"


class DwellCooldown:
    """The state every task's rules keep between frames: dwell counters (consecutive sampled frames a
    rule key was seen) and cooldown clocks (when each key last raised an alert)."""

    def __init__(self, config: dict, *, last_fired: dict[str, float] | None = None):
        self.config = config
        self.streaks: dict[str, int] = {}
        # rule key -> time of the last alert; seeded from recent alerts after a restart.
        self.last_fired: dict[str, float] = dict(last_fired or {})

    def update_config(self, config: dict) -> None:
        """A running task picked up new rules: keep cooldowns, restart dwell counting."""
        self.config = config
        self.streaks.clear()

    def fire(self, seen_keys, now: float) -> list[str]:
        """Advances the dwell counters with the keys seen in this frame (a key missing from it starts
        over) and returns, in order, the keys that dwelt long enough and are out of their cooldown."""
        self.streaks = {key: self.streaks.get(key, 0) + 1 for key in seen_keys}
        need = self.config.get("min_consecutive_frames", 1)
        cooldown = self.config.get("cooldown_seconds", 60)
        fired = []
        for key in seen_keys:
            last = self.last_fired.get(key)
            if self.streaks[key] < need or (last is not None and now - last < cooldown):
                continue
            self.last_fired[key] = now
            fired.append(key)
        return fired


class RuleEngine(DwellCooldown):
    """Applies one task's rules frame after frame, keeping the dwell counters and cooldown clocks."""

    def filter(self, detections, width: int, height: int) -> list[Match]:
        """The detections that pass class, confidence, size and region-of-interest rules (one match
        per zone a detection falls in)."""
        cfg = self.config
        classes = set(cfg["target_classes"])
        min_area = cfg["min_box_area"] * width * height
        zones = cfg["region_of_interest"]
        matches: list[Match] = []
        for det in detections:
            if classes and det.class_name not in classes:
                continue
            if det.confidence < cfg["alert_threshold"]:
                continue
            x1, y1, x2, y2 = det.bbox
            if (x2 - x1) * (y2 - y1) < min_area:
                continue
            if not zones:
                matches.append(Match(det, None))
                continue
            nbox = (x1 / width, y1 / height, x2 / width, y2 / height)
            cx, cy = (nbox[0] + nbox[2]) / 2, (nbox[1] + nbox[3]) / 2
            for zone in zones:
                if cfg["roi_mode"] == "center":
                    inside = point_in_polygon(cx, cy, zone["polygon"])
                else:
                    inside = box_overlap(nbox, zone["polygon"]) >= cfg["roi_min_overlap"]
                if inside:
                    matches.append(Match(det, zone["name"]))
        return matches

    def evaluate(self, detections, width: int, height: int, now: float) -> tuple[list[Match], Decision | None]:
        """Filters a frame's detections, advances dwell counters, and returns the matches plus the
        alert to raise now (or None). ``now`` is in seconds (any monotonic-enough clock)."""
        matches = self.filter(detections, width, height)
        seen: dict[str, list[Match]] = {}
        for match in matches:
            seen.setdefault(rule_key(match.detection.class_name, match.zone), []).append(match)
        fired_keys, fired_matches = [], []
        for key in self.fire(list(seen), now):
            class_name, zone = key.split("|", 1)
            fired_keys.append((class_name, zone or None))
            fired_matches.extend(seen[key])
        if not fired_keys:
            return matches, None
        return matches, Decision(keys=fired_keys, matches=fired_matches,
                                 alert_type=self.config.get("type", "intrusion_detection"),
                                 level=self.config.get("level", "warning"))
