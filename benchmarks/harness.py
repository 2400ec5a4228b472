"""Timing helpers and the one table the benchmark prints.

Every figure is printed beside a floor measured in the same run on the same data: the least
work the database must do for the same answer. The ratio says how much the application adds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks.ceilings import CEILINGS


@dataclass
class Figure:
    name: str
    samples: list[float]  # milliseconds, or a rate when unit says so
    floor_name: str = ""
    floor_samples: list[float] = field(default_factory=list)
    unit: str = "ms"
    queries: int | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]

    @property
    def floor_median(self) -> float | None:
        return statistics.median(self.floor_samples) if self.floor_samples else None

    @property
    def ratio(self) -> float | None:
        """How many times its floor: for a rate (higher is better) floor / figure."""
        floor = self.floor_median
        if not floor or not self.median:
            return None
        return self.median / floor if self.unit == "ms" else floor / self.median


def time_ms(func: Callable[[], object], repeat: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        func()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def time_each_ms(func: Callable[[object], object], inputs: list, warmup: int = 3) -> list[float]:
    """Time func(x) once for every x (different keys each call: no warm single-row cache)."""
    for value in inputs[:warmup]:
        func(value)
    samples = []
    for value in inputs:
        started = time.perf_counter()
        func(value)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def render(figures: list[Figure]) -> str:
    header = (
        f"{'figure':<44} {'median':>10} {'p95':>10}   {'floor':<34} {'floor med':>10} "
        f"{'x floor':>8} {'ceiling':>7} {'queries':>7}"
    )
    lines = [header, "-" * len(header)]
    for fig in figures:
        floor = fig.floor_median
        ratio = f"{fig.ratio:8.1f}" if fig.ratio is not None else f"{'':>8}"
        ceiling = CEILINGS.get(fig.name)
        limit = f"{ceiling[0]:>7g}" if ceiling else f"{'':>7}"
        unit = "" if fig.unit == "ms" else f" {fig.unit}"
        lines.append(
            f"{fig.name:<44} {fig.median:>10.2f} {fig.p95:>10.2f}   {fig.floor_name:<34} "
            f"{(f'{floor:.2f}' if floor is not None else ''):>10} {ratio} {limit} "
            f"{(fig.queries if fig.queries is not None else ''):>7}{unit}"
        )
        if fig.note:
            lines.append(f"    {fig.note}")
    return "\n".join(lines)
