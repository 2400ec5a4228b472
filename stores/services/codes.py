"""Store codes (REGION-TYPE-SEQUENCE from a locked counter, never reused) and the re-review
interval.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from stores.models import (
    STORE_CODE_PATTERN,
    Region,
    Store,
    StoreCodeCounter,
    StoreCodeHistory,
    StoreType,
)
from tenancy.context import current_tenant
from tenancy.dates import add_months, tenant_today
from tenancy.models import StaffMember, Tenant
from tenancy.services import audit_record

REVIEW_MONTHS_SETTING = "store_review_months"
DEFAULT_REVIEW_MONTHS = 12

_CODE_RE = re.compile(STORE_CODE_PATTERN)


# --- Codes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedCode:
    region: str
    store_type: str
    sequence: int


def store_code_format(*, region_code: str, type_code: str, sequence: int) -> str:
    """BJ-ZY-001: three digits at least, growing to four after 999 (BJ-ZY-1000)."""
    if sequence < 1:
        raise ValueError("sequences start at 1")
    return f"{region_code}-{type_code}-{sequence:03d}"


def store_code_parse(code: str) -> ParsedCode:
    match = _CODE_RE.match(code or "")
    if match is None or int(match.group("seq")) < 1:
        raise ValidationError(
            _("%(code)s is not a valid store code (REGION-TYPE-SEQUENCE, e.g. BJ-ZY-001)."),
            params={"code": code},
            code="invalid_code",
        )
    return ParsedCode(match.group("region"), match.group("type"), int(match.group("seq")))


def _locked_counter(*, region: Region, store_type: StoreType) -> StoreCodeCounter:
    # get_or_create first: a concurrent first use of a prefix makes one insert fail on the
    # unique (tenant, region, store_type) constraint, and get_or_create then reads the row
    # the winner committed.
    StoreCodeCounter.objects.get_or_create(region=region, store_type=store_type)
    # Lock the counter until this transaction ends: two approvals on the same prefix would
    # otherwise read the same last_sequence and issue the same code. Because the increment
    # is part of the approval's transaction, a rollback gives the number back (no gaps).
    return StoreCodeCounter.objects.select_for_update().get(region=region, store_type=store_type)


def _issue_code(*, region: Region, store_type: StoreType) -> str:
    """Take the next code of a prefix. Must run inside the caller's transaction."""
    counter = _locked_counter(region=region, store_type=store_type)
    counter.last_sequence += 1
    counter.save(update_fields=["last_sequence"])
    return store_code_format(
        region_code=region.code, type_code=store_type.code, sequence=counter.last_sequence
    )


def store_code_search(*, query: str):
    """Stores whose current or former code, or name, contains `query`."""
    from django.db.models import Q

    query = query.strip()
    former = StoreCodeHistory.objects.filter(code__icontains=query).values("store_id")
    return Store.objects.filter(
        Q(code__icontains=query) | Q(name__icontains=query) | Q(pk__in=former)
    )


# --- Dates ----------------------------------------------------------------------------------


def review_interval_months(tenant: Tenant | None = None) -> int:
    tenant = tenant or current_tenant()
    try:
        months = int(tenant.setting(REVIEW_MONTHS_SETTING, DEFAULT_REVIEW_MONTHS))
    except (TypeError, ValueError):
        return DEFAULT_REVIEW_MONTHS
    return months if months > 0 else DEFAULT_REVIEW_MONTHS


def next_review_date(*, after: datetime.date | None = None) -> datetime.date:
    return add_months(after or tenant_today(), review_interval_months())


@transaction.atomic
def review_interval_set(*, months: int, actor: StaffMember) -> None:
    if not 1 <= months <= 60:
        raise ValidationError(_("The review interval must be between 1 and 60 months."))
    tenant = Tenant.objects.select_for_update().get(pk=current_tenant().pk)
    before = review_interval_months(tenant)
    tenant.settings = {**tenant.settings, REVIEW_MONTHS_SETTING: months}
    tenant.save(update_fields=["settings"])
    current_tenant().settings = tenant.settings
    audit_record(
        action="stores.review_interval_set",
        actor=actor,
        obj=tenant,
        before={"months": before},
        after={"months": months},
    )
