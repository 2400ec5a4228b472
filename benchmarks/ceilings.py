"""How far each figure may drift from its floor before `benchmarks/run` fails.

A ratio to a floor measured in the same run moves less with the machine than a time does, but
it still swings both ways: on a busy 2-core box the floors grow with the load, on a quiet one a
sub-millisecond floor shrinks faster than the request around it (the HQ overview read 19x with
nine sessions sharing the machine and 80x alone). Each ceiling is about three times the larger
ratio seen at --quick scale in those two states, so only a real regression (a lost index, a
query per row, a second round trip) crosses it. Query counts are exact, so their ceilings are
the targets themselves.
"""

from __future__ import annotations

# figure name -> (largest ratio to its floor, largest query count or None)
CEILINGS: dict[str, tuple[float, int | None]] = {
    "lookup request: phone": (400, 2),
    "lookup request: card": (400, 2),
    # Seen 31-105x with the same code on this box at load 10 (a 0.13-0.6 ms floor), so 60
    # failed on noise, not on a regression.
    "lookup request: last4": (150, 2),
    "enrol a member (service)": (250, None),
    "record a member sale + points (service)": (80, None),
    "store dashboard, 12 months (request)": (200, 12),
    "HQ overview, all stores (request)": (250, 8),
    # One statement since issue 20: 1.8-2.2x at --quick under load (4.9-9.8x with a statement
    # per table); a first build writes every row, 3.3-6.4x.
    "nightly aggregation of one day": (7, None),
    "nightly aggregation, first build of a day": (20, None),
    # Below 1x is the rollup's gain over a year of daily rows: 0.2x at 2M sales, but only
    # 0.4-1.5x at --quick (20 stores with few products a day, so months save little and the
    # ORM's union and merge show). The ceiling catches a read of daily rows for whole months
    # gone wrong (a plan or a query per month), not the small-scale noise.
    "store product totals, 12 months (rollup)": (5, None),
    "member import, 10000 rows": (30, None),
    "loyalty job: expire due lots": (150, None),
    "loyalty job: re-evaluate tiers": (250, None),
    "loyalty job: release pending points": (10, None),
    "find today's birthdays (birthday_due_ids)": (30, None),
    "birthday fan-out, Celery eager (task)": (3, None),
    "birthday greetings, services inline": (120, None),
    "birthday tasks queued today": (1, None),
    # Set-based since issue 20: 1.6x at --quick under load (3.4x when rows went through Python).
    "campaign run, one region (service)": (15, None),
    "settlement: a month's statements": (60, None),
    "nightly recommendations (pairs, 180 days)": (8, None),
    # Provider limit / messages per second: 4-6x on the loaded box at --quick. Sending one
    # message per call (no batches) reads 100x and more, one call at a time 800x.
    "sending: messages/s per worker (SMS batches)": (20, None),
}


def breaches(figures) -> list[str]:
    """Each figure over its ceiling, as a line saying by how much."""
    found = []
    for figure in figures:
        ceiling = CEILINGS.get(figure.name)
        if ceiling is None:
            continue
        largest_ratio, largest_queries = ceiling
        ratio = figure.ratio
        if ratio is not None and ratio > largest_ratio:
            found.append(f"{figure.name}: {ratio:.1f} x its floor, ceiling {largest_ratio:g}")
        if largest_queries is not None and figure.queries is not None:
            if figure.queries > largest_queries:
                found.append(f"{figure.name}: {figure.queries} queries, ceiling {largest_queries}")
    return found
