"""The nightly jobs: expiring due lots, expiry notices and the tier review; set-based and safe
to repeat.
"""

from __future__ import annotations

import datetime

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from loyalty.models import (
    ExpiryNotice,
    PointsAccount,
    PointsEntry,
    PointsLot,
)
from loyalty.services.rules import points_rule
from loyalty.services.tier_review import tiers_evaluate
from tenancy.context import current_tenant

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


def loyalty_nightly(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """The three nightly jobs in order (what the beat entries run, one task each)."""
    now = now or timezone.now()
    result = {"expired_lots": points_expire_due(now=now)}
    result.update(tiers_evaluate(now=now))
    result["notices"] = points_notify_expiring(now=now)
    return result


RELEASE_BATCH = 1000  # accounts per transaction in points_release_pending


def points_release_pending(*, now: datetime.datetime | None = None) -> int:
    """Make spendable every pending lot whose return window has ended; returns the lots.

    Crash-safe and idempotent: each batch of accounts is its own transaction, and clearing
    `pending_until` is the whole write, so a repeat (or a run after a crash mid-way) finds
    only what is still due. The accounts are locked in pk order first, like every points
    write: a redemption that read the lots as pending either commits before the release
    (and saw fewer points) or waits and then sees them released; it never counts a lot twice.
    """
    now = now or timezone.now()
    released = 0
    while True:
        with transaction.atomic():
            account_ids = list(
                PointsLot.objects.filter(pending_until__lte=now)
                .order_by("account_id")
                .values_list("account_id", flat=True)
                .distinct()[:RELEASE_BATCH]
            )
            if not account_ids:
                return released
            list(
                PointsAccount.objects.select_for_update()
                .filter(pk__in=account_ids)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            released += PointsLot.objects.filter(
                account_id__in=account_ids, pending_until__lte=now
            ).update(pending_until=None)
