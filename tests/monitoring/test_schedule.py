"""Schedule windows: validation, windows within a day, windows crossing midnight, days."""
from __future__ import annotations

from datetime import datetime

import pytest
from django.utils import timezone

from streams.schedule import ScheduleError, is_active, normalise_schedule, window_open


def at(day: int, hhmm: str) -> datetime:
    """A moment in the week of Monday 2026-11-23 (day 0 = Monday)."""
    hour, minute = map(int, hhmm.split(":"))
    return timezone.make_aware(datetime(2026, 11, 23 + day, hour, minute))


def test_days_are_normalised_from_names_and_numbers():
    cfg = normalise_schedule({"start_time": "8:00", "end_time": "17:30:00", "days": ["Fri", 0, "mon"]})
    assert cfg == {"start_time": "08:00", "end_time": "17:30", "days": [0, 4]}


@pytest.mark.parametrize(("config", "field"), [
    ({"end_time": "10:00"}, "start_time"),
    ({"start_time": "25:00", "end_time": "10:00"}, "start_time"),
    ({"start_time": 9, "end_time": "10:00"}, "start_time"),
    ({"start_time": "10:00", "end_time": "10:00"}, "end_time"),
    ({"start_time": "09:00", "end_time": "10:00", "days": [7]}, "days"),
    ({"start_time": "09:00", "end_time": "10:00", "days": "mon"}, "days"),
    ({"start_time": "09:00", "end_time": "10:00", "every": 2}, "schedule_config"),
])
def test_invalid_windows_are_refused(config, field):
    with pytest.raises(ScheduleError) as exc:
        normalise_schedule(config)
    assert field in exc.value.errors


def test_a_daytime_window_opens_at_start_and_closes_at_end():
    cfg = normalise_schedule({"start_time": "09:00", "end_time": "17:00", "days": [0, 1, 2, 3, 4]})
    assert not window_open(cfg, at(0, "08:59"))
    assert window_open(cfg, at(0, "09:00"))
    assert window_open(cfg, at(4, "16:59"))
    assert not window_open(cfg, at(4, "17:00"))
    assert not window_open(cfg, at(5, "12:00"))  # Saturday


def test_a_window_crossing_midnight_belongs_to_the_day_it_opens():
    friday_night = normalise_schedule({"start_time": "22:00", "end_time": "06:00", "days": ["fri"]})
    assert not window_open(friday_night, at(4, "21:59"))
    assert window_open(friday_night, at(4, "23:30"))
    assert window_open(friday_night, at(5, "03:00"))  # Saturday morning, opened Friday
    assert not window_open(friday_night, at(5, "06:00"))
    assert not window_open(friday_night, at(4, "03:00"))  # Friday morning: Thursday had no window
    assert not window_open(friday_night, at(5, "23:00"))


def test_no_days_means_every_day_and_realtime_is_always_active():
    nightly = normalise_schedule({"start_time": "22:00", "end_time": "06:00"})
    assert all(window_open(nightly, at(d, "02:00")) for d in range(7))
    assert is_active("realtime", {}, at(0, "12:00"))
    assert not is_active("scheduled", nightly, at(0, "12:00"))
