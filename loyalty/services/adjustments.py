"""Adjustments by staff (limits, budgets, audit) and merging two members' points."""

from __future__ import annotations

import datetime
import uuid

from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Abs
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from loyalty.models import (
    EntryKind,
    PointsAccount,
    PointsEntry,
    PointsRule,
)
from loyalty.services.issuance import points_issue_within_cap
from loyalty.services.ledger import _cover_below_zero, _earn_back, _pay_debt
from loyalty.services.rules import (
    PointsError,
    _add_lot,
    _append,
    _available,
    _draw,
    _ensure_account,
    _existing,
    _lock_account,
    _record_draws,
    points_rule,
)
from loyalty.services.tiers import _set_tier
from tenancy.context import current_tenant
from tenancy.models import Role, StaffMember
from tenancy.services import audit_record

# --- adjustments and merges -----------------------------------------------------------------


def adjust_limit_for(staff: StaffMember, rule: PointsRule) -> int:
    """How many points (either way) this role may adjust at once; 0: not allowed."""
    if staff.role == Role.HQ_ADMIN:
        return rule.adjust_limit_hq
    if staff.role == Role.STORE_MANAGER:
        return rule.adjust_limit_store_manager
    return 0


def adjust_budget_for(staff: StaffMember, rule: PointsRule) -> int:
    """How many points (either way, summed) this role may adjust per calendar month."""
    if staff.role == Role.HQ_ADMIN:
        return rule.adjust_budget_hq
    if staff.role == Role.STORE_MANAGER:
        return rule.adjust_budget_store_manager
    return 0


def adjust_allowed_for(staff: StaffMember, customer: Customer) -> bool:
    """Whether this person may adjust this member's points at all: HQ administrators any
    member of the tenant, store managers the members whose home store is one of theirs."""
    if staff.role == Role.HQ_ADMIN:
        return True
    return staff.role == Role.STORE_MANAGER and customer.home_store_id in staff.store_ids


def adjust_used_this_month(staff: StaffMember, *, now: datetime.datetime | None = None) -> int:
    """Points this person adjusted (added and removed) since the month began, tenant time."""
    zone = current_tenant().zone
    local_day = (now or timezone.now()).astimezone(zone).date()
    month_start = datetime.datetime.combine(local_day.replace(day=1), datetime.time.min, zone)
    used = PointsEntry.objects.filter(
        kind=EntryKind.ADJUST, staff=staff, occurred_at__gte=month_start
    ).aggregate(total=Sum(Abs("points")))["total"]
    return used or 0


def points_adjust(**kwargs) -> PointsEntry:
    """Add (positive) or remove (negative) points by hand; see _points_adjust.

    A refusal for another store's member or an exhausted budget is audited after the
    adjustment's transaction rolled back, so repeated attempts leave a trace.
    """
    try:
        return _points_adjust(**kwargs)
    except PointsError as error:
        if error.code in ("not_your_member", "over_budget"):
            audit_record(
                action="loyalty.points_adjust_refused",
                actor=kwargs["staff"],
                obj=kwargs["customer"],
                after={"points": kwargs["points"], "refused": error.code},
                reason=(kwargs.get("reason") or "").strip(),
            )
        raise


