"""Every points and tier write. Called by loyalty's pages, analytics' sale recording and jobs.

Locking: every write to a member's points first locks that member's PointsAccount row
(`_lock_account`). Lots and entries of one account are only ever written under that lock,
so the balance, the lots and the ledger move together. Work on several accounts (a merge,
the nightly expiry) locks them in primary-key order, so two such transactions cannot
deadlock on each other.
"""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Abs, Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from loyalty.models import (
    EntryKind,
    ExpiryNotice,
    LotDraw,
    PointsAccount,
    PointsEntry,
    PointsLot,
    PointsRule,
    Tier,
)
from stores.models import Store
from tenancy.context import current_tenant
from tenancy.dates import add_months
from tenancy.models import Role, StaffMember
from tenancy.services import audit_record

ZERO = Decimal("0")
UPDATE_BATCH = 5000  # ids per UPDATE ... WHERE id IN (...) in the nightly jobs


class PointsError(ValidationError):
    """A points business rule refused the operation (insufficient balance, limits, ...)."""


# --- rules, values, dates -------------------------------------------------------------------


def points_rule() -> PointsRule:
    """The current tenant's points rule; the defaults until HQ saves their own."""
    rule = PointsRule.objects.filter().first()
    if rule is None:
        # ignore_conflicts: two first-ever requests of a tenant may both get here.
        PointsRule.objects.bulk_create([PointsRule()], ignore_conflicts=True)
        rule = PointsRule.objects.get()
    return rule


def points_value(*, points: int, rule: PointsRule | None = None) -> Decimal:
    """What `points` are worth in yuan (e.g. 100 points = 1 yuan), rounded down to the fen."""
    rule = rule or points_rule()
    return (Decimal(points) / rule.redeem_points_per_yuan).quantize(
        Decimal("0.01"), rounding=ROUND_DOWN
    )


def points_for_value(*, value: Decimal, rule: PointsRule | None = None) -> int:
    """How many points pay for `value` yuan (rounded up: the member never underpays)."""
    rule = rule or points_rule()
    return int((value * rule.redeem_points_per_yuan).to_integral_value(rounding=ROUND_CEILING))


