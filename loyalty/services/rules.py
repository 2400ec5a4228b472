"""The points rule, point values and expiry dates, and the ledger underneath everything:
accounts, entries and lots, drawn earliest-expiring first.
"""

from __future__ import annotations

import datetime
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from customers.models import Customer
from loyalty.models import (
    LotDraw,
    PointsAccount,
    PointsEntry,
    PointsLot,
    PointsRule,
    Tier,
)
from tenancy.context import current_tenant
from tenancy.dates import add_months

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
                tier_review_at=add_months(now, entry_tier.review_months) if entry_tier else None,
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
    pending_until: datetime.datetime | None = None,
    store_id: int | None | object = ...,
) -> PointsLot:
    """A new lot; its issuing store (settlement) is the entry's store unless `store_id` says."""
    expires_at, expires_on = expires or expiry_for(earned_at, rule=rule)
    return PointsLot.objects.create(
        store_id=entry.store_id if store_id is ... else store_id,
        account=account,
        entry=entry,
        points=points,
        remaining=points,
        earned_at=earned_at,
        expires_at=expires_at,
        expires_on=expires_on,
        pending_until=pending_until,
    )


def _spendable_lots(account: PointsAccount, *, now: datetime.datetime):
    """Lots that may be spent: not past their expiry instant and released from the return
    window (pending_until cleared by the release job, not merely passed: spending follows
    what the job committed, so a redemption and the release serialise on the account lock)."""
    return account.lots.filter(remaining__gt=0, expires_at__gt=now, pending_until__isnull=True)


def _available(account: PointsAccount, *, now: datetime.datetime) -> int:
    """Points that may still be spent now."""
    return _spendable_lots(account, now=now).aggregate(total=Coalesce(Sum("remaining"), 0))["total"]


def _pending(account: PointsAccount) -> int:
    """Points still inside their sale's return window (in the balance, not yet spendable)."""
    return account.lots.filter(remaining__gt=0, pending_until__isnull=False).aggregate(
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

    `now` given: only lots spendable at `now` (valid, not pending). `now` None: any lot with
    points left, due and pending ones included (taking points back on a refund or a merge).
    `first`: a lot to empty before the others (the lot a refunded sale created). Caller holds
    the account lock.
    """
    if now is not None:
        lots = _spendable_lots(account, now=now)
    else:
        lots = account.lots.filter(remaining__gt=0)
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
