"""Schedule windows for monitoring tasks: validation of ``schedule_config`` and "is the window open now".

A window is ``{"start_time": "HH:MM", "end_time": "HH:MM", "days": [0..6]}`` (Monday is 0; day names
such as ``"mon"`` are accepted and normalised to numbers). A window whose end is not after its start
crosses midnight: ``22:00``-``06:00`` on Friday is open from Friday 22:00 to Saturday 06:00, because the
days name the day a window *opens*. No days (or an empty list) means every day.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

from django.utils import timezone

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScheduleError(ValueError):
    """An invalid schedule; ``errors`` maps the field name to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {m}" for k, v in errors.items() for m in v))
        self.errors = errors


def _parse_time(value, field: str, errors: dict) -> time | None:
    if not isinstance(value, str):
        errors.setdefault(field, []).append("Must be a time string HH:MM.")
        return None
    for fmt in ("%H:%M", "%H:%M:%S"):
        try:
            return datetime.strptime(value, fmt).time()
        except ValueError:
            continue
    errors.setdefault(field, []).append(f"{value!r} is not a time HH:MM (00:00 to 23:59).")
    return None


def _parse_day(value, errors: dict) -> int | None:
    if isinstance(value, bool):
        value = None
    if isinstance(value, int) and 0 <= value <= 6:
        return value
    if isinstance(value, str) and value[:3].lower() in DAY_NAMES:
        return DAY_NAMES.index(value[:3].lower())
    errors.setdefault("days", []).append(f"{value!r} is not a day (0=Monday..6=Sunday, or mon..sun).")
    return None


def normalise_schedule(config) -> dict:
    """Validates a schedule window and returns it normalised (times HH:MM, days as sorted numbers).
    Raises :class:`ScheduleError`."""
    if not isinstance(config, dict):
        raise ScheduleError({"schedule_config": ["Must be an object with start_time, end_time and days."]})
    errors: dict[str, list[str]] = {}
    unknown = set(config) - {"start_time", "end_time", "days"}
    if unknown:
        errors["schedule_config"] = [f"Unknown keys: {', '.join(sorted(unknown))}."]
    for key in ("start_time", "end_time"):
        if key not in config:
            errors.setdefault(key, []).append("This field is required for a scheduled task.")
    start = _parse_time(config["start_time"], "start_time", errors) if "start_time" in config else None
    end = _parse_time(config["end_time"], "end_time", errors) if "end_time" in config else None
    raw_days = config.get("days", [])
    days: list[int] = []
    if raw_days is None:
        raw_days = []
    if not isinstance(raw_days, list):
        errors.setdefault("days", []).append("Must be a list of days.")
    else:
        for value in raw_days:
            day = _parse_day(value, errors)
            if day is not None and day not in days:
                days.append(day)
    if start is not None and end is not None and start == end:
        errors.setdefault("end_time", []).append("The window must not be empty (end_time equals start_time).")
    if errors:
        raise ScheduleError(errors)
    return {"start_time": start.strftime("%H:%M"), "end_time": end.strftime("%H:%M"), "days": sorted(days)}


def window_open(config: dict, now: datetime | None = None) -> bool:
    """Whether the (normalised) window is open at ``now`` (an aware datetime; local time is used)."""
    now = timezone.localtime(now or timezone.now())
    start = datetime.strptime(config["start_time"], "%H:%M").time()
    end = datetime.strptime(config["end_time"], "%H:%M").time()
    days = config.get("days") or list(range(7))
    current = now.time()
    if start < end:
        return now.weekday() in days and start <= current < end
    # Crossing midnight: the evening part belongs to today, the morning part to the window that
    # opened yesterday.
    if current >= start:
        return now.weekday() in days
    if current < end:
        return (now - timedelta(days=1)).weekday() in days
    return False


def is_active(schedule_type: str, config: dict, now: datetime | None = None) -> bool:
    """Whether a task with this schedule should be running at ``now``: real-time tasks always are."""
    if schedule_type != "scheduled":
        return True
    return window_open(config, now)
