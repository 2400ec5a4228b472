"""The test clock: what "now" is in a test, and how CI moves it.

Two environment variables let CI replay the suite at the hours and days that break code which
reads the real clock (see .ci/run):

- ``CRM_TEST_CLOCK``: an ISO datetime with its offset (``2026-12-31T23:30:00+08:00``). The whole
  test process starts there and the clock ticks on from it, so module constants, factories and
  services all see the same travelled time.
- ``CRM_TEST_TENANT_ZONE``: the time zone new test tenants get (default ``Asia/Shanghai``), so a
  test that silently assumes Beijing time is caught on ``Asia/Urumqi``.

Tests whose outcome depends on the hour, the day, the month or the zone carry the ``clock``
marker; CI runs those again under each fixed clock. A test that needs a given wall-clock time
takes the ``clock`` fixture and travels there instead of building "today at 22:00" from the
real clock and comparing it with rows stamped at the real time.
"""

from __future__ import annotations

import datetime
import os
import zoneinfo

import time_machine
from django.utils import timezone

DEFAULT_ZONE = "Asia/Shanghai"


def travelled_start() -> datetime.datetime | None:
    """The instant CRM_TEST_CLOCK asks the whole run to start at, or None for the real clock."""
    text = os.environ.get("CRM_TEST_CLOCK", "").strip()
    if not text:
        return None
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"CRM_TEST_CLOCK needs an offset or zone: {text!r}")
    return moment


def tenant_zone_name() -> str:
    """The zone a test tenant gets unless the test names one."""
    return os.environ.get("CRM_TEST_TENANT_ZONE", "").strip() or DEFAULT_ZONE


def default_zone() -> zoneinfo.ZoneInfo:
    """The current tenant's zone inside a tenant context, else the test tenants' zone."""
    from tenancy.context import current_tenant_or_none

    tenant = current_tenant_or_none()
    return tenant.zone if tenant is not None else zoneinfo.ZoneInfo(tenant_zone_name())


def local_today_at(
    hour: int, minute: int = 0, zone: zoneinfo.ZoneInfo | None = None
) -> datetime.datetime:
    """Today, on the tenant's wall clock, at the given time (today as the test clock has it)."""
    zone = zone or default_zone()
    return timezone.localtime(timezone.now(), zone).replace(
        hour=hour, minute=minute, second=0, microsecond=0
    )


class Clock:
    """Moves the clock of one test; time stands still where it is put (tick=False)."""

    def __init__(self, traveller: time_machine.TimeMachineFixture) -> None:
        self._traveller = traveller

    def move_to(self, moment: datetime.datetime) -> datetime.datetime:
        if moment.tzinfo is None:
            raise ValueError("the test clock takes aware datetimes only")
        self._traveller.move_to(moment, tick=False)
        return moment

    def at(self, hour: int, minute: int = 0, *, days: int = 0) -> datetime.datetime:
        """Stop the clock today (plus `days`) at hour:minute on the tenant's wall clock."""
        # Aware arithmetic keeps the wall-clock time, so `days` moves whole local days.
        return self.move_to(local_today_at(hour, minute) + datetime.timedelta(days=days))

    def advance(self, delta: datetime.timedelta) -> datetime.datetime:
        return self.move_to(timezone.now() + delta)
