"""The seam through which analytics (above campaigns) measures a campaign's effect.

analytics registers `measure(*, campaign) -> dict` in its AppConfig.ready(); the result has
one entry per group, "targeted" and "holdout", each {"members", "buyers", "revenue"}: how many
members were in the group, how many bought within the campaign's effect window after their
run started, and what they spent then (Decimal). Without analytics the report says so.
"""

from __future__ import annotations

from collections.abc import Callable

_measure: Callable | None = None


def register(func: Callable) -> None:
    global _measure
    _measure = func


def unregister() -> None:
    global _measure
    _measure = None


def measure(*, campaign) -> dict | None:
    return _measure(campaign=campaign) if _measure is not None else None
