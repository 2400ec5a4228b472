"""Loyalty at chain scale: the nightly expiry and tier jobs over every member of a tenant.

`generate()` is a benchmarks.generate extension (points accounts, earn entries and lots for
every member, set-based) and `measure()` gives the report's figures. Each job runs inside a
transaction that is rolled back, so the figures repeat; each is printed beside a plain SQL
scan of the table the job works on, measured in the same run. Alone:

    DATABASE_URL=postgres://crm_owner@127.0.0.1:5432/crm_bench \
        .venv/bin/python -m benchmarks.loyalty_jobs [--fresh]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

TABLES = {
    "tier": "loyalty_tier",
    "rule": "loyalty_pointsrule",
    "account": "loyalty_pointsaccount",
    "entry": "loyalty_pointsentry",
    "lot": "loyalty_pointslot",
    "draw": "loyalty_lotdraw",
    "notice": "loyalty_expirynotice",
}
TIERS = [  # order, code, name, min spend
    (0, "NORMAL", "普通会员", 0),
    (1, "SILVER", "银卡", 2000),
    (2, "GOLD", "金卡", 8000),
    (3, "DIAMOND", "钻石卡", 30000),
]


def log(message: str) -> None:
    print(f"[loyalty bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def generate(cursor, tenant_id: int, slug: str, args=None, rng=None, fresh=False) -> None:
    """One account, one earn entry and one lot per member, set-based (superuser cursor).

    One member in twelve has a lot past its expiry, and one in twelve (across all four tiers)
    a tier review due, about what a month-end night looks like; the rest come later.
    """
    t = TABLES
    cursor.execute("SELECT count(*) FROM customers_customer WHERE tenant_id = %s", [tenant_id])
    members = cursor.fetchone()[0]
    cursor.execute(f"SELECT count(*) FROM {t['account']} WHERE tenant_id = %s", [tenant_id])  # noqa: S608
    if cursor.fetchone()[0] == members and not fresh:
        log(f"{slug}: {members} points accounts exist, reused")
        return
    started = time.perf_counter()
    log(f"{slug}: creating points for {members} members")
    cursor.execute(f"UPDATE {t['entry']} SET lot_id = NULL WHERE tenant_id = %s", [tenant_id])  # noqa: S608
    for table in ("draw", "notice", "lot", "entry", "account", "tier", "rule"):
        cursor.execute(f"DELETE FROM {t[table]} WHERE tenant_id = %s", [tenant_id])  # noqa: S608
    tier_ids = []
    for order, code, name, spend in TIERS:
        cursor.execute(
            f'INSERT INTO {t["tier"]} (tenant_id, "order", code, name, min_spend, '  # noqa: S608
            "min_purchases, min_referrals, window_months, multiplier, benefits, review_months, "
            "max_downgrade_steps, retention_months, upgrade_points) "
            "VALUES (%s, %s, %s, %s, %s, 0, 0, 12, 1, '', 12, 1, 0, 0) "
            "RETURNING id",
            [tenant_id, order, code, name, spend],
        )
        tier_ids.append(cursor.fetchone()[0])
    cursor.execute(
        f"INSERT INTO {t['rule']} (tenant_id, points_per_yuan, excluded_categories, "  # noqa: S608
        "expiry_months, redeem_points_per_yuan, redeem_minimum, expiry_notice_days, "
        "adjust_limit_store_manager, adjust_limit_hq, adjust_budget_store_manager, "
        "adjust_budget_hq, referral_points, behaviour_points, pending_days, "
        "issuance_cap_mode, tier_purchase, tier_purchase_period_months, updated_at) "
        "VALUES (%s, 1, '[]', 12, 100, 100, 30, 500, 50000, 2000, 500000, 0, 0, 0, 'refuse', "
        "false, 12, now())",
        [tenant_id],
    )
    cursor.execute(
        f"INSERT INTO {t['account']} (tenant_id, customer_id, balance, debt, tier_id, "  # noqa: S608
        "tier_changed_at, tier_review_at, created_at) "
        "SELECT tenant_id, id, 100 + id %% 400, 0, "
        "(ARRAY[%s, %s, %s, %s]::bigint[])[1 + id %% 4], now() - interval '11 months', "
        "CASE WHEN (id / 4) %% 12 = 0 THEN now() - interval '1 hour' "
        "ELSE now() + (1 + id %% 300) * interval '1 day' END, now() "
        "FROM customers_customer WHERE tenant_id = %s",
        [*tier_ids, tenant_id],
    )
    cursor.execute(
        f"INSERT INTO {t['entry']} (tenant_id, account_id, kind, points, balance_after, "  # noqa: S608
        "source_key, amount, unreversed_points, reason, occurred_at, created_at) "
        "SELECT tenant_id, id, 'earn', balance, balance, 'bench-sale:' || id, balance, 0, '', "
        "now() - (id %% 330) * interval '1 day', now() "
        f"FROM {t['account']} WHERE tenant_id = %s",
        [tenant_id],
    )
    cursor.execute(
        f"INSERT INTO {t['lot']} (tenant_id, account_id, entry_id, points, remaining, "  # noqa: S608
        "earned_at, expires_at, expires_on) "
        "SELECT tenant_id, account_id, id, points, points, occurred_at, x.at, "
        "((x.at AT TIME ZONE 'Asia/Shanghai') - interval '1 day')::date "
        f"FROM {t['entry']}, LATERAL (SELECT CASE WHEN account_id %% 12 = 0 "
        "THEN now() - interval '1 hour' "
        "ELSE now() + (1 + account_id %% 300) * interval '1 day' END AS at) x "
        "WHERE tenant_id = %s",
        [tenant_id],
    )
    cursor.execute(f"ANALYZE {t['account']}; ANALYZE {t['entry']}; ANALYZE {t['lot']}")
    log(f"{slug}: points loaded in {time.perf_counter() - started:.1f}s")


def _timed(func) -> tuple[float, object]:
    started = time.perf_counter()
    result = func()
    return (time.perf_counter() - started) * 1000, result


def _preview(services) -> dict[str, int]:
    """Silver from half its spend: the preview HQ would see before saving it."""
    import copy

    from loyalty.models import Tier

    silver = copy.deepcopy(Tier.objects.get(code="SILVER"))
    silver.min_spend = silver.min_spend / 2
    return services.tiers_preview(tiers=services.proposed_tiers(silver)).counts


def measure(tenant) -> list:
    """Time both jobs (first run, then the idempotent second run) beside a table scan."""
    from django.db import connection, transaction
    from django.utils import timezone

    from benchmarks.harness import Figure
    from loyalty import services
    from tenancy.context import tenant_context

    figures = []
    now = timezone.now()

    def scan(table: str) -> float:
        def run():
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT count(*) FROM {table} WHERE tenant_id = %s", [tenant.pk])  # noqa: S608
                return cursor.fetchone()[0]

        return _timed(run)[0]

    with tenant_context(tenant):
        jobs = [
            ("expire due lots", TABLES["lot"], lambda: services.points_expire_due(now=now)),
            ("re-evaluate tiers", TABLES["account"], lambda: services.tiers_evaluate(now=now)),
            # Issue 19: HQ's tier-rule preview is the review run dry over every member; the
            # "apply now" that follows is the same review, written.
            ("preview a tier-rule change", TABLES["account"], lambda: _preview(services)),
            (
                "apply a tier-rule change now",
                TABLES["account"],
                lambda: services.tiers_evaluate(now=now, everyone=True),
            ),
        ]
        for name, table, job in jobs:
            floor = [scan(table) for _ in range(3)]
            with transaction.atomic():
                first_ms, first = _timed(job)
                second_ms, second = _timed(job)
                transaction.set_rollback(True)  # leave the data as generated for the next run
            log(f"{name}: first run {first} in {first_ms:.0f} ms; second run {second}")
            figures.append(
                Figure(
                    f"loyalty job: {name}",
                    [first_ms],
                    f"SELECT count(*) {table}",
                    floor,
                    note=f"result {first}; second run {second} in {second_ms:.0f} ms",
                )
            )
        figures.append(_release_pending(tenant, services, now))
    return figures


def _release_pending(tenant, services, now):
    """Issue 19's hourly release of points whose return window has ended, at full scale.

    The generated lots are all spendable; inside the rolled-back transaction one lot in 40 is
    made pending until an hour ago (due: at 1M members 25,000, about three days of member
    sales at 10M sales over two years, what a worker that was down for a weekend finds) and
    one in 20 pending for three more days (still inside the window: the job must skip them).
    The floor is the set-based UPDATE that releases the same lots in one statement.
    """
    from django.db import connection, transaction

    from benchmarks.harness import Figure

    lot = TABLES["lot"]
    release_sql = (
        f"UPDATE {lot} SET pending_until = NULL "  # noqa: S608
        "WHERE tenant_id = %s AND pending_until <= %s"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {lot} SET pending_until = CASE WHEN account_id %% 40 = 1 "  # noqa: S608
            "THEN %s - interval '1 hour' ELSE %s + interval '3 days' END "
            "WHERE tenant_id = %s AND account_id %% 40 IN (1, 2, 3)",
            [now, now, tenant.pk],
        )
        cursor.execute(f"ANALYZE {lot}")
        floor = []
        for _ in range(3):
            sid = transaction.savepoint()
            started = time.perf_counter()
            cursor.execute(release_sql, [tenant.pk, now])
            due = cursor.rowcount
            floor.append((time.perf_counter() - started) * 1000)
            transaction.savepoint_rollback(sid)
        first_ms, first = _timed(lambda: services.points_release_pending(now=now))
        second_ms, second = _timed(lambda: services.points_release_pending(now=now))
        cursor.execute(
            f"SELECT count(*) FROM {lot} WHERE tenant_id = %s AND pending_until IS NOT NULL",  # noqa: S608
            [tenant.pk],
        )
        still_pending = cursor.fetchone()[0]
        transaction.set_rollback(True)  # leave the data as generated for the next run
    if first != due:
        raise RuntimeError(f"the release job released {first} lots, the floor {due}")
    log(f"release pending points: {first} lots in {first_ms:.0f} ms; second run {second}")
    return Figure(
        "loyalty job: release pending points",
        [first_ms],
        "one UPDATE of the same lots",
        floor,
        note=f"{first} lots released, {still_pending} still in their window; "
        f"second run {second} in {second_ms:.0f} ms",
    )


def main(argv=None) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")
    django.setup()
    from django.conf import settings

    from benchmarks.copy import loader_connection
    from benchmarks.harness import render
    from tenancy.models import Tenant

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members-tenant", default="bench")
    parser.add_argument("--fresh", action="store_true", help="rebuild the points data")
    args = parser.parse_args(argv)
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("the loyalty benchmark needs PostgreSQL: set DATABASE_URL")
    tenant = Tenant.objects.get(slug=args.members_tenant)
    loader = loader_connection(os.environ["DATABASE_URL"])
    with loader, loader.cursor() as cursor:
        generate(cursor, tenant.pk, tenant.slug, fresh=args.fresh)
    loader.close()
    print(render(measure(tenant)))


if __name__ == "__main__":
    main(sys.argv[1:])
