"""Reads used by the member pages, exports and (later) campaigns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal, InvalidOperation

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_date

from customers.lunar import birthdays_in_month, birthdays_q
from customers.models import Customer
from tenancy.access import scope_to_stores
from tenancy.context import current_tenant
from tenancy.encryption import phone_index
from tenancy.models import AuditEvent, StaffMember

LAST4_LIMIT = 20
_SEPARATORS = re.compile(r"[\s\-()]")


@dataclass(frozen=True)
class LookupQuery:
    kind: str  # "phone", "last4", "card" or "" (nothing to search)
    value: str


def classify_query(query: str) -> LookupQuery:
    """Decide which key the counter typed: a mobile number, its last 4 digits, or a card."""
    raw = (query or "").strip()
    compact = _SEPARATORS.sub("", raw)
    if not compact:
        return LookupQuery("", "")
    if compact.startswith("+86"):
        compact = compact[3:]
    elif compact.startswith("86") and len(compact) == 13:
        compact = compact[2:]
    if re.fullmatch(r"1\d{10}", compact):
        return LookupQuery("phone", compact)
    if re.fullmatch(r"\d{4}", compact):
        return LookupQuery("last4", compact)
    return LookupQuery("card", compact.upper())


def customer_lookup(*, query: str, staff: StaffMember, limit: int = LAST4_LIMIT) -> list[Customer]:
    """Counter lookup: one query, each kind served by its own (tenant, ...) index.

    Members are tenant-wide (anyone may buy in any store), so every staff member of the
    tenant may look them up; what they see of the phone is decided by the template.
    """
    parsed = classify_query(query)
    if not parsed.kind:
        return []
    base = Customer.objects.active().select_related("home_store")
    if parsed.kind == "phone":
        # The phone is encrypted: its blind index is the (tenant, phone_hash) unique index.
        rows = base.filter(phone_hash=phone_index(parsed.value))
    elif parsed.kind == "last4":
        # Names are encrypted, so the few matches are put in name order here.
        rows = base.filter(phone_last4=parsed.value).order_by("id")[: min(limit, LAST4_LIMIT)]
        return sorted(rows, key=lambda member: (str(member.name), member.pk))
    else:
        # A merged member's old card still works at the counter: it finds the member it was
        # merged into (joined in the same query).
        card = (
            Customer.objects.filter(card_number=parsed.value)
            .select_related("home_store", "merged_into__home_store")
            .first()
        )
        if card is not None and card.merged_into_id:
            card = card.merged_into
        return [card] if card is not None and not card.is_erased else []
    return list(rows[: min(limit, LAST4_LIMIT)])


def member_or_404(
    pk: int, *, include_erased: bool = False, related: tuple[str, ...] = ("home_store",)
) -> Customer:
    """The one way a page fetches a member by id. Members belong to the chain, not to one
    store: any staff of the tenant may open one; the tenant manager (and RLS) make another
    tenant's member a 404. Erased members only where the page shows them (the profile)."""
    members = Customer.objects.all() if include_erased else Customer.objects.active()
    return get_object_or_404(members.select_related(*related), pk=pk)


def customer_list(*, staff: StaffMember) -> QuerySet[Customer]:
    """Members a person may list, export or bulk-tag: HQ all, managers their stores' members."""
    rows = Customer.objects.active().select_related("home_store")
    return scope_to_stores(rows, staff, store_field="home_store")


def customer_history(*, customer: Customer, limit: int = 50) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        object_type=Customer._meta.label_lower, object_id=str(customer.pk)
    ).order_by("-created_at", "-id")[:limit]


