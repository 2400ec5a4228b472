"""Tiers: who qualifies (spend, purchases, referrals over a rolling window) and moving a member
between tiers.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from customers.models import Customer
from loyalty.models import (
    EntryKind,
    PointsAccount,
    Tier,
)
from loyalty.services.rules import ZERO
from tenancy.dates import add_months
from tenancy.models import StaffMember
from tenancy.services import audit_record

# --- tiers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    spend: Decimal
    purchases: int
    referrals: int = 0


def _meets(spend: Decimal, purchases: int, referrals: int, totals: Totals) -> bool:
    """Any one non-zero criterion met is enough; with none at all everybody meets them."""
    if spend <= 0 and purchases <= 0 and referrals <= 0:
        return True
    if spend > 0 and totals.spend >= spend:
        return True
    if referrals > 0 and totals.referrals >= referrals:
        return True
    return purchases > 0 and totals.purchases >= purchases


def _qualifies(tier: Tier, totals: Totals) -> bool:
    """Enough to enter the tier (the entry threshold)."""
    return _meets(tier.min_spend, tier.min_purchases, tier.min_referrals, totals)


def retention_threshold(tier: Tier) -> tuple[Decimal, int]:
    """(spend, purchases) that keep a member in the tier (保级门槛): the retention values HQ
    set, else the entry ones."""
    spend = tier.min_spend if tier.retain_min_spend is None else tier.retain_min_spend
    purchases = tier.retain_min_purchases
    if purchases is None:
        purchases = tier.min_purchases
    return spend, purchases


def _retains(tier: Tier, totals: Totals) -> bool:
    """Enough to keep the tier at a review (referrals count at the entry threshold)."""
    spend, purchases = retention_threshold(tier)
    return _meets(spend, purchases, tier.min_referrals, totals)


def _referral_counts(tiers: list[Tier], at: datetime.datetime) -> dict[str, Subquery]:
    """Per window, how many members the account's holder referred who made a rewarded first
    purchase in it (interactions' referrals; loyalty sits above interactions). Only when a
    tier asks for referrals, so other tenants pay nothing."""
    from interactions.models import Referral

    counts = {}
    for months in {tier.window_months for tier in tiers if tier.min_referrals > 0}:
        inner = (
            Referral.objects.filter(
                referrer=OuterRef("customer_id"),
                rewarded=True,
                reversed_at__isnull=True,
                first_sale_at__gt=add_months(at, -months),
                first_sale_at__lte=at,
            )
            .order_by()
            .values("referrer")
            .annotate(n=Count("pk"))
            .values("n")
        )
        counts[f"referrals_{months}"] = Coalesce(Subquery(inner), Value(0))
    return counts


def _best_index(tiers: list[Tier], totals_by_window: dict[int, Totals]) -> int:
    best = 0
    for index, tier in enumerate(tiers):
        if _qualifies(tier, totals_by_window[tier.window_months]):
            best = index
    return best


def _window_aggregates(tiers: list[Tier], at: datetime.datetime, prefix: str = "") -> dict:
    """Per distinct window: qualifying spend and purchase count over (at - window, at]."""
    aggregates = {}
    for months in {tier.window_months for tier in tiers}:
        since = Q(occurred_at__gt=add_months(at, -months), occurred_at__lte=at)
        aggregates[f"{prefix}spend_{months}"] = Coalesce(Sum("amount", filter=since), Value(ZERO))
        # A purchase is an earn entry with a sale amount (rewards carry none).
        purchase = Q(kind=EntryKind.EARN, amount__isnull=False)
        aggregates[f"{prefix}count_{months}"] = Count("pk", filter=since & purchase)
    return aggregates


def _totals_from(row: dict, tiers: list[Tier]) -> dict[int, Totals]:
    return {
        tier.window_months: Totals(
            Decimal(row[f"spend_{tier.window_months}"] or 0),
            row[f"count_{tier.window_months}"],
            row.get(f"referrals_{tier.window_months}", 0) or 0,
        )
        for tier in tiers
    }


def _set_tier(
    account: PointsAccount,
    tier: Tier,
    *,
    at: datetime.datetime,
    reason: str,
    actor: StaffMember | None = None,
) -> None:
    """Move the member to `tier`, restart the review clock, and mirror it onto the member."""
    before = account.tier.code if account.tier else ""
    account.tier = tier
    account.tier_changed_at = at
    account.tier_review_at = add_months(at, tier.review_months)
    account.tier_grace_until = None  # a new tier starts outside any grace period
    account.save(update_fields=["tier", "tier_changed_at", "tier_review_at", "tier_grace_until"])
    Customer.objects.filter(pk=account.customer_id).update(tier_code=tier.code, tier_name=tier.name)
    audit_record(
        action="loyalty.tier_changed",
        actor=actor,
        obj=account.customer,
        before={"tier": before},
        after={"tier": tier.code},
        reason=reason,
    )


def account_totals(
    account: PointsAccount, tiers: list[Tier], *, at: datetime.datetime
) -> dict[int, Totals]:
    """The account's qualifying totals per tier window, as tier evaluation counts them."""
    row = account.entries.aggregate(**_window_aggregates(tiers, at))
    referrals = _referral_counts(tiers, at)
    if referrals:
        row.update(
            PointsAccount.objects.filter(pk=account.pk).annotate(**referrals).values(*referrals)[0]
        )
    return _totals_from(row, tiers)


def _upgrade_if_qualified(
    account: PointsAccount, tiers: list[Tier], *, at: datetime.datetime
) -> None:
    """Upgrades apply at the qualifying sale; downgrades wait for the review (tiers_evaluate)."""
    if not tiers:
        return
    best = _best_index(tiers, account_totals(account, tiers, at=at))
    current = next((i for i, t in enumerate(tiers) if t.pk == account.tier_id), -1)
    if best > current:
        _set_tier(account, tiers[best], at=at, reason="qualifying sale")