def expiry_for(
    earned_at: datetime.datetime, *, rule: PointsRule
) -> tuple[datetime.datetime, datetime.date]:
    """When points earned at `earned_at` expire: the end of the month N months later.

    "Which month" is decided in the tenant's time zone: a sale at 23:30 Beijing time on
    31 January is January's, although it is 15:30 UTC. Returns the first instant the points
    are gone (midnight starting the following month, local) and the last valid local day.
    """
    zone = current_tenant().zone
    local = earned_at.astimezone(zone)
    index = local.year * 12 + local.month - 1 + rule.expiry_months + 1
    first_after = datetime.date(index // 12, index % 12 + 1, 1)
    expires_at = datetime.datetime.combine(first_after, datetime.time(0, 0), tzinfo=zone)
    return expires_at.astimezone(datetime.UTC), first_after - datetime.timedelta(days=1)


def points_excluded_categories() -> list[str]:
    """Product categories that earn no points; the sale recorder sums their lines itself."""
    return list(points_rule().excluded_categories or [])


# --- accounts, entries, lots ----------------------------------------------------------------


def _tiers() -> list[Tier]:
    return list(Tier.objects.order_by("order"))


def _ensure_account(customer: Customer) -> None:
    """Create the member's account on first use, in the entry tier."""
    if PointsAccount.objects.filter(customer=customer).exists():
        return
    tiers = _tiers()
    now = timezone.now()
    entry_tier = tiers[0] if tiers else None
    # ignore_conflicts: a concurrent first sale of the same member may insert it too; the
    # unique (tenant, customer) keeps one row, which both then lock.
    created = PointsAccount.objects.bulk_create(
        [
            PointsAccount(
                customer=customer,
                tier=entry_tier,
                tier_changed_at=now if entry_tier else None,
                tier_review_at=add_months(now, entry_tier.grace_months) if entry_tier else None,
            )
        ],
        ignore_conflicts=True,
    )
    if entry_tier and created and customer.tier_code != entry_tier.code:
        Customer.objects.filter(pk=customer.pk).update(
            tier_code=entry_tier.code, tier_name=entry_tier.name
        )


def _lock_account(customer: Customer) -> PointsAccount:
    """The member's account row, locked until the transaction ends (created on first use).

    The lock serialises every points write of one member: two counters redeeming at once,
    a sale replayed while its first attempt is still running, a refund racing a redemption.
    The second transaction waits here and then reads what the first one committed.
    """
    query = PointsAccount.objects.select_for_update(of=("self",)).select_related("tier")
    account = query.filter(customer=customer).first()
    if account is None:
        _ensure_account(customer)
        account = query.get(customer=customer)
    return account


def _append(
    account: PointsAccount,
    *,
    kind: str,
    points: int,
    source_key: str,
    occurred_at: datetime.datetime,
    **fields,
) -> PointsEntry:
    """Write one ledger entry and move the (locked) account's balance by the same points."""
    if points:
        account.balance += points
        account.save(update_fields=["balance"])
    return PointsEntry.objects.create(
        account=account,
        kind=kind,
        points=points,
        balance_after=account.balance,
        source_key=source_key,
        occurred_at=occurred_at,
        **fields,
    )


def _add_lot(
    account: PointsAccount,
    entry: PointsEntry,
    points: int,
    *,
    earned_at: datetime.datetime,
    rule: PointsRule,
    expires: tuple[datetime.datetime, datetime.date] | None = None,
) -> PointsLot:
    expires_at, expires_on = expires or expiry_for(earned_at, rule=rule)
    return PointsLot.objects.create(
        account=account,
        entry=entry,
        points=points,
        remaining=points,
        earned_at=earned_at,
        expires_at=expires_at,
        expires_on=expires_on,
    )


def _available(account: PointsAccount, *, now: datetime.datetime) -> int:
    """Points that may still be spent: lots not yet past their expiry instant."""
    return account.lots.filter(remaining__gt=0, expires_at__gt=now).aggregate(
        total=Coalesce(Sum("remaining"), 0)
    )["total"]


def _draw(
    account: PointsAccount,
    points: int,
    *,
    now: datetime.datetime | None,
    first: PointsLot | None = None,
) -> list[tuple[PointsLot, int]]:
    """Take up to `points` out of the account's lots, the earliest-expiring first.

    `now` given: only lots still valid at `now` (spending). `now` None: any lot with points
    left, due ones included (taking points back on a refund or a merge). `first`: a lot to
    empty before the others (the lot a refunded sale created). Caller holds the account lock.
    """
    lots = account.lots.filter(remaining__gt=0)
    if now is not None:
        lots = lots.filter(expires_at__gt=now)
    ordered = list(lots.order_by("expires_at", "id"))
    if first is not None:
        ordered.sort(key=lambda lot: lot.pk != first.pk)  # stable: keeps FIFO for the rest
    taken: list[tuple[PointsLot, int]] = []
    wanted = points
    for lot in ordered:
        if wanted <= 0:
            break
        take = min(lot.remaining, wanted)
        lot.remaining -= take
        wanted -= take
        taken.append((lot, take))
    if taken:
        PointsLot.objects.bulk_update([lot for lot, _ in taken], ["remaining"])
    return taken


def _record_draws(entry: PointsEntry, taken: list[tuple[PointsLot, int]]) -> None:
    if taken:
        LotDraw.objects.bulk_create([LotDraw(entry=entry, lot=lot, points=n) for lot, n in taken])


def _existing(source_key: str) -> PointsEntry | None:
    return PointsEntry.objects.filter(source_key=source_key).first()


# --- tiers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    spend: Decimal
    purchases: int
    referrals: int = 0


def _qualifies(tier: Tier, totals: Totals) -> bool:
    if tier.min_spend <= 0 and tier.min_purchases <= 0 and tier.min_referrals <= 0:
        return True
    if tier.min_spend > 0 and totals.spend >= tier.min_spend:
        return True
    if tier.min_referrals > 0 and totals.referrals >= tier.min_referrals:
        return True
    return tier.min_purchases > 0 and totals.purchases >= tier.min_purchases


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
    account.tier_review_at = add_months(at, tier.grace_months)
    account.save(update_fields=["tier", "tier_changed_at", "tier_review_at"])
    Customer.objects.filter(pk=account.customer_id).update(tier_code=tier.code, tier_name=tier.name)
    audit_record(
        action="loyalty.tier_changed",
        actor=actor,
        obj=account.customer,
        before={"tier": before},
        after={"tier": tier.code},
        reason=reason,
    )


def _upgrade_if_qualified(
    account: PointsAccount, tiers: list[Tier], *, at: datetime.datetime
) -> None:
    """Upgrades apply at the qualifying sale; downgrades wait for the review (tiers_evaluate)."""
    if not tiers:
        return
    row = account.entries.aggregate(**_window_aggregates(tiers, at))
    referrals = _referral_counts(tiers, at)
    if referrals:
        row.update(
            PointsAccount.objects.filter(pk=account.pk).annotate(**referrals).values(*referrals)[0]
        )
    best = _best_index(tiers, _totals_from(row, tiers))
    current = next((i for i, t in enumerate(tiers) if t.pk == account.tier_id), -1)
    if best > current:
        _set_tier(account, tiers[best], at=at, reason="qualifying sale")


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
    entry = _append(
        account,
        kind=EntryKind.EARN,
        points=points,
        source_key=source_key,
        occurred_at=occurred_at,
        amount=amount,
        store=store,
    )
    if points:
        _add_lot(account, entry, points, earned_at=occurred_at, rule=rule)
    _upgrade_if_qualified(account, tiers, at=occurred_at)
    return entry


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
    sale's own lot first, then the earliest-expiring; the balance stops at zero and the
    points that could not be taken back are recorded on the entry. Returns None when the
    sale earned nothing (no earn entry: e.g. not a member then).
    """
    if customer is None:
        return None
    account = _lock_account(customer)
    existing = _existing(source_key)
    if existing is not None:
        return existing
    original = account.entries.filter(source_key=original_source_key, kind=EntryKind.EARN).first()
    if original is None:
        return None
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
    taken = _draw(account, min(to_reverse, account.balance), now=None, first=own_lot)
    reversed_points = sum(n for _, n in taken)
    entry = _append(
        account,
        kind=EntryKind.REVERSE,
        points=-reversed_points,
        source_key=source_key,
        occurred_at=occurred_at,
        amount=-refunded,
        unreversed_points=to_reverse - reversed_points,
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
    available = _available(account, now=now)
    if available < points:
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
    _add_lot(account, entry, points, earned_at=now, rule=points_rule())
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
    account = _lock_account(customer)
    existing = _existing(source_key)
    if existing is not None:
        return existing
    original = account.entries.filter(source_key=original_source_key, kind=EntryKind.EARN).first()
    if original is None:
        return None
    taken = _draw(
        account, min(original.points, account.balance), now=None, first=original.lots.first()
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
        entry = _append(
            account,
            kind=EntryKind.ADJUST,
            points=points,
            source_key=source_key,
            occurred_at=now,
            staff=staff,
            reason=reason[:200],
        )
        _add_lot(account, entry, points, earned_at=now, rule=rule)
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
    taken = _draw(from_account, from_account.balance, now=None)
    moved = sum(n for _, n in taken)
    out_entry = _append(
        from_account,
        kind=EntryKind.MERGE_OUT,
        points=-moved,
        source_key=out_key,
        occurred_at=now,
        staff=actor,
        reason=f"merged into {target.card_number}",
    )
    _record_draws(out_entry, taken)
    in_entry = _append(
        to_account,
        kind=EntryKind.MERGE_IN,
        points=moved,
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
        )
    source_order = from_account.tier.order if from_account.tier else -1
    target_order = to_account.tier.order if to_account.tier else -1
    if source_order > target_order:
        _set_tier(to_account, from_account.tier, at=now, reason="member merge", actor=actor)
    audit_record(
        action="loyalty.points_merged",
        actor=actor,
        obj=target,
        after={"from": source.card_number, "points": moved},
    )


def on_customer_merged(sender, *, source: Customer, target: Customer, **kwargs) -> None:
    """Receiver for customers.hooks.member_merged (sent inside the merge transaction)."""
    points_merge(source=source, target=target, actor=kwargs.get("actor"))


# --- HQ configuration ---------------------------------------------------------------------


@transaction.atomic
def tier_save(*, tier: Tier, staff: StaffMember) -> Tier:
    """Save a tier; members already in it see its new name and code at once."""
    created = tier.pk is None
    tier.save()
    Customer.objects.filter(
        pk__in=PointsAccount.objects.filter(tier=tier).values("customer_id")
    ).exclude(tier_code=tier.code, tier_name=tier.name).update(
        tier_code=tier.code, tier_name=tier.name
    )
    audit_record(
        action="loyalty.tier_created" if created else "loyalty.tier_changed_rule",
        actor=staff,
        obj=tier,
        after={
            "code": tier.code,
            "order": tier.order,
            "min_spend": tier.min_spend,
            "min_purchases": tier.min_purchases,
            "min_referrals": tier.min_referrals,
            "multiplier": tier.multiplier,
        },
    )
    return tier


@transaction.atomic
def points_rule_save(*, rule: PointsRule, staff: StaffMember) -> PointsRule:
    rule.save()
    audit_record(
        action="loyalty.rule_changed",
        actor=staff,
        obj=rule,
        after={
            "points_per_yuan": rule.points_per_yuan,
            "expiry_months": rule.expiry_months,
            "redeem_points_per_yuan": rule.redeem_points_per_yuan,
            "redeem_minimum": rule.redeem_minimum,
            "excluded_categories": rule.excluded_categories,
        },
    )
    return rule


# --- nightly jobs ---------------------------------------------------------------------------


def _lock_accounts_with_due_lots(now: datetime.datetime) -> None:
    """Lock (pk order) every account that has lots to expire, before reading those lots.

    Without it a refund or merge that already read a due lot could commit after the expiry
    read the same lot, and the expiry entry would record points that were no longer there.
    """
    if connection.vendor != "postgresql":
        return  # SQLite runs one writer at a time
    account_table = PointsAccount._meta.db_table
    lot_table = PointsLot._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT a.id FROM {account_table} a "  # noqa: S608
            f"WHERE a.tenant_id = %s AND a.id IN (SELECT l.account_id FROM {lot_table} l "
            "WHERE l.tenant_id = %s AND l.expires_at <= %s AND l.remaining > 0) "
            "ORDER BY a.id FOR UPDATE) locked",
            [current_tenant().pk, current_tenant().pk, now],
        )


@transaction.atomic
def points_expire_due(*, now: datetime.datetime | None = None) -> int:
    """Expire every lot past its expiry instant, set-based: three writes whatever the size.

    One expire entry per lot (source key "expire:<lot id>", so it can never be written
    twice), the balances lowered by the sum, the lots emptied. Running it again finds no
    due lot with points left and changes nothing. Returns the number of lots expired.
    """
    now = now or timezone.now()
    tenant_id = current_tenant().pk
    _lock_accounts_with_due_lots(now)
    entry_table = PointsEntry._meta.db_table
    lot_table = PointsLot._meta.db_table
    account_table = PointsAccount._meta.db_table
    at = connection.ops.adapt_datetimefield_value(now)
    due = "l.tenant_id = %s AND l.expires_at <= %s AND l.remaining > 0"
    with connection.cursor() as cursor:
        # balance_after: the balance less this and the account's earlier (by id) due lots.
        cursor.execute(
            f"INSERT INTO {entry_table} (tenant_id, account_id, kind, points, balance_after, "  # noqa: S608
            "source_key, amount, unreversed_points, original_id, lot_id, store_id, staff_id, "
            "reason, occurred_at, created_at) "
            "SELECT l.tenant_id, l.account_id, 'expire', -l.remaining, "
            "a.balance - SUM(l.remaining) OVER (PARTITION BY l.account_id ORDER BY l.id), "
            "'expire:' || l.id, NULL, 0, NULL, l.id, NULL, NULL, '', %s, %s "
            f"FROM {lot_table} l JOIN {account_table} a ON a.id = l.account_id "
            f"WHERE {due}",
            [at, at, tenant_id, at],
        )
        expired = cursor.rowcount
        if not expired:
            return 0
        cursor.execute(
            f"UPDATE {account_table} SET balance = balance - d.total "  # noqa: S608
            f"FROM (SELECT l.account_id, SUM(l.remaining) AS total FROM {lot_table} l "
            f"WHERE {due} GROUP BY l.account_id) d "
            f"WHERE {account_table}.id = d.account_id AND {account_table}.tenant_id = %s",
            [tenant_id, at, tenant_id],
        )
    due_lots = PointsLot.objects.filter(expires_at__lte=now, remaining__gt=0)
    due_lots.update(remaining=0)
    return expired


@transaction.atomic
def points_notify_expiring(*, now: datetime.datetime | None = None) -> int:
    """Record one notice per member and expiry day for points expiring within the window.

    Set-based: one grouped read and one batched insert; the unique (account, expiry day)
    makes a re-run write nothing. Campaigns' sender delivers them (sent_at) later.
    Returns how many new notices were written.
    """
    now = now or timezone.now()
    rule = points_rule()
    horizon = now.astimezone(current_tenant().zone).date() + datetime.timedelta(
        days=rule.expiry_notice_days
    )
    rows = (
        PointsLot.objects.filter(remaining__gt=0, expires_at__gt=now, expires_on__lte=horizon)
        .values("account_id", "expires_on")
        .annotate(points=Sum("remaining"))
        .order_by()
    )
    before = ExpiryNotice.objects.count()
    ExpiryNotice.objects.bulk_create(
        [
            ExpiryNotice(
                account_id=row["account_id"], expires_on=row["expires_on"], points=row["points"]
            )
            for row in rows
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    return ExpiryNotice.objects.count() - before


def _push_review(ids: list[int], months: int) -> None:
    """Move these accounts' next review `months` later, in one statement on PostgreSQL."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {PointsAccount._meta.db_table} "  # noqa: S608
                "SET tier_review_at = tier_review_at + make_interval(months => %s) "
                "WHERE tenant_id = %s AND id = ANY(%s)",
                [months, current_tenant().pk, ids],
            )
        return
    accounts = list(PointsAccount.objects.filter(pk__in=ids).only("tier_review_at"))
    for account in accounts:
        account.tier_review_at = add_months(account.tier_review_at, months)
    PointsAccount.objects.bulk_update(accounts, ["tier_review_at"])


