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


TICK_COUNT = 4  # intervals on the value axis at most (five labels with zero)


def nice_ticks(top_value: Decimal, *, money: bool = True, count: int = TICK_COUNT) -> list:
    """Evenly spaced axis values from zero to at least `top_value`, each distinct.

    The step is 1, 2 or 5 times a power of ten. For counts (money=False) it is a whole
    number, so small values read 0, 1, 2, 3 rather than 0, 0.25, 0.5; for money it may go
    down to the fen. An all-zero (or all-negative) series gets the axis 0, 1 (no 1, 1, 0, 0).
    """
    top_value = Decimal(top_value)
    smallest = Decimal("0.01") if money else Decimal(1)
    if top_value <= 0:
        return [Decimal(0), Decimal(1)]
    raw = top_value / count
    exponent = raw.adjusted()  # floor(log10(raw))
    step = None
    for power in (exponent, exponent + 1):
        base = Decimal(10) ** power
        for factor in (1, 2, 5):
            candidate = factor * base
            if candidate >= raw:
                step = candidate
                break
        if step is not None:
            break
    step = max(step, smallest)
    intervals = int((top_value / step).to_integral_value(rounding="ROUND_CEILING"))
    return [step * n for n in range(intervals + 1)]


def tick_label(value: Decimal, step: Decimal) -> str:
    """A tick's label with only the decimals its step needs (0, 0.5, 1 or 0, 2,000, 4,000)."""
    places = max(0, -step.normalize().as_tuple().exponent)
    return f"{value:,.{places}f}"


def _coordinate(value: float) -> str:
    return f"{value:.2f}"


def trend_chart(
    series: list[tuple[datetime.date, Decimal]],
    forecast: list[tuple[datetime.date, Decimal, Decimal, Decimal]] | None = None,
) -> dict:
    """Bars for each day's revenue (negative days, all refunds, sit at zero), then, when a
    forecast is given, its days after the last bar: the expected revenue as a line inside
    the low-high band (a filled polygon)."""
    forecast = forecast or []
    highest = max(
        [v for _d, v in series] + [high for _d, _e, _l, high in forecast], default=Decimal(0)
    )
    values = nice_ticks(highest)
    top = values[-1]
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    count = max(len(series) + len(forecast), 1)
    slot = plot_w / count
    bar_w = max(slot * 0.8, 0.5)

    def y_of(value: Decimal) -> float:
        return PAD_TOP + plot_h - float(max(value, 0) / top) * plot_h

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
    step = values[1] - values[0]
    ticks = [
        {
            "y": round(PAD_TOP + plot_h - plot_h * float(value / top), 2),
            "label": tick_label(value, step),
        }
        for value in values
    ]
    band = line = ""
    if forecast:
        centres = [
            PAD_LEFT + (len(series) + index) * slot + slot / 2 for index in range(len(forecast))
        ]
        upper = [
            f"{_coordinate(x)},{_coordinate(y_of(high))}"
            for x, (_d, _e, _l, high) in zip(centres, forecast, strict=True)
        ]
        lower = [
            f"{_coordinate(x)},{_coordinate(y_of(low))}"
            for x, (_d, _e, low, _h) in zip(centres, forecast, strict=True)
        ]
        band = " ".join(upper + lower[::-1])
        line = " ".join(
            f"{_coordinate(x)},{_coordinate(y_of(expected))}"
            for x, (_d, expected, _l, _h) in zip(centres, forecast, strict=True)
        )
    days = [d for d, _v in series] + [row[0] for row in forecast]
    labels = []
    if days:
        every = max(1, count // 6)
        for index in range(0, count, every):
            labels.append(
                {
                    "x": round(PAD_LEFT + index * slot + slot / 2, 2),
                    "label": f"{days[index]:%m-%d}",
                }
            )
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": PAD_LEFT,
        "tick_x": PAD_LEFT - 6,
        "right": WIDTH - PAD_RIGHT,
        "plot_top": PAD_TOP,
        "baseline": PAD_TOP + plot_h,
        "label_y": HEIGHT - 8,
        "bars": bars,
        "ticks": ticks,
        "labels": labels,
        "total": sum((v for _d, v in series), Decimal(0)),
        # The forecast: polygon and polyline points, and where its days begin.
        "band": band,
        "forecast_line": line,
        "forecast_x": _coordinate(PAD_LEFT + len(series) * slot) if forecast else "",
        "forecast_total": sum((row[1] for row in forecast), Decimal(0)),
    }
