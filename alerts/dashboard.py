"""Chart geometry for the admin dashboard: plain SVG computed here, drawn by the template (no
JavaScript, no CDN)."""
from __future__ import annotations

from typing import Any

PALETTE = ["#3b8eea", "#2e7d32", "#d98e04", "#8250df", "#d1242f", "#1b7c83", "#bf3989", "#6e7781"]


def _nice_max(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def stacked_day_chart(daily: list[dict], levels: list[str], colours: dict[str, str], *, width: int = 900,
                      height: int = 240) -> dict[str, Any]:
    """Vertical bars, one per day, stacked by level. ``daily`` is ``[{date, <level>: n, total}]``."""
    left, bottom, top = 44, 26, 8
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = _nice_max(max((d["total"] for d in daily), default=0))
    slot = plot_w / max(1, len(daily))
    bars = []
    label_every = max(1, round(len(daily) / 10))
    for index, day in enumerate(daily):
        x = left + index * slot
        y = top + plot_h
        segments = []
        for level in levels:
            count = day.get(level, 0)
            if not count:
                continue
            h = count / peak * plot_h
            y -= h
            segments.append({"y": round(y, 1), "h": round(h, 1), "colour": colours.get(level, "#888"),
                             "level": level, "count": count})
        bars.append({"x": round(x + slot * 0.1, 1), "w": round(slot * 0.8, 1), "date": day["date"],
                     "total": day["total"], "segments": segments,
                     "label": day["date"][5:] if index % label_every == 0 else "",
                     "label_x": round(x + slot / 2, 1)})
    ticks = [{"value": round(peak * f), "y": round(top + plot_h - f * plot_h, 1)} for f in (0, 0.5, 1)]
    return {"width": width, "height": height, "bars": bars, "ticks": ticks, "left": left,
            "baseline": top + plot_h, "label_y": height - 8,
            "legend": [{"level": lv, "colour": colours.get(lv, "#888")} for lv in levels]}


def bar_chart(items: list[tuple[str, int]], *, colours: list[str] | None = None, width: int = 600,
              row: int = 24) -> dict[str, Any]:
    """Horizontal bars with labels, e.g. alerts per stream."""
    label_w, value_w = 160, 60
    peak = max((count for _, count in items), default=0) or 1
    colours = colours or PALETTE
    rows = [{"label": label, "count": count, "y": i * row, "text_y": i * row + row * 0.68,
             "w": round(count / peak * (width - label_w - value_w), 1), "colour": colours[i % len(colours)]}
            for i, (label, count) in enumerate(items)]
    return {"width": width, "height": max(row, len(items) * row), "rows": rows, "label_w": label_w}
