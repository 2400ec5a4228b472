"""Upgrade with points (积分升级): a member buys the next tier at the counter.

The tenant switches it on (`PointsRule.tier_purchase`) and prices each tier
(`Tier.upgrade_points`, what a member of the tier below pays). At most one purchase per member
per `PointsRule.tier_purchase_period_months`. The points are spent like a redemption: under the
member's account lock (`_lock_account`, the lock every points write takes first), from the
spendable lots earliest-expiring first, idempotent by the form's one-time source key.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from loyalty.models import EntryKind, PointsAccount, PointsEntry, Tier
from loyalty.services.rules import (
    PointsError,
    _append,
    _available,
    _draw,
    _existing,
    _lock_account,
    _pending,
    _record_draws,
    _tiers,
    points_rule,
)
from loyalty.services.tiers import _set_tier
from stores.models import Store
from tenancy.context import current_tenant
from tenancy.dates import add_months
from tenancy.models import Role, StaffMember
from tenancy.services import audit_record

# At the counter: the clerk or the store manager serving the member.
TIER_PURCHASE_ROLES = frozenset({Role.CLERK, Role.STORE_MANAGER})


def tier_for_sale(account: PointsAccount | None) -> Tier | None:
    """The tier this member could buy next (the one right above theirs, when it has a price
    and the tenant sells tiers), else None."""
    if account is None or not points_rule().tier_purchase:
        return None
    current = account.tier.order if account.tier else -1
    above = [tier for tier in _tiers() if tier.order > current]
    if not above or above[0].upgrade_points <= 0:
        return None
    return above[0]


def tier_purchase_blocked_until(
    account: PointsAccount, *, period_months: int
) -> datetime.datetime | None:
    """When the member may buy a tier again, or None when they may now."""
    if account.tier_bought_at is None:
        return None
    return add_months(account.tier_bought_at, period_months)


@transaction.atomic
def tier_buy_with_points(
    *,
    customer: Customer,
    source_key: str,
    store: Store | None,
    staff: StaffMember,
    now: datetime.datetime | None = None,
) -> PointsEntry:
    """Spend the next tier's price in points and move the member up to it, once per period.

    Raises PointsError: tier_purchase_off, tier_purchase_role, not_for_sale,
    tier_bought_recently, insufficient / pending (too few spendable points). A replayed form
    (same `source_key`) returns the first purchase's entry.
    """
    now = now or timezone.now()
    rule = points_rule()
    if not rule.tier_purchase:
        raise PointsError(
            _("This company does not sell tiers for points."), code="tier_purchase_off"
        )
    if staff is None or staff.role not in TIER_PURCHASE_ROLES:
        raise PointsError(
            _("Only a clerk or a store manager can upgrade a member with points."),
            code="tier_purchase_role",
        )
    # Lock first, as points_redeem does: two counters selling the same member a tier (or one
    # selling a tier while another redeems a gift) would both read the same balance and
    # both spend it; the second waits here and sees the first one's entry and tier.
    account = _lock_account(customer)
    existing = _existing(source_key)
    if existing is not None:
        if existing.account_id != account.pk or not source_key.startswith("tier-buy:"):
            raise PointsError(_("This redemption was already recorded."), code="duplicate")
        return existing
    until = tier_purchase_blocked_until(account, period_months=rule.tier_purchase_period_months)
    if until is not None and until > now:
        raise PointsError(
            _(
                "This member already bought a tier with points; the next purchase is "
                "possible from %(day)s."
            ),
            code="tier_bought_recently",
            params={"day": until.astimezone(current_tenant().zone).date().isoformat()},
        )
    target = tier_for_sale(account)
    if target is None:
        raise PointsError(
            _("There is no higher tier this member can buy with points."), code="not_for_sale"
        )
    price = target.upgrade_points
    available = _available(account, now=now)
    if available < price:
        pending = _pending(account)
        raise PointsError(
            _("Not enough points to buy %(tier)s: %(available)d available, %(price)d needed."),
            code="pending" if pending else "insufficient",
            params={"tier": target.name, "available": available, "price": price},
        )
    before = account.tier.code if account.tier else ""
    taken = _draw(account, price, now=now)
    entry = _append(
        account,
        kind=EntryKind.REDEEM,
        points=-price,
        source_key=source_key,
        occurred_at=now,
        store=store,
        staff=staff,
        reason="tier bought with points",
    )
    _record_draws(entry, taken)
    _set_tier(account, target, at=now, reason="tier bought with points", actor=staff)
    account.tier_bought_at = now
    account.save(update_fields=["tier_bought_at"])
    audit_record(
        action="loyalty.tier_bought",
        actor=staff,
        obj=customer,
        before={"tier": before},
        after={
            "tier": target.code,
            "points": price,
            "source": source_key,
            "store": store.code if store else "",
        },
    )
    return entry
