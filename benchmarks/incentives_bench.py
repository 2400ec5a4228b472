"""Monthly incentive statements at chain scale, beside their SQL floor.

The job (`incentive_statements_compute`) builds one statement per staff member and one line
per sale, enrolled buyer, won lead and 5-star answer of a past month. It runs inside a
transaction that is rolled back (with the tenant's rules, created in it), so the figure
repeats. The floor is the least the database must do for the same lines: one
INSERT ... SELECT of the month's sales, each with its seller and the rate that applies, into a
temporary table.
"""

from __future__ import annotations

import datetime
import time
from decimal import Decimal

from django.db import connection, transaction

from benchmarks.harness import Figure


class _Rollback(Exception):
    pass


def _month_with_sales(tenant) -> datetime.date:
    from analytics.models import Sale
    from tenancy.context import tenant_context
    from tenancy.dates import tenant_today

    with tenant_context(tenant):
        last = Sale.objects.order_by("-occurred_at").values_list("occurred_at", flat=True).first()
        today = tenant_today()
    day = (last.astimezone(tenant.zone).date() if last else today).replace(day=1)
    # The last complete month with sales.
    return (day - datetime.timedelta(days=1)).replace(day=1) if day == today.replace(day=1) else day


def measure(tenant, quick: bool) -> tuple[list[Figure], list[tuple[str, str]]]:
    from analytics.models import IncentiveKind, IncentiveLine, Sale
    from analytics.performance import month_bounds
    from analytics.services import incentive_rule_create, incentive_statements_compute
    from tenancy.context import tenant_context
    from tenancy.models import StaffMember

    month = _month_with_sales(tenant)
    repeat = 2 if quick else 3
    samples, lines, floor_samples = [], 0, []
    with tenant_context(tenant):
        admin = StaffMember.objects.filter(role="hq_admin").order_by("pk").first()
        start, end = month_bounds(month)
        sales = Sale.objects.filter(occurred_at__gte=start, occurred_at__lt=end).count()
        for _ in range(repeat):
            try:
                with transaction.atomic():
                    for kind, amount in (
                        (IncentiveKind.SALES_PERCENT, Decimal("1.5")),
                        (IncentiveKind.ENROLLED_BUYER, Decimal("10")),
                        (IncentiveKind.LEAD_WON, Decimal("20")),
                        (IncentiveKind.FIVE_STAR, Decimal("5")),
                    ):
                        incentive_rule_create(
                            actor=admin,
                            kind=kind,
                            amount=amount,
                            effective_from=datetime.date(2000, 1, 1),
                        )
                    started = time.perf_counter()
                    incentive_statements_compute(month=month, actor=admin)
                    samples.append((time.perf_counter() - started) * 1000)
                    lines = IncentiveLine.objects.count()
                    raise _Rollback
            except _Rollback:
                pass
            floor_samples.append(_floor_ms(tenant, start, end))
    figure = Figure(
        f"incentive statements of {month:%Y-%m} (job)",
        samples,
        "INSERT ... SELECT of the month's lines",
        floor_samples,
        note=f"{sales} sales in the month, {lines} lines written; rolled back",
    )
    return [figure], []


def _floor_ms(tenant, start, end) -> float:
    from tenancy.context import tenant_context

    with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_lines (staff_id bigint, source_id bigint, "
            "occurred_at timestamptz, basis numeric(14,2), amount numeric(14,2)) ON COMMIT DROP"
        )
        started = time.perf_counter()
        cursor.execute(
            "INSERT INTO bench_lines SELECT coalesce(o.staff_id, s.staff_id), s.id, "
            "s.occurred_at, s.total, round(s.total * 1.5 / 100, 2) FROM analytics_sale s "
            "LEFT JOIN analytics_sale o ON o.id = s.refund_of_id WHERE s.tenant_id = %s "
            "AND s.occurred_at >= %s AND s.occurred_at < %s "
            "AND coalesce(o.staff_id, s.staff_id) IS NOT NULL AND s.total <> 0",
            [tenant.pk, start, end],
        )
        return (time.perf_counter() - started) * 1000
