"""The dashboard's chart of points earned and spent per month, drawn on the server as SVG geometry (no
script, nothing for the Content-Security-Policy to allow). The template draws the shapes; an equivalent
table is offered beside it for screen readers and keyboard users."""

from __future__ import annotations

import math
from typing import Any

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 12, 30


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 2.5, 5 x 10^n that is >= value (at least 10): a readable axis maximum."""
    if value <= 10:
        return 10
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude)
    return int(10 * magnitude)  # pragma: no cover - the loop always returns


def monthly_bars(rows: list[dict[str, Any]], *, width: int = WIDTH, height: int = HEIGHT) -> dict[str, Any]:
    """Bar geometry for `rows` ({month, earned, spent}, oldest first) in a `width` x `height` view box (a
    phone gets a narrower one with fewer months, so its labels stay readable)."""
    top = nice_ceiling(max([max(row["earned"], row["spent"]) for row in rows] or [0]))
    plot_width, plot_height = width - LEFT - RIGHT, height - TOP - BOTTOM
    group = plot_width / max(len(rows), 1)
    bar = group * 0.34
    baseline = TOP + plot_height

    def bar_height(points: int) -> float:
        return round(plot_height * points / top, 1)

    months = []
    for index, row in enumerate(rows):
        x = LEFT + index * group + group * 0.14
        months.append({
            **row,
            "label_x": round(LEFT + index * group + group / 2, 1),
            "earned_x": round(x, 1),
            "spent_x": round(x + bar + 2, 1),
            "earned_y": round(baseline - bar_height(row["earned"]), 1),
            "spent_y": round(baseline - bar_height(row["spent"]), 1),
            "earned_h": bar_height(row["earned"]),
            "spent_h": bar_height(row["spent"]),
        })
    ticks = [{"value": top * step // 4, "y": round(baseline - plot_height * step / 4, 1)} for step in range(5)]
    return {
        "width": width, "height": height, "left": LEFT, "right": width - RIGHT, "baseline": baseline,
        "bar": round(bar, 1), "label_y": height - 10, "tick_x": LEFT - 6, "months": months, "ticks": ticks,
        "empty": all(row["earned"] == 0 and row["spent"] == 0 for row in rows),
    }
