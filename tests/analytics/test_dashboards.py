"""Store dashboard, HQ overview and exports: content, scope, bounded queries."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.aggregation import daily_stats_compute
from analytics.selectors import Period, shift_year
from analytics.services import local_day
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.analytics.factories import line, record_sale

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def history(world):
    """Twenty days of sales in both stores of A, aggregated, plus one sale today."""
    tenant = world.tenant_a
    with tenant_context(tenant):
        today = local_day(timezone.now(), tenant)
        manager = world.staff_a[Role.STORE_MANAGER]
        for offset in range(1, 21):
            day = today - datetime.timedelta(days=offset)
            noon = datetime.datetime.combine(day, datetime.time(12), tenant.zone)
            for n in range(offset % 4 + 1):
                record_sale(
                    world.store_a1,
                    noon + datetime.timedelta(minutes=n),
                    lines=[line(f"P{n}", n + 1, "10.00", name=f"=商品{n}")],
                    staff=manager,
                )
            record_sale(world.store_a2, noon, lines=[line("P9", 1, "99.00")])
            daily_stats_compute(day=day)
        record_sale(world.store_a1, timezone.now(), lines=[line("P1", 1, "8.00")])
    return today


def test_store_dashboard_shows_live_today_aggregates_chart_and_rankings(world, client_for, history):
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    url = reverse("analytics:store_dashboard", kwargs={"store_id": world.store_a1.pk})
    response = client.get(url, {"preset": "week"})
    assert response.status_code == 200
    context = response.context
    assert context["today"]["revenue"] == Decimal("8.00")
    assert context["period"].days == 7
    assert context["period"].end == history - datetime.timedelta(days=1)
    assert len(context["chart"]["bars"]) == 7
    # Last 7 days: P1 and P2 sold 120.00 each, P3 80.00, P0 70.00.
    assert context["top_products"][0]["revenue"] == Decimal("120.00")
    assert [p["product__sku"] for p in context["top_products"]][2:] == ["P3", "P0"]
    assert context["slow_products"][0]["product__sku"] == "P0"  # fewest units: 7
    assert (
        context["staff_rows"][0]["staff__display_name"]
        == world.staff_a[Role.STORE_MANAGER].display_name
    )
    assert context["compare"]["cur"]["revenue"] > 0
    assert context["compare"]["prev"]["revenue"] > 0
    html = response.content.decode()
    assert "<svg" in html and 'class="bar"' in html
    assert "今日实时" in html


def test_dashboard_queries_are_bounded_whatever_the_range(
    world, client_for, history, django_assert_max_num_queries
):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    client.get(reverse("analytics:dashboard"))  # warm the session and membership caches
    store_url = reverse("analytics:store_dashboard", kwargs={"store_id": world.store_a1.pk})
    for params in ({"preset": "day"}, {"preset": "12m"}, {"preset": "ytd"}):
        with django_assert_max_num_queries(16):
            assert client.get(store_url, params).status_code == 200
        with django_assert_max_num_queries(16):
            assert client.get(reverse("analytics:dashboard"), params).status_code == 200


def test_past_days_come_from_aggregates_not_raw_sales(world, client_for, history):
    """A sale slipped in for a built day without marking it shows only after a rebuild."""
    from analytics.models import Sale

    with tenant_context(world.tenant_a):
        # The newest is today's live sale; the one before belongs to yesterday, a built day.
        sale = Sale.objects.filter(store=world.store_a1).order_by("-occurred_at")[1]
        Sale.objects.filter(pk=sale.pk).update(total=Decimal("100000.00"))
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    url = reverse("analytics:store_dashboard", kwargs={"store_id": world.store_a1.pk})
    before = client.get(url, {"preset": "week"}).context["compare"]["cur"]["revenue"]
    assert before < Decimal("100000")


def test_hq_overview_ranks_stores_and_groups_by_region_and_type(world, client_for, history):
    client = client_for(world.staff_a[Role.HQ_STAFF])
    response = client.get(reverse("analytics:dashboard"), {"preset": "week"})
    ranking = response.context["ranking"]
    assert [row["store_id"] for row in ranking] == [world.store_a2.pk, world.store_a1.pk]
    assert ranking[0]["revenue"] == Decimal("693.00")
    assert reverse("analytics:store_dashboard", kwargs={"store_id": world.store_a2.pk}) in (
        response.content.decode()
    )
    by_region = client.get(reverse("analytics:dashboard"), {"preset": "week", "group": "region"})
    assert len(by_region.context["ranking"]) == 1
    assert by_region.context["ranking"][0]["revenue"] == sum(r["revenue"] for r in ranking)


def test_store_managers_see_only_their_store_and_clerks_no_dashboard(world, client_for, history):
    manager = client_for(world.staff_a[Role.STORE_MANAGER])
    other = reverse("analytics:store_dashboard", kwargs={"store_id": world.store_a2.pk})
    assert manager.get(other).status_code == 404
    home = manager.get(reverse("analytics:dashboard"))
    assert home.context["store"] == world.store_a1
    assert (
        client_for(world.staff_a[Role.CLERK]).get(reverse("analytics:dashboard")).status_code == 403
    )


def test_csv_and_xlsx_exports_escape_formulas_and_are_audited(world, client_for, history):
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    response = client.get(
        reverse("analytics:export"), {"report": "products", "format": "csv", "preset": "12m"}
    )
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "商品编码"
    names = {row[1] for row in rows[1:]}
    assert names and all(name.startswith("'=") for name in names)
    response = client.get(
        reverse("analytics:export"), {"report": "stores", "format": "xlsx", "preset": "12m"}
    )
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][1] == "门店编码"
    assert [row[1] for row in values[1:]] == ["BJ-ZY-001"]  # the manager's store only
    with tenant_context(world.tenant_a):
        assert AuditEvent.objects.filter(action="analytics.export").count() == 2
    other = client.get(reverse("analytics:export"), {"store": world.store_a2.pk})
    assert other.status_code == 404


def test_periods_compare_with_previous_and_last_year():
    period = Period(datetime.date(2026, 3, 1), datetime.date(2026, 3, 31))
    assert period.previous() == Period(datetime.date(2026, 1, 29), datetime.date(2026, 2, 28))
    assert period.last_year() == Period(datetime.date(2025, 3, 1), datetime.date(2025, 3, 31))
    assert shift_year(datetime.date(2028, 2, 29)) == datetime.date(2027, 2, 28)


def test_rankings_match_the_per_list_queries_and_break_ties_by_sku(world):
    """Twelve products with equal sales: the slowest ten are the first ten SKUs."""
    from analytics.selectors import product_ranking, product_rankings

    tenant = world.tenant_a
    with tenant_context(tenant):
        day = local_day(timezone.now(), tenant) - datetime.timedelta(days=1)
        noon = datetime.datetime.combine(day, datetime.time(12), tenant.zone)
        for sku in ["K11", "K03", "K07", "K01", "K12", "K05", "K09", "K02", "K10", "K04"]:
            record_sale(world.store_a1, noon, lines=[line(sku, 1, "10.00")])
        for sku in ["K06", "K08"]:  # sell more: never among the slowest
            record_sale(world.store_a1, noon, lines=[line(sku, 3, "10.00")])
        daily_stats_compute(day=day)
        period = Period(day, day)

        top, slow = product_rankings([world.store_a1.pk], period, limit=10)

        assert [p["product__sku"] for p in slow] == [
            f"K{n:02}" for n in (1, 2, 3, 4, 5, 7, 9, 10, 11, 12)
        ]
        assert slow == product_ranking([world.store_a1.pk], period, slowest=True)
        assert {p["product__sku"] for p in top[:2]} == {"K06", "K08"}
        # Below the two best sellers the rest tie, and a tie's order is not defined.
        assert len(top) == 10
        assert [p["revenue"] for p in top] == sorted((p["revenue"] for p in top), reverse=True)
