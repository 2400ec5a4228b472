"""Reads for loyalty pages and for other apps (campaigns' sender reads pending notices)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet
from django.utils import timezone

from customers.models import Customer
from loyalty.models import ExpiryNotice, PointsAccount, PointsEntry, PointsLot, PointsRule
from loyalty.services import points_rule, points_value
from tenancy.context import current_tenant


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


def points_summary(*, customer: Customer, now: datetime.datetime | None = None) -> PointsSummary:
    """Balance, spendable points and their value, and what expires within the notice window."""
    now = now or timezone.now()
    rule = points_rule()
    account = PointsAccount.objects.select_related("tier").filter(customer=customer).first()
    if account is None:
        return PointsSummary(None, rule, 0, 0, Decimal("0.00"), 0, [], [])
    open_lots = list(account.lots.filter(remaining__gt=0).order_by("expires_at", "id"))
    valid = [lot for lot in open_lots if lot.expires_at > now]
    horizon = now.astimezone(current_tenant().zone).date() + datetime.timedelta(
        days=rule.expiry_notice_days
    )
    expiring = [lot for lot in valid if lot.expires_on <= horizon]
    available = sum(lot.remaining for lot in valid)
    return PointsSummary(
        account=account,
        rule=rule,
        balance=account.balance,
        available=available,
        value=points_value(points=available, rule=rule),
        expiring_soon=sum(lot.remaining for lot in expiring),
        expiring_lots=expiring,
        open_lots=open_lots,
    )


def points_history(*, customer: Customer) -> QuerySet[PointsEntry]:
    return PointsEntry.objects.filter(account__customer=customer).select_related("store", "staff")


def points_timeline(*, member: Customer, limit: int) -> list[dict]:
    """interactions' member timeline source: the latest points movements."""
    from django.urls import reverse
    from django.utils.translation import gettext as _

    url = reverse("loyalty:member_points", args=[member.pk])
    entries = PointsEntry.objects.filter(account__customer=member).order_by("-occurred_at", "-id")
    return [
        {
            "at": entry.occurred_at,
            "title": _("Points %(points)+d (%(kind)s)")
            % {"points": entry.points, "kind": entry.get_kind_display()},
            "detail": entry.reason,
            "url": url,
        }
        for entry in entries[:limit]
    ]


def expiry_notices_pending() -> QuerySet[ExpiryNotice]:
    """The seam for campaigns' sender: notices not yet delivered (stamp sent_at after)."""
    return ExpiryNotice.objects.filter(sent_at__isnull=True).select_related("account__customer")
