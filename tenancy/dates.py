"""Calendar helpers every app shares: which day it is on the tenant's clock, and month
arithmetic that clamps to the month's end. One home instead of a copy per app."""

from __future__ import annotations

import calendar
import datetime
from typing import TYPE_CHECKING, TypeVar

from django.utils import timezone

from tenancy.context import current_tenant

if TYPE_CHECKING:
    from tenancy.models import Tenant

DateOrTime = TypeVar("DateOrTime", datetime.date, datetime.datetime)


def tenant_today(tenant: Tenant | None = None) -> datetime.date:
    """Today on the tenant's wall clock (the current tenant unless one is given)."""
    return local_day(timezone.now(), tenant)


def local_day(moment: datetime.datetime, tenant: Tenant | None = None) -> datetime.date:
    """Which calendar day a moment belongs to, in the tenant's time zone."""
    tenant = tenant or current_tenant()
    return moment.astimezone(tenant.zone).date()


def add_months(value: DateOrTime, months: int) -> DateOrTime:
    """The same day (and wall-clock time) `months` later, clamped to the month's length:
    Jan 31 + 1 month is Feb 28 or 29. Works on dates and aware datetimes alike."""
    index = value.year * 12 + value.month - 1 + months
    year, month_index = divmod(index, 12)
    last_day = calendar.monthrange(year, month_index + 1)[1]
    return value.replace(year=year, month=month_index + 1, day=min(value.day, last_day))
