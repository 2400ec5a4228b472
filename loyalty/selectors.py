"""Reads for loyalty pages and for other apps (campaigns' sender reads pending notices)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet
from django.utils import timezone

from customers.models import Customer
from loyalty.models import (
    ExpiryNotice,
    PointsAccount,
    PointsEntry,
    PointsLot,
    PointsRule,
    Tier,
)
from loyalty.services import (
    ZERO,
    account_totals,
    points_rule,
    points_value,
    retention_threshold,
    tier_for_sale,
)
from tenancy.context import current_tenant


@dataclass(frozen=True)
class PointsBalances:
    """A member's points as the member and the clerk see them.

    spendable: may be redeemed now (valid, out of the return window); pending: earned on a
    sale still inside its return window (in the balance, not yet spendable); expiring_soon:
    valid points that expire within the rule's notice days; owed: points a refund could not
    take back because they were spent, paid first out of later earnings.
    """

    spendable: int
    pending: int
    expiring_soon: int
    owed: int


def _balances_from(
    account: PointsAccount | None, open_lots: list[PointsLot], rule: PointsRule, now
) -> tuple[PointsBalances, list[PointsLot]]:
    if account is None:
        return PointsBalances(0, 0, 0, 0), []
    valid = [lot for lot in open_lots if lot.expires_at > now]
    horizon = now.astimezone(current_tenant().zone).date() + datetime.timedelta(
        days=rule.expiry_notice_days
    )
    expiring = [lot for lot in valid if lot.expires_on <= horizon]
    balances = PointsBalances(
        spendable=sum(lot.remaining for lot in valid if lot.pending_until is None),
        pending=sum(lot.remaining for lot in valid if lot.pending_until is not None),
        expiring_soon=sum(lot.remaining for lot in expiring),
        owed=account.debt,
    )
    return balances, expiring


def _open_lots(account: PointsAccount | None) -> list[PointsLot]:
    if account is None:
        return []
    return list(account.lots.filter(remaining__gt=0).order_by("expires_at", "id"))


def points_balances(
    account: PointsAccount | None, *, now: datetime.datetime | None = None
) -> PointsBalances:
    """The one read of a member's spendable, pending, expiring-soon and owed points."""
    now = now or timezone.now()
    balances, _expiring = _balances_from(account, _open_lots(account), points_rule(), now)
    return balances


@dataclass
class PointsSummary:
    account: PointsAccount | None
    rule: PointsRule
    balance: int
    available: int
    value: Decimal
    expiring_soon: int
    expiring_lots: list[PointsLot]
    open_lots: list[PointsLot]
    pending: int = 0
    owed: int = 0
    balances: PointsBalances | None = None
    # Points a refund took below zero (PointsRule.refund_shortfall "negative"): to be earned
    # back before anything can be redeemed.
    below_zero: int = 0


def points_summary(*, customer: Customer, now: datetime.datetime | None = None) -> PointsSummary:
    """Balance, spendable points and their value, pending points, what expires within the
    notice window (through `points_balances`' rules), and the lots behind them."""
    now = now or timezone.now()
    rule = points_rule()
    account = PointsAccount.objects.select_related("tier").filter(customer=customer).first()
    open_lots = _open_lots(account)
    balances, expiring = _balances_from(account, open_lots, rule, now)
    return PointsSummary(
        account=account,
        rule=rule,
        balance=account.balance if account else 0,
        available=balances.spendable,
        value=points_value(points=balances.spendable, rule=rule),
        expiring_soon=balances.expiring_soon,
        expiring_lots=expiring,
        open_lots=open_lots,
        pending=balances.pending,
        owed=balances.owed,
        balances=balances,
        below_zero=max(-account.balance, 0) if account else 0,
    )


@dataclass
class TierProgress:
    """Where the member stands against the next tier's easiest-to-read criterion."""

    current: Tier | None
    next: Tier | None
    spend: Decimal = Decimal("0.00")
    spend_needed: Decimal = Decimal("0.00")  # 0 when the next tier does not ask for spend
    purchases: int = 0
    purchases_needed: int = 0
    percent: int = 0
    # Retention (保级): while the member is in the grace period, the local day it ends and
    # what the retention threshold still asks for over the current tier's window.
    kept_until: datetime.date | None = None
    keep_spend_needed: Decimal = Decimal("0.00")
    keep_purchases_needed: int = 0
    # Upgrade with points (积分升级): the tier the member may buy now and its price.
    for_sale: Tier | None = None


def tier_progress(
    *, account: PointsAccount | None, now: datetime.datetime | None = None
) -> TierProgress:
    """The member's tier and progress to the next one, counted as tier evaluation counts."""
    if account is None:
        return TierProgress(None, None)
    now = now or timezone.now()
    tiers = list(Tier.objects.order_by("order"))
    current = account.tier
    retention = _retention(account, now=now)
    above = [t for t in tiers if current is None or t.order > current.order]
    if not above:
        return TierProgress(current, None, percent=100, **retention)
    target = above[0]
    totals = account_totals(account, [target], at=now)[target.window_months]
    progress = TierProgress(
        current,
        target,
        spend=totals.spend,
        spend_needed=max(target.min_spend - totals.spend, Decimal("0.00")),
        purchases=totals.purchases,
        purchases_needed=max(target.min_purchases - totals.purchases, 0),
        for_sale=tier_for_sale(account),
        **retention,
    )
    if target.min_spend > 0:
        progress.percent = min(100, int(totals.spend * 100 / target.min_spend))
    elif target.min_purchases > 0:
        progress.percent = min(100, totals.purchases * 100 // target.min_purchases)
    return progress


def _retention(account: PointsAccount, *, now: datetime.datetime) -> dict:
    """保级至 and what keeps the tier, while the member is in the tier's grace period."""
    if account.tier is None or account.tier_grace_until is None:
        return {}
    tier = account.tier
    spend, purchases = retention_threshold(tier)
    totals = account_totals(account, [tier], at=now)[tier.window_months]
    return {
        "kept_until": account.tier_grace_until.astimezone(current_tenant().zone).date(),
        "keep_spend_needed": max(spend - totals.spend, Decimal("0.00")) if spend > 0 else ZERO,
        "keep_purchases_needed": max(purchases - totals.purchases, 0) if purchases > 0 else 0,
    }


def points_history(*, customer: Customer) -> QuerySet[PointsEntry]:
    return PointsEntry.objects.filter(account__customer=customer).select_related("store", "staff")


def points_timeline(*, member: Customer, limit: int) -> list[dict]:
    """interactions' member timeline source: the latest points movements."""
    from django.urls import reverse
    from django.utils.translation import gettext as _

    from loyalty.history import describe_reason, describe_source

    url = reverse("loyalty:member_points", args=[member.pk])
    entries = PointsEntry.objects.filter(account__customer=member).order_by("-occurred_at", "-id")
    return [
        {
            "at": entry.occurred_at,
            "title": _("Points %(points)+d (%(kind)s)")
            % {"points": entry.points, "kind": entry.get_kind_display()},
            "detail": " · ".join(
                part
                for part in (describe_source(entry.source_key).label, describe_reason(entry.reason))
                if part
            ),
            "url": url,
        }
        for entry in entries[:limit]
    ]


def expiry_notices_pending() -> QuerySet[ExpiryNotice]:
    """The seam for campaigns' sender: notices not yet delivered (stamp sent_at after)."""
    return ExpiryNotice.objects.filter(sent_at__isnull=True).select_related("account__customer")
