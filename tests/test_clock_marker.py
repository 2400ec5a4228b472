"""Every test module that reads or sets the clock is in the set CI replays under fixed clocks.

.ci/run reruns `-m clock` at 23:30 and 00:30 Beijing time, on a month end, over the new year,
around Feb 29 and for a tenant on Asia/Urumqi. A module that starts reading the clock without
the marker would silently drop out of those runs; this test says which one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
READS_THE_CLOCK = re.compile(
    r"timezone\.now\(|localdate\(|localtime\(|local_today_at|date\.today\(|datetime\.now\("
    r"|\bclock\b|now=|\.zone\b|time_zone"
)
# Modules that read the clock but are not replayed: a separate worker process or a real browser
# keeps the real clock, and the fault tests' leases are timed against worker threads and
# servers they start. They still run twice, under TZ=UTC and Asia/Shanghai.
OUT_OF_PROCESS = {
    "campaigns/test_celery_worker.py",
    "faults/test_worker_killed.py",
    "faults/test_durable_imports.py",
    "faults/test_durable_campaigns.py",
}


def _clock_modules() -> list[Path]:
    return sorted(
        path
        for path in TESTS.rglob("test_*.py")
        if path.name != Path(__file__).name
        and "e2e" not in path.parts
        and str(path.relative_to(TESTS)) not in OUT_OF_PROCESS
        and READS_THE_CLOCK.search(path.read_text(encoding="utf-8"))
    )


def test_modules_that_read_the_clock_carry_the_clock_marker():
    unmarked = [
        str(path.relative_to(TESTS))
        for path in _clock_modules()
        if "pytest.mark.clock" not in path.read_text(encoding="utf-8")
    ]
    assert unmarked == [], "add `pytest.mark.clock` to pytestmark in: " + ", ".join(unmarked)


@pytest.mark.clock
def test_the_clock_fixture_stops_time_on_the_tenants_wall_clock(in_tenant, clock):
    import datetime

    from django.utils import timezone

    evening = clock.at(22, 30)
    assert timezone.localtime(timezone.now(), in_tenant.zone).time() == datetime.time(22, 30)
    assert timezone.now() == evening  # stands still until the test moves it
    assert clock.advance(datetime.timedelta(hours=2)).astimezone(in_tenant.zone).hour == 0
