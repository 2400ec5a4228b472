"""What sales and rewards do to points: earn, take back on refunds, redeem, reward referrals
and behaviours, once per source key.
"""

from __future__ import annotations

import datetime
from decimal import ROUND_FLOOR, Decimal

from django.db import transaction
from django.db.models import Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from loyalty.models import (
    EntryKind,
    PointsAccount,
    PointsEntry,
    PointsLot,
    RefundShortfall,
)
from loyalty.services.issuance import points_issue_within_cap
from loyalty.services.rules import (
    ZERO,
    PointsError,
    _add_lot,
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
from loyalty.services.tiers import _upgrade_if_qualified
from stores.models import Store
from tenancy.models import StaffMember
from tenancy.services import audit_record

# --- the service contract used by sale recording --------------------------------------------


@transaction.atomic
def points_earn_for_sale(
    *,
    customer: Customer | None,
    source_key: str,
    amount: Decimal,
    store: Store | None,
    occurred_at: datetime.datetime,
    excluded_amount: Decimal = ZERO,
) -> PointsEntry | None:
    """Earn points for a member's sale, exactly once per `source_key` ("sale:<id>").

    points = floor((amount - excluded_amount) * points per yuan * tier multiplier). The entry
    also carries `amount` as qualifying spend, and a member who now qualifies for a higher
    tier moves up at once. A replay (or a concurrent retry) returns the first entry.

    With a return window (`rule.pending_days`) the points count in the balance but stay
    pending until `occurred_at` + the window; `points_release_pending` then makes them
    spendable. Points the member owes from an earlier refund are paid off first.
    """
    if customer is None:
        return None
    account = _lock_account(customer)
    existing = _existing(source_key)
    if existing is not None:
        return existing
    rule = points_rule()
    tiers = _tiers()
    multiplier = account.tier.multiplier if account.tier else Decimal("1")
    eligible = max(amount - excluded_amount, ZERO)
    points = int(
        (eligible * rule.points_per_yuan * multiplier).to_integral_value(rounding=ROUND_FLOOR)
    )
    granted = points_issue_within_cap(store=store, points=points, at=occurred_at, rule=rule)
    entry = _append(
        account,
        kind=EntryKind.EARN,
        points=granted,
        source_key=source_key,
        occurred_at=occurred_at,
        amount=amount,
        store=store,
        # Earning 0 at the cap is never silent: the entry says why.
        reason="" if granted == points else f"store monthly points cap reached ({points})",
    )
    points = granted
    if points:
        pending_until = None
        if rule.pending_days:
            pending_until = occurred_at + datetime.timedelta(days=rule.pending_days)
            if pending_until <= timezone.now():  # a late-recorded sale, its window over
                pending_until = None
        lot = _add_lot(
            account, entry, points, earned_at=occurred_at, rule=rule, pending_until=pending_until
        )
        _earn_back(
            account,
            lot,
            credited=points,
            source_key=source_key,
            occurred_at=occurred_at,
            store=store,
        )
    _upgrade_if_qualified(account, tiers, at=occurred_at)
    return entry


def _earn_back(
    account: PointsAccount,
    lot: PointsLot | None,
    *,
    credited: int,
    source_key: str,
    occurred_at: datetime.datetime,
    store: Store | None = None,
) -> None:
    """Out of points just credited to the (locked) account, first what a refund of spent
    points left it owing: a balance below zero (PointsRule.refund_shortfall "negative"),
    then points owed ("debt"). `lot`: the credit's own lot, drawn first (None: earliest-
    expiring first, e.g. after a merge). Without this, "buy, spend the points, refund" would
    leave the member the value."""
    if account.balance - credited < 0:
        _cover_below_zero(account, first=lot, source_key=source_key, occurred_at=occurred_at)
        if lot is not None:
            lot.refresh_from_db(fields=["remaining"])
    _pay_debt(account, lot, source_key=source_key, occurred_at=occurred_at, store=store)


def _cover_below_zero(
    account: PointsAccount,
    *,
    first: PointsLot | None,
    source_key: str,
    occurred_at: datetime.datetime,
) -> PointsEntry | None:
    """Empty the lots down to what the balance allows (none while it is below zero).

    A refund that took the balance below zero took nothing from lots it did not have; the
    points credited since sit in lots the balance does not cover. Drawing them records which
    lot earned the refund back (settlement: reversed) without moving the balance again, so a
    0-point entry carries the draws.
    """
    held = account.lots.aggregate(total=Coalesce(Sum("remaining"), 0))["total"]
    excess = held - max(account.balance, 0)
    if excess <= 0:
        return None
    taken = _draw(account, excess, now=None, first=first)
    entry = _append(
        account,
        kind=EntryKind.BELOW_ZERO,
        points=0,
        source_key=f"below0:{source_key}"[:100],
        occurred_at=occurred_at,
        reason=f"{sum(n for _, n in taken)} points earned back below zero"[:200],
    )
    _record_draws(entry, taken)
    return entry


def _pay_debt(
    account: PointsAccount,
    lot: PointsLot | None,
    *,
    source_key: str,
    occurred_at: datetime.datetime,
    store: Store | None = None,
) -> PointsEntry | None:
    """Pay what the (locked) account owes out of the lot it has just earned, first (`lot`
    None: out of its lots, earliest-expiring first).

    The debt is what a refund could not take back because the points were already spent:
    without this, "buy, spend the points, refund" would leave the member the value.
    """
    if not account.debt:
        return None
    if lot is not None:
        held = lot.remaining
    else:
        held = account.lots.aggregate(total=Coalesce(Sum("remaining"), 0))["total"]
    paid = min(account.debt, held, max(account.balance, 0))
    if paid <= 0:
        return None
    taken = _draw(account, paid, now=None, first=lot)
    account.debt -= paid
    account.save(update_fields=["debt"])
    entry = _append(
        account,
        kind=EntryKind.DEBT_PAID,
        points=-paid,
        source_key=f"debt:{source_key}"[:100],
        occurred_at=occurred_at,
        store=store,
        reason=f"owed points paid from {source_key}"[:200],
    )
    _record_draws(entry, taken)
    return entry


def _reversal_of(
    customer: Customer, source_key: str, original_source_key: str
) -> tuple[PointsAccount, PointsEntry | None, PointsEntry | None]:
    """Lock the account; (account, the reversal already written under `source_key` or None,
    the earn entry to reverse or None). A refund and a taken-back reward share this start."""
    account = _lock_account(customer)
    done = _existing(source_key)
    original = None
    if done is None:
        original = account.entries.filter(
            source_key=original_source_key, kind=EntryKind.EARN
        ).first()
    return account, done, original


@transaction.atomic
def points_reverse_for_refund(
    *,
    customer: Customer | None,
    source_key: str,
    original_source_key: str,
    refunded_amount: Decimal,
    store: Store | None,
    occurred_at: datetime.datetime,
) -> PointsEntry | None:
    """Take back the points earned by the refunded part of a sale, once per `source_key`.

    The part is proportional to the sale amount and cumulative over partial refunds, so
    refunding a sale in pieces takes back exactly what it earned. The points come out of the
    sale's own lot first (inside the return window that lot is still pending, so the refund
    simply cancels them), then the earliest-expiring. Points that could not be taken back
    (already spent) go as the tenant chose (PointsRule.refund_shortfall): "debt" stops the
    balance at zero, records them on the entry and as owed by the member (`account.debt`);
    "negative" takes them from the balance, which goes below zero. Either way the next
    points credited pay them back first and nothing can be redeemed until then. Returns
    None when the sale earned nothing (no earn entry: e.g. not a member then).
    """
    if customer is None:
        return None
    account, done, original = _reversal_of(customer, source_key, original_source_key)
    if done is not None or original is None:
        return done
    prior = original.reversals.aggregate(
        refunded=Coalesce(Sum("amount"), Value(ZERO)),
        reversed=Coalesce(Sum("points"), 0),
        unreversed=Coalesce(Sum("unreversed_points"), 0),
    )
    sale_amount = original.amount or ZERO
    already_refunded = -prior["refunded"]
    refunded = min(refunded_amount, max(sale_amount - already_refunded, ZERO))
    if sale_amount > 0:
        share = (already_refunded + refunded) / sale_amount
        due_total = int((original.points * share).to_integral_value(rounding=ROUND_FLOOR))
    else:
        due_total = 0
    to_reverse = max(due_total - (-prior["reversed"] + prior["unreversed"]), 0)
    own_lot = original.lots.first()
    taken = _draw(account, min(to_reverse, max(account.balance, 0)), now=None, first=own_lot)
    drawn = sum(n for _, n in taken)
    shortfall = to_reverse - drawn  # already spent
    reversed_points = drawn
    if shortfall and points_rule().refund_shortfall == RefundShortfall.NEGATIVE:
        reversed_points, shortfall = to_reverse, 0  # the balance goes below zero
    elif shortfall:
        account.debt += shortfall
        account.save(update_fields=["debt"])
    entry = _append(
        account,
        kind=EntryKind.REVERSE,
        points=-reversed_points,
        source_key=source_key,
        occurred_at=occurred_at,
        amount=-refunded,
        unreversed_points=shortfall,
        original=original,
        store=store,
        reason=f"refund of {original_source_key}",
    )
    _record_draws(entry, taken)
    return entry


@transaction.atomic
def points_redeem(
    *,
    customer: Customer,
    points: int,
    source_key: str,
    store: Store | None,
    staff: StaffMember | None,
    reason: str = "",
    now: datetime.datetime | None = None,
) -> PointsEntry:
    """Spend `points` (a discount on a sale, a gift), earliest-expiring lots first.

    Idempotent by `source_key`: the counter form and the sale flow may resubmit safely.
    """
    now = now or timezone.now()
    rule = points_rule()
    if points <= 0:
        raise PointsError(_("Enter a positive number of points."), code="not_positive")
    if points < rule.redeem_minimum:
        raise PointsError(
            _("At least %(minimum)d points must be redeemed at a time."),
            code="below_minimum",
            params={"minimum": rule.redeem_minimum},
        )
    # Lock first: two counters redeeming for the same member at the same moment would both
    # read the same balance and lots and both spend them. The second waits here and then
    # sees the first one's redemption, so the member can never overspend.
    account = _lock_account(customer)
    existing = _existing(source_key)
    if existing is not None:
        if existing.kind != EntryKind.REDEEM or existing.account_id != account.pk:
            raise PointsError(_("This redemption was already recorded."), code="duplicate")
        return existing
    if account.balance < 0 or account.debt:
        # A refund of points already spent is paid back before anything else is spent
        # (PointsRule.refund_shortfall); the lots are empty then anyway, this says why.
        raise PointsError(
            _(
                "%(owed)d points of a refunded sale had already been spent: points can be "
                "redeemed again once they are earned back."
            ),
            code="owed",
            params={"owed": max(-account.balance, 0) + account.debt},
        )
    available = _available(account, now=now)
    if available < points:
        pending = _pending(account)
        if pending:
            raise PointsError(
                _(
                    "Not enough spendable points: %(available)d available, %(wanted)d "
                    "requested; %(pending)d more points are pending until the return window "
                    "of their sale ends."
                ),
                code="pending",
                params={"available": available, "wanted": points, "pending": pending},
            )
        raise PointsError(
            _("Not enough points: %(available)d available, %(wanted)d requested."),
            code="insufficient",
            params={"available": available, "wanted": points},
        )
    taken = _draw(account, points, now=now)
    entry = _append(
        account,
        kind=EntryKind.REDEEM,
        points=-points,
        source_key=source_key,
        occurred_at=now,
        store=store,
        staff=staff,
        reason=reason[:200],
    )
    _record_draws(entry, taken)
    audit_record(
        action="loyalty.points_redeemed",
        actor=staff,
        obj=customer,
        after={"points": points, "source": source_key, "store": store.code if store else ""},
        reason=reason,
    )
    return entry


# --- rewards (interactions' referral and behaviour hooks) and adjustments, merges ---


@transaction.atomic
def points_award(
    *, customer: Customer, points: int, source_key: str, reason: str
) -> PointsEntry | None:
    """Credit reward points (no qualifying spend), once per `source_key`; None when 0."""
    if points <= 0:
        return None
    account = _lock_account(customer)
    existing = _existing(source_key)
    if existing is not None:
        return existing
    now = timezone.now()
    entry = _append(
        account,
        kind=EntryKind.EARN,
        points=points,
        source_key=source_key,
        occurred_at=now,
        reason=reason[:200],
    )
    lot = _add_lot(account, entry, points, earned_at=now, rule=points_rule())
    _earn_back(account, lot, credited=points, source_key=source_key, occurred_at=now)
    return entry


def referral_reward(*, referrer: Customer, referred: Customer, source_key: str) -> None:
    """interactions hook "referral_rewarder": the referred member made a first purchase.

    Called after interactions marked the referral rewarded, in the same transaction, so a
    tier that counts referrals sees this one and upgrades the referrer now.
    """
    points_award(
        customer=referrer,
        points=points_rule().referral_points,
        source_key=source_key,
        reason=f"referral reward: {referred.card_number}",
    )
    tiers = _tiers()
    if any(tier.min_referrals > 0 for tier in tiers):
        _upgrade_if_qualified(_lock_account(referrer), tiers, at=timezone.now())


@transaction.atomic
def points_award_reverse(
    *, customer: Customer, source_key: str, original_source_key: str, reason: str
) -> PointsEntry | None:
    """Take back a reward credited under `original_source_key`, once per `source_key`.

    As with a refund, the points come out of the reward's own lot first and the balance
    stops at zero; what could not be taken back (already spent) is recorded on the entry.
    """
    account, done, original = _reversal_of(customer, source_key, original_source_key)
    if done is not None or original is None:
        return done
    taken = _draw(
        account,
        min(original.points, max(account.balance, 0)),
        now=None,
        first=original.lots.first(),
    )
    reversed_points = sum(n for _, n in taken)
    entry = _append(
        account,
        kind=EntryKind.REVERSE,
        points=-reversed_points,
        source_key=source_key,
        occurred_at=timezone.now(),
        unreversed_points=original.points - reversed_points,
        original=original,
        reason=reason[:200],
    )
    _record_draws(entry, taken)
    return entry


def referral_reward_reverse(*, referrer: Customer, source_key: str, original_source_key: str):
    """interactions hook "referral_reverser": the referred member's first sale was refunded."""
    points_award_reverse(
        customer=referrer,
        source_key=source_key,
        original_source_key=original_source_key,
        reason=f"referral reward taken back ({original_source_key})",
    )


def behaviour_reward(*, member: Customer, behaviour: str, source_key: str) -> None:
    """interactions hook "behaviour_rewarder": interactions claims each behaviour once."""
    points_award(
        customer=member,
        points=points_rule().behaviour_points,
        source_key=source_key,
        reason=f"behaviour reward: {behaviour}",
    )
