"""The benchmark's regression guard: a figure past its ceiling is reported (and fails
`benchmarks/run`), and every ceiling names a figure the benchmark really prints."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.ceilings import CEILINGS, breaches
from benchmarks.harness import Figure

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_a_figure_over_its_ratio_or_query_ceiling_is_a_breach():
    name = "lookup request: phone"
    ratio_ceiling, query_ceiling = CEILINGS[name]
    within = Figure(name, [ratio_ceiling * 0.9], "floor", [1.0], queries=query_ceiling)
    too_slow = Figure(name, [ratio_ceiling * 1.1], "floor", [1.0], queries=1)
    too_many = Figure(name, [1.0], "floor", [1.0], queries=query_ceiling + 1)
    assert breaches([within]) == []
    assert [line.split(":")[0] for line in breaches([too_slow, too_many])] == ["lookup request"] * 2
    assert "queries" in breaches([too_many])[0]


def test_a_rate_breaches_when_it_falls_below_its_floor_by_more_than_the_ceiling():
    name = "member import, 10000 rows"
    ceiling = CEILINGS[name][0]
    slow_import = Figure(name, [100.0], "COPY", [100.0 * (ceiling + 1)], unit="rows/s")
    assert breaches([slow_import])


def test_every_ceiling_names_a_figure_the_benchmark_prints():
    """Names are matched against the string literals of the benchmark modules, an f-string's
    {fields} standing for any text, so a renamed figure cannot leave its ceiling unused."""
    templates = []
    for path in BENCHMARKS.glob("*.py"):
        if path.name == "ceilings.py":
            continue
        for literal in re.findall(r'"([^"\n]+)"', path.read_text(encoding="utf-8")):
            parts = re.split(r"\{[^}]*\}", literal)
            templates.append(re.compile(".+".join(re.escape(part) for part in parts)))
    missing = [name for name in CEILINGS if not any(t.fullmatch(name) for t in templates)]
    assert missing == []
