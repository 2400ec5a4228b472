"""Server-rendered SVG charts: geometry computed here, drawn by a template. No JS, no CDN."""

from __future__ import annotations

import datetime
from decimal import Decimal

WIDTH = 720
HEIGHT = 240
PAD_LEFT = 64
PAD_RIGHT = 12
PAD_TOP = 12
PAD_BOTTOM = 28


def _nice_max(value: Decimal) -> Decimal:
    """Round the axis top up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return Decimal(1)
    exponent = len(str(int(value))) - 1
    base = Decimal(10) ** exponent
    for step in (1, 2, 5, 10):
        if value <= step * base:
            return step * base
    return 10 * base


def _coordinate(value: float) -> str:
    return f"{value:.2f}"


def trend_chart(series: list[tuple[datetime.date, Decimal]]) -> dict:
    """Bars for each day's revenue (negative days, all refunds, sit at zero)."""
    top = _nice_max(max((v for _d, v in series), default=Decimal(0)))
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    count = max(len(series), 1)
    slot = plot_w / count
    bar_w = max(slot * 0.8, 0.5)
    bars = []
    for index, (day, value) in enumerate(series):
        height = float(max(value, 0) / top) * plot_h
        # Coordinates as plain strings: a float in a template goes through number
        # localisation, four times per bar, which cost more than the rest of the page.
        bars.append(
            {
                "x": _coordinate(PAD_LEFT + index * slot + (slot - bar_w) / 2),
                "y": _coordinate(PAD_TOP + plot_h - height),
                "width": _coordinate(bar_w),
                "height": _coordinate(height),
                # Formatted here: 365 bars through template filters cost more than the SQL.
                "label": f"{day:%Y-%m-%d}: ¥{value:,.2f}",
            }
        )
    ticks = []
    for step in range(5):
        value = top * step / 4
        ticks.append(
            {"y": round(PAD_TOP + plot_h - plot_h * step / 4, 2), "label": f"{value:,.0f}"}
        )
    labels = []
    if series:
        every = max(1, count // 6)
        for index in range(0, count, every):
            labels.append(
                {
                    "x": round(PAD_LEFT + index * slot + slot / 2, 2),
                    "label": f"{series[index][0]:%m-%d}",
                }
            )
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": PAD_LEFT,
        "tick_x": PAD_LEFT - 6,
        "right": WIDTH - PAD_RIGHT,
        "baseline": PAD_TOP + plot_h,
        "label_y": HEIGHT - 8,
        "bars": bars,
        "ticks": ticks,
        "labels": labels,
        "total": sum((v for _d, v in series), Decimal(0)),
    }