def _decimal(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _day_start(value) -> datetime | None:
    day = parse_date(value) if isinstance(value, str) and value else None
    if day is None:
        return None
    return datetime.combine(day, time.min, tzinfo=current_tenant().zone)


def segment_filter(criteria: dict, *, include_erased: bool = False) -> Q:
    """The Q object for a segment's criteria; empty or missing keys do not filter.

    Erased members never match, unless `include_erased` (campaigns count them as excluded).
    """
    q = Q() if include_erased else Q(is_erased=False)
    tags = [int(t) for t in criteria.get("tags") or [] if str(t).isdigit()]
    if tags:
        q &= Q(tag_links__tag_id__in=tags)
    if criteria.get("tier_code"):
        q &= Q(tier_code=criteria["tier_code"])
    stores = [int(s) for s in criteria.get("home_stores") or [] if str(s).isdigit()]
    if stores:
        q &= Q(home_store_id__in=stores)
    if str(criteria.get("birth_month") or "").isdigit():
        q &= Q(birth_month=int(criteria["birth_month"]))
    if criteria.get("lunar_birthday_this_month"):
        # Members whose lunar birthday falls in the tenant's current solar month this year:
        # the month's few dozen (month, day, leap) triples, matched on their index.
        today = timezone.localdate(timezone=current_tenant().zone)
        q &= birthdays_q(birthdays_in_month(today.year, today.month))
    after = _day_start(criteria.get("last_purchase_after"))
    if after is not None:
        q &= Q(last_purchase_at__gte=after)
    before = _day_start(criteria.get("last_purchase_before"))
    if before is not None:
        q &= Q(last_purchase_at__lt=before)
    low = _decimal(criteria.get("total_spent_min"))
    if low is not None:
        q &= Q(total_spent__gte=low)
    high = _decimal(criteria.get("total_spent_max"))
    if high is not None:
        q &= Q(total_spent__lte=high)
    if criteria.get("rfm_segment"):
        q &= Q(rfm_segment=criteria["rfm_segment"])
    if criteria.get("marketing_consent"):
        q &= Q(marketing_consent=True)
    return q


def criteria_queryset(criteria: dict) -> QuerySet[Customer]:
    rows = Customer.objects.filter(segment_filter(criteria))
    if criteria.get("tags"):
        # A member with two of the tags would otherwise appear twice.
        rows = rows.distinct()
    return rows


def segment_queryset(segment) -> QuerySet[Customer]:
    """Members matching a saved segment, for counts on the page and for campaigns."""
    return criteria_queryset(segment.criteria or {})


def duplicate_groups(*, limit: int = 100) -> list[list[Customer]]:
    """Likely duplicates: members sharing name and birthday (month and day).

    The same phone cannot occur twice (unique per tenant), so name + birthday is the signal;
    a known year that differs means two different people. Names are encrypted: they are
    grouped by their blind index (the normalised name's keyed hash).
    """
    keys = (
        Customer.objects.active()
        .filter(birth_month__isnull=False)
        .exclude(name_hash="")
        .values("name_hash", "birth_month", "birth_day")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by("name_hash", "birth_month", "birth_day")[:limit]
    )
    keys = list(keys)
    if not keys:
        return []
    match = Q()
    for key in keys:
        match |= Q(
            name_hash=key["name_hash"], birth_month=key["birth_month"], birth_day=key["birth_day"]
        )
    groups: dict[tuple, list[Customer]] = {}
    for customer in (
        Customer.objects.active()
        .filter(match)
        .select_related("home_store")
        .order_by("created_at", "id")
    ):
        key = (customer.name_hash, customer.birth_month, customer.birth_day)
        groups.setdefault(key, []).append(customer)
    result = []
    for members in groups.values():
        years = {m.birth_year for m in members if m.birth_year}
        if len(members) > 1 and len(years) <= 1:
            result.append(members)
    return result


def similar_phone_groups(*, limit: int = 100) -> list[list[Customer]]:
    """Same name and same last 4 digits but different numbers: often one mistyped phone."""
    keys = list(
        Customer.objects.active()
        .exclude(phone_last4="")
        .exclude(name_hash="")
        .values("name_hash", "phone_last4")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by("name_hash", "phone_last4")[:limit]
    )
    if not keys:
        return []
    match = Q()
    for key in keys:
        match |= Q(name_hash=key["name_hash"], phone_last4=key["phone_last4"])
    groups: dict[tuple, list[Customer]] = {}
    for customer in (
        Customer.objects.active()
        .filter(match)
        .select_related("home_store")
        .order_by("created_at", "id")
    ):
        groups.setdefault((customer.name_hash, customer.phone_last4), []).append(customer)
    return [members for members in groups.values() if len(members) > 1]
