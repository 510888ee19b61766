"""The rules engine: config validation, filters, region of interest, dwell and cooldown."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from streams.rules import ConfigError, RuleEngine, box_overlap, normalise_config, point_in_polygon

W, H = 1000, 500


@dataclass
class Det:
    class_name: str
    confidence: float
    bbox: tuple
    class_id: int = 0


def engine(**overrides):
    return RuleEngine(normalise_config(overrides))


def person(x1=100, y1=100, x2=200, y2=300, conf=0.9, cls="person"):
    return Det(cls, conf, (x1, y1, x2, y2))


def test_missing_keys_take_defaults_and_a_plain_polygon_becomes_a_named_zone():
    cfg = normalise_config({"region_of_interest": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]})
    assert cfg["alert_threshold"] == 0.5
    assert cfg["region_of_interest"] == [{"name": "roi", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}]


@pytest.mark.parametrize(("config", "field"), [
    ({"alert_threshold": 1.5}, "config.alert_threshold"),
    ({"alert_threshold": 0}, "config.alert_threshold"),
    ({"alert_threshold": "high"}, "config.alert_threshold"),
    ({"sample_fps": 0}, "config.sample_fps"),
    ({"sample_fps": 500}, "config.sample_fps"),
    ({"cooldown_seconds": -1}, "config.cooldown_seconds"),
    ({"cooldown_seconds": 2.5}, "config.cooldown_seconds"),
    ({"min_consecutive_frames": 0}, "config.min_consecutive_frames"),
    ({"min_box_area": 1}, "config.min_box_area"),
    ({"level": "panic"}, "config.level"),
    ({"roi_mode": "inside"}, "config.roi_mode"),
    ({"target_classes": "person"}, "config.target_classes"),
    ({"region_of_interest": [[0, 0], [1, 1]]}, "config.region_of_interest"),
    ({"region_of_interest": [[0, 0], [1.2, 0], [1, 1]]}, "config.region_of_interest"),
    ({"region_of_interest": [[0, 0], [0.5, 0.5], [1, 1]]}, "config.region_of_interest"),
    ({"region_of_interest": [{"name": "", "polygon": [[0, 0], [1, 0], [1, 1]]}]}, "config.region_of_interest.0.name"),
    ({"region_of_interest": [{"name": "a", "polygon": [[0, 0], [1, 0], [1, 1]]},
                             {"name": "a", "polygon": [[0, 0], [1, 0], [1, 1]]}]}, "config.region_of_interest.1.name"),
    ({"surprise": 1}, "config"),
])
def test_invalid_config_is_refused_naming_the_field(config, field):
    with pytest.raises(ConfigError) as exc:
        normalise_config(config)
    assert field in exc.value.errors


def test_target_classes_must_be_classes_the_algorithm_knows():
    with pytest.raises(ConfigError) as exc:
        normalise_config({"target_classes": ["car"]}, class_names=["Normal", "Fall"])
    assert "config.target_classes" in exc.value.errors
    assert normalise_config({"target_classes": ["Fall"]}, class_names=["Normal", "Fall"])["target_classes"] == ["Fall"]


def test_class_filter_and_confidence_threshold():
    rules = engine(target_classes=["person"], alert_threshold=0.6)
    kept = rules.filter([person(conf=0.59), person(conf=0.6), person(cls="car")], W, H)
    assert [(m.detection.class_name, m.detection.confidence) for m in kept] == [("person", 0.6)]


def test_min_box_area_is_a_fraction_of_the_frame():
    rules = engine(min_box_area=0.02)  # 10,000 px of 500,000
    small, large = person(0, 0, 99, 100), person(0, 0, 100, 100)
    assert [m.detection for m in rules.filter([small, large], W, H)] == [large]


def test_centre_rule_keeps_boxes_whose_centre_is_inside_the_zone():
    left_half = [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
    rules = engine(region_of_interest=left_half)
    inside, outside = person(100, 100, 300, 300), person(600, 100, 800, 300)
    straddling = person(400, 100, 700, 300)  # centre x = 550 px = 0.55: outside
    assert [(m.detection, m.zone) for m in rules.filter([inside, outside, straddling], W, H)] == [(inside, "roi")]


def test_overlap_rule_uses_the_covered_fraction_of_the_box():
    left_half = [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
    straddling = person(300, 100, 700, 300)  # half of the box is left of x=500
    assert len(engine(region_of_interest=left_half, roi_mode="overlap", roi_min_overlap=0.5)
               .filter([straddling], W, H)) == 1
    stricter = engine(region_of_interest=left_half, roi_mode="overlap", roi_min_overlap=0.6)
    assert stricter.filter([straddling], W, H) == []


def test_a_detection_in_two_named_zones_matches_both():
    zones = [{"name": "door", "polygon": [[0, 0], [0.6, 0], [0.6, 1], [0, 1]]},
             {"name": "hall", "polygon": [[0.2, 0], [1, 0], [1, 1], [0.2, 1]]}]
    matches = engine(region_of_interest=zones).filter([person(300, 100, 500, 300)], W, H)
    assert sorted(m.zone for m in matches) == ["door", "hall"]


def test_dwell_needs_consecutive_frames_and_a_gap_restarts_it():
    rules = engine(min_consecutive_frames=3, cooldown_seconds=0)
    seen, empty = [person()], []
    assert rules.evaluate(seen, W, H, 0)[1] is None
    assert rules.evaluate(seen, W, H, 1)[1] is None
    assert rules.evaluate(empty, W, H, 2)[1] is None  # the gap
    assert rules.evaluate(seen, W, H, 3)[1] is None
    assert rules.evaluate(seen, W, H, 4)[1] is None
    decision = rules.evaluate(seen, W, H, 5)[1]
    assert decision is not None and decision.keys == [("person", None)]


def test_cooldown_makes_one_person_standing_in_view_one_alert():
    rules = engine(cooldown_seconds=10)
    fired = [t for t in range(0, 25) if rules.evaluate([person(), person(500, 0, 600, 100)], W, H, t)[1]]
    assert fired == [0, 10, 20]


def test_cooldown_is_per_class_and_zone():
    zones = [{"name": "a", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},
             {"name": "b", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}]
    rules = engine(region_of_interest=zones, cooldown_seconds=60)
    first = rules.evaluate([person(100, 0, 200, 100)], W, H, 0)[1]
    assert first.keys == [("person", "a")]
    # Zone a is cooling down; a person appearing in zone b is a new alert, and so is another class.
    second = rules.evaluate([person(100, 0, 200, 100), person(700, 0, 800, 100),
                             person(100, 0, 200, 100, cls="Fall")], W, H, 1)[1]
    assert sorted(second.keys) == [("Fall", "a"), ("person", "b")]
    assert rules.evaluate([person(100, 0, 200, 100)], W, H, 2)[1] is None


def test_cooldown_seeded_from_earlier_alerts_survives_a_restart():
    rules = RuleEngine(normalise_config({"cooldown_seconds": 30}), last_fired={"person|": 100.0})
    assert rules.evaluate([person()], W, H, 120)[1] is None
    assert rules.evaluate([person()], W, H, 131)[1] is not None


def test_new_config_applies_to_the_next_frame():
    rules = engine(target_classes=["person"])
    rules.update_config(normalise_config({"target_classes": ["Fall"]}))
    assert rules.filter([person()], W, H) == []


def test_geometry_helpers():
    square = [[0, 0], [1, 0], [1, 1], [0, 1]]
    assert point_in_polygon(0.5, 0.5, square)
    assert point_in_polygon(1.0, 0.5, square)  # on the edge
    assert not point_in_polygon(1.5, 0.5, square)
    triangle = [[0, 0], [1, 0], [0, 1]]
    assert box_overlap((0, 0, 1, 1), triangle) == pytest.approx(0.5)
    assert box_overlap((2, 2, 3, 3), triangle) == 0.0
