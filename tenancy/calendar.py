"""The tenant's working calendar: Monday to Friday work, Saturday and Sunday off, except the
days HQ listed (CalendarDay): public holidays off and make-up working days (调休上班).

Why a list kept per tenant and not a library or a formula: China's public holidays and their
make-up days are decided each year by the State Council and announced late (in November for
the next year), and a chain may observe a different list (Hong Kong, Macau, a region's own
days). The platform ships the announced national schedules it knows (OFFICIAL_SCHEDULES);
HQ imports one with a click or `manage.py calendar_import YEAR`, and edits days by hand.
An empty list is the plain weekend-only calendar.
"""

from __future__ import annotations

import datetime

from django.db import transaction

from tenancy.models import CalendarDay, StaffMember
from tenancy.services import audit_record

OFF, WORK = CalendarDay.Kind.OFF, CalendarDay.Kind.WORK

# 国务院办公厅关于2026年部分节假日安排的通知 (国办发明电, 2025-11-04, published by Xinhua):
# (holiday, first day off, last day off, make-up working days).
_CN_2026 = [
    ("元旦", "2026-01-01", "2026-01-03", ["2026-01-04"]),
    ("春节", "2026-02-15", "2026-02-23", ["2026-02-14", "2026-02-28"]),
    ("清明节", "2026-04-04", "2026-04-06", []),
    ("劳动节", "2026-05-01", "2026-05-05", ["2026-05-09"]),
    ("端午节", "2026-06-19", "2026-06-21", []),
    ("中秋节", "2026-09-25", "2026-09-27", []),
    ("国庆节", "2026-10-01", "2026-10-07", ["2026-09-20", "2026-10-10"]),
]
OFFICIAL_SCHEDULES = {2026: _CN_2026}


def official_days(year: int) -> list[tuple[datetime.date, str, str]]:
    """(date, kind, name) of the announced national schedule of `year`; [] when unknown."""
    days = []
    for name, first, last, workdays in OFFICIAL_SCHEDULES.get(year, []):
        day = datetime.date.fromisoformat(first)
        while day <= datetime.date.fromisoformat(last):
            days.append((day, OFF, name))
            day += datetime.timedelta(days=1)
        days += [(datetime.date.fromisoformat(w), WORK, f"{name}调休") for w in workdays]
    return sorted(days)


def _exceptions(start: datetime.date, end: datetime.date) -> dict[datetime.date, str]:
    rows = CalendarDay.objects.filter(day__gte=start, day__lte=end).values_list("day", "kind")
    return dict(rows)


def is_working_day(day: datetime.date, exceptions: dict[datetime.date, str]) -> bool:
    kind = exceptions.get(day)
    if kind is not None:
        return kind == WORK
    return day.weekday() < 5


def add_working_days(start: datetime.date, days: int) -> datetime.date:
    """`days` working days after `start` on the current tenant's calendar (received on a
    Friday before an ordinary weekend, 1 working day later is the Monday). One query per
    window of days read, however long the holidays."""
    day = start
    remaining = days
    window_end = start
    exceptions: dict[datetime.date, str] = {}
    while remaining > 0:
        day += datetime.timedelta(days=1)
        if day > window_end:
            window_end = day + datetime.timedelta(days=2 * remaining + 30)
            exceptions = _exceptions(day, window_end)
        if is_working_day(day, exceptions):
            remaining -= 1
    return day


@transaction.atomic
def calendar_day_set(
    *, actor: StaffMember | None, day: datetime.date, kind: str, name: str = ""
) -> CalendarDay:
    """Mark `day` off or working (replacing what it was), audited with before/after."""
    row = CalendarDay.objects.select_for_update().filter(day=day).first()
    before = {"kind": row.kind, "name": row.name} if row else None
    if row is None:
        row = CalendarDay(day=day)
    row.kind, row.name = kind, name.strip()
    row.save()
    audit_record(
        action="tenancy.calendar_day_set",
        actor=actor,
        obj=row,
        before=before or {},
        after={"day": day.isoformat(), "kind": kind, "name": row.name},
    )
    return row


@transaction.atomic
def calendar_day_remove(*, actor: StaffMember | None, day: datetime.date) -> bool:
    """Back to the plain weekday rule for `day`; False when it was not listed."""
    row = CalendarDay.objects.filter(day=day).first()
    if row is None:
        return False
    audit_record(
        action="tenancy.calendar_day_removed",
        actor=actor,
        obj=row,
        before={"day": day.isoformat(), "kind": row.kind, "name": row.name},
    )
    row.delete()
    return True


@transaction.atomic
def calendar_import_official(*, actor: StaffMember | None, year: int) -> int:
    """Write the announced national schedule of `year` into the current tenant's calendar
    (days listed there replace the tenant's own entry for that date; other days are kept).
    A repeat changes nothing. Returns the number of days written or changed."""
    wanted = official_days(year)
    if not wanted:
        return 0
    current = {
        row.day: row
        for row in CalendarDay.objects.select_for_update().filter(
            day__in=[day for day, _k, _n in wanted]
        )
    }
    changed = 0
    for day, kind, name in wanted:
        row = current.get(day)
        if row is not None and (row.kind, row.name) == (kind, name):
            continue
        row = row or CalendarDay(day=day)
        row.kind, row.name = kind, name
        row.save()
        changed += 1
    audit_record(
        action="tenancy.calendar_imported",
        actor=actor,
        after={"year": year, "days": len(wanted), "changed": changed},
    )
    return changed