@transaction.atomic
def tiers_evaluate(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Review every member whose tier review is due (the anniversary of their last change).

    Downgrades happen only here, at most `max_downgrade_steps` tiers at once; upgrades the
    sale missed (a changed rule, a merge) apply too. Reads the due members with their window
    totals in one query and writes one UPDATE per target tier, so there is no per-member
    query. Members who keep their tier get their next anniversary. A second run finds
    nobody due.
    """
    now = now or timezone.now()
    tiers = _tiers()
    if not tiers:
        return {"upgraded": 0, "downgraded": 0, "kept": 0}
    index_of = {tier.pk: i for i, tier in enumerate(tiers)}
    annotations = {}
    for name, aggregate in _window_aggregates(tiers, now).items():
        inner = (
            PointsEntry.objects.filter(account=OuterRef("pk"))
            .order_by()
            .values("account")
            .annotate(v=aggregate)
            .values("v")
        )
        default = Value(ZERO) if name.startswith("spend") else Value(0)
        annotations[name] = Coalesce(Subquery(inner), default)
    annotations.update(_referral_counts(tiers, now))
    # The row lock keeps a concurrent sale's upgrade from being overwritten by this review.
    due = list(
        PointsAccount.objects.select_for_update(of=("self",))
        # No tier yet: accounts opened before HQ configured any tiers.
        .filter(Q(tier_review_at__lte=now) | Q(tier__isnull=True))
        .order_by("pk")
        .annotate(**annotations)
        .values("pk", "customer_id", "tier_id", "tier_changed_at", "tier_review_at", *annotations)
    )
    moves: dict[int, list[dict]] = defaultdict(list)
    kept: dict[int, list[int]] = defaultdict(list)  # months to push the review -> ids
    counts = {"upgraded": 0, "downgraded": 0, "kept": 0}
    for row in due:
        best = _best_index(tiers, _totals_from(row, tiers))
        current = index_of.get(row["tier_id"], -1)
        if best > current:
            target = best
            counts["upgraded"] += 1
        elif best < current:
            target = max(best, current - tiers[current].max_downgrade_steps)
            counts["downgraded"] += 1
        else:
            counts["kept"] += 1
            # The next anniversary: whole review periods on from the one that fell due.
            months = tiers[current].grace_months
            while add_months(row["tier_review_at"], months) <= now:
                months += tiers[current].grace_months
            kept[months].append(row["pk"])
            continue
        moves[target].append(row)
    for target, rows in moves.items():
        tier = tiers[target]
        for start in range(0, len(rows), UPDATE_BATCH):
            batch = rows[start : start + UPDATE_BATCH]
            PointsAccount.objects.filter(pk__in=[row["pk"] for row in batch]).update(
                tier=tier, tier_changed_at=now, tier_review_at=add_months(now, tier.grace_months)
            )
            Customer.objects.filter(pk__in=[row["customer_id"] for row in batch]).update(
                tier_code=tier.code, tier_name=tier.name
            )
    for months, ids in kept.items():
        for start in range(0, len(ids), UPDATE_BATCH):
            _push_review(ids[start : start + UPDATE_BATCH], months)
    if counts["upgraded"] or counts["downgraded"]:
        audit_record(action="loyalty.tiers_evaluated", after=counts)
    return counts


def loyalty_nightly(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """The three nightly jobs in order (what the beat entries run, one task each)."""
    now = now or timezone.now()
    result = {"expired_lots": points_expire_due(now=now)}
    result.update(tiers_evaluate(now=now))
    result["notices"] = points_notify_expiring(now=now)
    return result


# --- personal data (customers' personal_data_requested event) --------------------------------


def member_personal_data(*, customer: Customer) -> dict:
    """The member's points account and every ledger entry, for a data-subject request."""
    account = PointsAccount.objects.filter(customer=customer).select_related("tier").first()
    if account is None:
        return {"balance": 0, "tier": None, "entries": []}
    return {
        "balance": account.balance,
        "tier": account.tier.name if account.tier else None,
        "entries": [
            {"at": row["occurred_at"].isoformat(), "points": row["points"], "reason": row["reason"]}
            for row in account.entries.order_by("occurred_at", "pk").values(
                "occurred_at", "points", "reason"
            )
        ],
    }


def on_personal_data_requested(sender, *, customer: Customer, **kwargs) -> tuple[str, dict]:
    return "points", member_personal_data(customer=customer)
