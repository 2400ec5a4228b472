"""Points settlement at chain scale: one month's statements of every franchise and
joint-operation store, beside the SQL floor (one scan summing the month's redemption draws).

`generate()` is a benchmarks.generate extension, run after loyalty_jobs.generate (one earn
lot per member): it gives each lot an issuing store and store types their ownership, and
writes last month's redemptions (one member in three, at a random store, so most cross
owners) with their lot draws, set-based. `measure()` times `settlement_generate` inside a
rolled-back transaction. Alone:

    DATABASE_URL=postgres://crm_owner@127.0.0.1:5432/crm_bench \\
        .venv/bin/python -m benchmarks.settlement_bench [--fresh]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

OWNERSHIP = {"ZY": "direct", "JM": "franchise", "LY": "joint"}


def log(message: str) -> None:
    print(f"[settlement bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _last_month_sql() -> str:
    # The first instant of last month and of this month, on the bench tenant's clock.
    return (
        "(date_trunc('month', (now() AT TIME ZONE 'Asia/Shanghai')) - interval '1 month') "
        "AT TIME ZONE 'Asia/Shanghai'"
    )


def generate(cursor, tenant_id: int, slug: str, args=None, rng=None, fresh=False) -> None:
    cursor.execute(
        "SELECT count(*) FROM loyalty_pointsentry WHERE tenant_id = %s "
        "AND source_key LIKE 'bench-redeem:%%'",
        [tenant_id],
    )
    if cursor.fetchone()[0] and not fresh:
        log(f"{slug}: redemptions exist, reused")
        return
    started = time.perf_counter()
    for code, ownership in OWNERSHIP.items():
        cursor.execute(
            "UPDATE stores_storetype SET ownership = %s WHERE tenant_id = %s AND code = %s",
            [ownership, tenant_id, code],
        )
    cursor.execute(
        "DELETE FROM loyalty_lotdraw WHERE tenant_id = %s AND entry_id IN (SELECT id FROM "
        "loyalty_pointsentry WHERE tenant_id = %s AND source_key LIKE 'bench-redeem:%%')",
        [tenant_id, tenant_id],
    )
    cursor.execute(
        "DELETE FROM loyalty_pointsentry WHERE tenant_id = %s "
        "AND source_key LIKE 'bench-redeem:%%'",
        [tenant_id],
    )
    # Issuing store: the member's home store (where most members earn).
    cursor.execute(
        "UPDATE loyalty_pointslot l SET store_id = c.home_store_id, remaining = l.points "
        "FROM loyalty_pointsaccount a JOIN customers_customer c ON c.id = a.customer_id "
        "WHERE a.id = l.account_id AND l.tenant_id = %s",
        [tenant_id],
    )
    cursor.execute(
        "SELECT array_agg(id ORDER BY id) FROM stores_store WHERE tenant_id = %s", [tenant_id]
    )
    store_ids = cursor.fetchone()[0]
    # One member in three redeems 100 points last month at a store picked by the member id.
    cursor.execute(
        "INSERT INTO loyalty_pointsentry (tenant_id, account_id, kind, points, balance_after, "
        "source_key, amount, unreversed_points, store_id, reason, occurred_at, created_at) "
        "SELECT l.tenant_id, l.account_id, 'redeem', -LEAST(100, l.points), "
        "a.balance - LEAST(100, l.points), 'bench-redeem:' || l.id, NULL, 0, "
        "(%s::bigint[])[1 + (l.account_id * 7919) %% array_length(%s::bigint[], 1)], '', "
        f"{_last_month_sql()} + (l.account_id %% 27) * interval '1 day', now() "
        "FROM loyalty_pointslot l JOIN loyalty_pointsaccount a ON a.id = l.account_id "
        "WHERE l.tenant_id = %s AND l.account_id %% 3 = 0",
        [store_ids, store_ids, tenant_id],
    )
    cursor.execute(
        "INSERT INTO loyalty_lotdraw (tenant_id, entry_id, lot_id, points) "
        "SELECT e.tenant_id, e.id, l.id, -e.points FROM loyalty_pointsentry e "
        "JOIN loyalty_pointslot l ON l.account_id = e.account_id AND l.tenant_id = e.tenant_id "
        "WHERE e.tenant_id = %s AND e.source_key LIKE 'bench-redeem:%%'",
        [tenant_id],
    )
    draws = cursor.rowcount
    # Keep the ledger's sums: the lots and balances lose what was redeemed.
    cursor.execute(
        "UPDATE loyalty_pointslot l SET remaining = l.points - d.points FROM loyalty_lotdraw d "
        "WHERE d.lot_id = l.id AND d.tenant_id = %s",
        [tenant_id],
    )
    cursor.execute(
        "UPDATE loyalty_pointsaccount a SET balance = e.balance_after FROM loyalty_pointsentry e "
        "WHERE e.account_id = a.id AND e.tenant_id = %s AND e.source_key LIKE 'bench-redeem:%%'",
        [tenant_id],
    )
    cursor.execute(
        "ANALYZE loyalty_pointsentry; ANALYZE loyalty_lotdraw; ANALYZE loyalty_pointslot"
    )
    log(f"{slug}: {draws} redemptions loaded in {time.perf_counter() - started:.1f}s")


def measure(tenant) -> list:
    """Last month's statements (first generation, then a regeneration) beside the SQL floor."""
    from django.db import connection, transaction
    from django.utils import timezone

    from benchmarks.harness import Figure
    from loyalty import services
    from loyalty.services.settlement import month_bounds, period_bounds, previous_month
    from tenancy.context import tenant_context

    def timed(func):
        started = time.perf_counter()
        result = func()
        return (time.perf_counter() - started) * 1000, result

    with tenant_context(tenant):
        month = previous_month(timezone.now().astimezone(tenant.zone).date())
        t0, t1 = period_bounds(*month_bounds(month))

        def floor():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*), sum(d.points) FROM loyalty_lotdraw d "
                    "JOIN loyalty_pointsentry e ON e.id = d.entry_id "
                    "WHERE e.tenant_id = %s AND e.kind = 'redeem' "
                    "AND e.occurred_at >= %s AND e.occurred_at < %s",
                    [tenant.pk, t0, t1],
                )
                return cursor.fetchone()

        floors = [timed(floor)[0] for _ in range(3)]
        draws = floor()[0]
        with transaction.atomic():
            first_ms, first = timed(lambda: services.settlement_generate(month=month))
            again_ms, _again = timed(lambda: services.settlement_generate(month=month))
            from loyalty.models import SettlementLine

            lines = SettlementLine.objects.count()
            transaction.set_rollback(True)  # leave the data as generated for the next run
    log(f"{month:%Y-%m}: {len(first.written)} statements, {lines} lines in {first_ms:.0f} ms")
    return [
        Figure(
            "settlement: a month's statements",
            [first_ms],
            "SELECT sum of the month's redemption draws",
            floors,
            note=(
                f"{len(first.written)} statements, {lines} lines from {draws} draws; "
                f"regenerated in {again_ms:.0f} ms; month {month:%Y-%m}"
            ),
        )
    ]


def main(argv=None) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")
    django.setup()
    from django.conf import settings

    from benchmarks.copy import loader_connection
    from benchmarks.harness import render
    from tenancy.models import Tenant

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--fresh", action="store_true", help="rebuild the redemptions")
    args = parser.parse_args(argv)
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("the settlement benchmark needs PostgreSQL: set DATABASE_URL")
    tenant = Tenant.objects.get(slug=args.tenant)
    loader = loader_connection(os.environ["DATABASE_URL"])
    with loader, loader.cursor() as cursor:
        generate(cursor, tenant.pk, tenant.slug, fresh=args.fresh)
    loader.close()
    print(render(measure(tenant)))


if __name__ == "__main__":
    main(sys.argv[1:])