@transaction.atomic
def _points_adjust(
    *,
    customer: Customer,
    points: int,
    reason: str,
    staff: StaffMember,
    source_key: str | None = None,
    now: datetime.datetime | None = None,
) -> PointsEntry:
    """Add (positive) or remove (negative) points by hand, with a reason, for a member the
    adjuster may adjust, within the role's limit per adjustment and budget per month. Added
    points form a lot that expires like earned points."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise PointsError(_("Give a reason for the adjustment."), code="no_reason")
    if points == 0:
        raise PointsError(_("Enter a non-zero number of points."), code="zero")
    rule = points_rule()
    limit = adjust_limit_for(staff, rule)
    if abs(points) > limit:
        raise PointsError(
            _("Your role may adjust at most %(limit)d points at a time."),
            code="over_limit",
            params={"limit": limit},
        )
    if not adjust_allowed_for(staff, customer):
        raise PointsError(
            _("You may adjust points only for members of your own stores."),
            code="not_your_member",
        )
    # Lock the adjuster's row: two adjustments by the same person at once (two tabs, two
    # members) would each read the month's total before the other wrote, and together go
    # over the budget. Taken before the account lock, the order every adjustment uses.
    StaffMember.objects.select_for_update().filter(pk=staff.pk).first()
    # Same lock as a redemption: a removal must not race a redemption for the same points.
    account = _lock_account(customer)
    source_key = source_key or f"adjust:{uuid.uuid4().hex}"
    existing = _existing(source_key)
    if existing is not None:
        return existing
    budget = adjust_budget_for(staff, rule)
    used = adjust_used_this_month(staff, now=now)
    if used + abs(points) > budget:
        raise PointsError(
            _(
                "Your monthly adjustment budget is %(budget)d points; %(used)d are used this "
                "month, so at most %(left)d more can be adjusted."
            ),
            code="over_budget",
            params={"budget": budget, "used": used, "left": max(budget - used, 0)},
        )
    if points > 0:
        # Added points count against the member's home store's monthly issuance cap.
        points_issue_within_cap(
            store=customer.home_store, points=points, at=now, rule=rule, refuse=True
        )
        entry = _append(
            account,
            kind=EntryKind.ADJUST,
            points=points,
            source_key=source_key,
            occurred_at=now,
            staff=staff,
            reason=reason[:200],
        )
        # The home store issued them: it carries their liability, as it carries the cap.
        lot = _add_lot(
            account, entry, points, earned_at=now, rule=rule, store_id=customer.home_store_id
        )
        # Like any credit: what the member owes from a refund of spent points comes first.
        _earn_back(account, lot, credited=points, source_key=source_key, occurred_at=now)
    else:
        available = _available(account, now=now)
        if available < -points:
            raise PointsError(
                _("Not enough points: %(available)d available, %(wanted)d requested."),
                code="insufficient",
                params={"available": available, "wanted": -points},
            )
        taken = _draw(account, -points, now=now)
        entry = _append(
            account,
            kind=EntryKind.ADJUST,
            points=points,
            source_key=source_key,
            occurred_at=now,
            staff=staff,
            reason=reason[:200],
        )
        _record_draws(entry, taken)
    audit_record(
        action="loyalty.points_adjusted",
        actor=staff,
        obj=customer,
        before={"balance": account.balance - points},
        after={
            "balance": account.balance,
            "points": points,
            "month_used": used + abs(points),
            "month_budget": budget,
        },
        reason=reason,
    )
    return entry


@transaction.atomic
def points_merge(*, source: Customer, target: Customer, actor: StaffMember | None = None) -> None:
    """Move a merged-away member's points and lots to the surviving member.

    The ledger stays balanced on both sides: a merge-out entry empties the source, a
    merge-in entry fills the target with lots that keep their original expiry. The target
    keeps the higher of the two tiers. Idempotent (a repeated signal changes nothing).
    """
    if source.pk == target.pk:
        return
    _ensure_account(source)
    _ensure_account(target)
    # Both rows, in primary-key order: a merge the other way round (or the nightly expiry)
    # locks in the same order, so they queue instead of deadlocking.
    locked = {
        a.customer_id: a
        for a in PointsAccount.objects.select_for_update(of=("self",))
        .select_related("tier")
        .filter(customer__in=[source.pk, target.pk])
        .order_by("pk")
    }
    from_account, to_account = locked[source.pk], locked[target.pk]
    out_key = f"merge-out:{source.pk}"
    if _existing(out_key) is not None:
        return
    now = timezone.now()
    taken = _draw(from_account, max(from_account.balance, 0), now=None)
    moved = sum(n for _, n in taken)
    # A balance below zero (a refund of spent points) follows the member like a debt does:
    # the merge-out brings the source to 0 and the merge-in carries it to the target.
    below_zero = max(-from_account.balance, 0)
    out_entry = _append(
        from_account,
        kind=EntryKind.MERGE_OUT,
        points=below_zero - moved,
        source_key=out_key,
        occurred_at=now,
        staff=actor,
        reason=f"merged into {target.card_number}",
    )
    _record_draws(out_entry, taken)
    in_entry = _append(
        to_account,
        kind=EntryKind.MERGE_IN,
        points=moved - below_zero,
        source_key=f"merge-in:{source.pk}",
        occurred_at=now,
        staff=actor,
        reason=f"merged from {source.card_number}",
    )
    rule = points_rule()
    for lot, n in taken:
        _add_lot(
            to_account,
            in_entry,
            n,
            earned_at=lot.earned_at,
            rule=rule,
            expires=(lot.expires_at, lot.expires_on),
            pending_until=lot.pending_until,  # still inside its sale's return window
            store_id=lot.store_id,  # the issuer keeps the liability (settlement)
        )
    if from_account.debt:
        # Points the merged-away member owes follow them, so a merge cannot wipe a debt.
        to_account.debt += from_account.debt
        from_account.debt = 0
        from_account.save(update_fields=["debt"])
        to_account.save(update_fields=["debt"])
    # The surviving member's points pay back what either member owed, before any spend.
    in_key = f"merge-in:{source.pk}"
    _cover_below_zero(to_account, first=None, source_key=in_key, occurred_at=now)
    _pay_debt(to_account, None, source_key=in_key, occurred_at=now)
    source_order = from_account.tier.order if from_account.tier else -1
    target_order = to_account.tier.order if to_account.tier else -1
    if source_order > target_order:
        _set_tier(to_account, from_account.tier, at=now, reason="member merge", actor=actor)
    bought = [at for at in (from_account.tier_bought_at, to_account.tier_bought_at) if at]
    if bought and to_account.tier_bought_at != max(bought):
        # A merge must not reopen the once-per-period tier purchase (积分升级).
        to_account.tier_bought_at = max(bought)
        to_account.save(update_fields=["tier_bought_at"])
    audit_record(
        action="loyalty.points_merged",
        actor=actor,
        obj=target,
        after={"from": source.card_number, "points": moved},
    )


def on_customer_merged(sender, *, source: Customer, target: Customer, **kwargs) -> None:
    """Receiver for customers.hooks.member_merged (sent inside the merge transaction)."""
    points_merge(source=source, target=target, actor=kwargs.get("actor"))
