"""The nightly recommendation job at chain scale, beside its SQL floor.

The job (analytics.recommendations.product_pairs_rebuild) deletes the tenant's pairs and
inserts the top 20 partners of every product from the 180-day window's baskets, in one
transaction, rolled back here so the figure repeats. The floor is the least the database must
do for the same answer: the same baskets self-joined and counted, read without ranking or
writing. Alone:

    DATABASE_URL=postgres://crm_owner@127.0.0.1:5432/crm_bench \
        .venv/bin/python -m benchmarks.recommendations_bench
"""

from __future__ import annotations

import os
import sys
import time

FLOOR_SQL = """
WITH baskets AS (
    SELECT DISTINCT l.sale_id, l.product_id
    FROM analytics_saleline l JOIN analytics_sale s ON s.id = l.sale_id
    WHERE s.tenant_id = %s AND l.tenant_id = %s AND s.occurred_at >= %s AND s.occurred_at < %s
      AND s.refund_of_id IS NULL AND l.quantity > 0
)
SELECT count(*), sum(together) FROM (
    SELECT a.product_id, b.product_id, COUNT(*) AS together
    FROM baskets a JOIN baskets b ON b.sale_id = a.sale_id AND b.product_id <> a.product_id
    GROUP BY a.product_id, b.product_id
) pairs
"""


def log(message: str) -> None:
    print(f"[recommendations bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr)


def measure(tenant, repeat: int = 3) -> list:
    from django.db import connection, transaction
    from django.utils import timezone

    from analytics.recommendations import product_pairs_rebuild, window_start
    from benchmarks.harness import Figure
    from tenancy.context import tenant_context

    now = timezone.now()
    job, floor, written = [], [], 0
    with tenant_context(tenant):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM analytics_sale WHERE tenant_id = %s AND occurred_at >= %s",
                [tenant.pk, window_start(now)],
            )
            sales = cursor.fetchone()[0]
        log(f"{sales} sales in the 180-day window")
        for _ in range(repeat):
            started = time.perf_counter()
            with transaction.atomic():
                written = product_pairs_rebuild(now=now)
                transaction.set_rollback(True)
            job.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(FLOOR_SQL, [tenant.pk, tenant.pk, window_start(now), now])
                cursor.fetchall()
            floor.append((time.perf_counter() - started) * 1000)
    return [
        Figure(
            "nightly recommendations (pairs, 180 days)",
            job,
            "SELECT of the baskets' pair counts",
            floor,
            note=f"{sales} sales in the window, {written} pairs kept (top 20 per product)",
        )
    ]


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")
    import django

    django.setup()
    from benchmarks.harness import render
    from tenancy.models import Tenant

    print(render(measure(Tenant.objects.get(slug="bench"))))
