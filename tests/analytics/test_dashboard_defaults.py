"""Dashboards that open on data: the default period, custom ranges, the chart's axis, the
channel breakdown against raw sales, money in exports, and the demo data on a first open."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.aggregation import daily_stats_compute
from analytics.charts import nice_ticks, tick_label, trend_chart
from analytics.forms import PeriodForm
from analytics.models import Sale, SaleChannel
from analytics.selectors import Period, channel_breakdown, period_for
from analytics.services import local_day
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.analytics.factories import line, record_sale

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def _at(tenant, day: datetime.date, hour: int = 10) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour), tenant.zone)


# --- The default period ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "start", "end"),
    [
        # The 1st: the last 30 whole days all lie in the month before.
        (datetime.date(2026, 3, 1), datetime.date(2026, 1, 30), datetime.date(2026, 2, 28)),
        # The 2nd: still 30 days, not "month to date" (one day).
        (datetime.date(2026, 3, 2), datetime.date(2026, 1, 31), datetime.date(2026, 3, 1)),
        # Jan 1: the period lies in the year before, with its own last year.
        (datetime.date(2027, 1, 1), datetime.date(2026, 12, 2), datetime.date(2026, 12, 31)),
    ],
)
def test_default_period_is_the_last_30_whole_days(world, clock, today, start, end):
    with tenant_context(world.tenant_a):
        clock.move_to(_at(world.tenant_a, today, 9))
        period = PeriodForm({}).period()
        assert period == Period(start, end)
        assert period.days == 30
        assert period.previous() == Period(
            start - datetime.timedelta(days=30), start - datetime.timedelta(days=1)
        )
        assert period.last_year() == Period(
            start.replace(year=start.year - 1), end.replace(year=end.year - 1)
        )
        assert PeriodForm().period() == period  # an unbound form too
        assert PeriodForm().fields["preset"].initial == "30d"


def test_default_period_just_after_midnight_ends_yesterday(world, clock):
    """At 00:10 on the 1st, today has begun: the period is the 30 days before it."""
    tenant = world.tenant_a
    with tenant_context(tenant):
        clock.move_to(datetime.datetime(2026, 5, 1, 0, 10, tzinfo=tenant.zone))
        assert period_for("30d") == Period(datetime.date(2026, 4, 1), datetime.date(2026, 4, 30))


@pytest.mark.parametrize(
    "params",
    [
        {"preset": "custom"},
        {"preset": "custom", "start": "2026-01-05"},
        {"preset": "custom", "end": "2026-01-05"},
        {"start": "2026-01-05"},
    ],
)
def test_custom_period_without_both_dates_is_an_error(world, params):
    with tenant_context(world.tenant_a):
        form = PeriodForm(params)
        assert not form.is_valid()
        assert set(form.errors) & {"start", "end"}
        # The page still shows figures: the default period's, never a single day.
        assert form.period().days == 30


def test_custom_period_without_dates_is_shown_to_the_user(world, client_for):
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    response = client.get(reverse("analytics:dashboard"), {"preset": "custom"})
    html = response.content.decode()
    assert "请填写自定义区间的开始日期。" in html
    assert "请填写自定义区间的结束日期。" in html
    assert response.context["period"].days == 30
    export = client.get(reverse("analytics:export"), {"preset": "custom", "report": "staff"})
    assert export.status_code == 400


def test_custom_period_with_dates_is_used(world):
    with tenant_context(world.tenant_a):
        form = PeriodForm({"preset": "custom", "start": "2025-01-05", "end": "2025-01-11"})
        assert form.is_valid(), form.errors
        assert form.period() == Period(datetime.date(2025, 1, 5), datetime.date(2025, 1, 11))


# --- The chart's axis ------------------------------------------------------------------------


def _labels(top) -> list[str]:
    values = nice_ticks(Decimal(top))
    return [tick_label(v, values[1] - values[0]) for v in values]


def test_axis_of_an_all_zero_series_is_zero_to_one():
    chart = trend_chart([(datetime.date(2026, 1, d), Decimal(0)) for d in range(1, 31)])
    assert [t["label"] for t in chart["ticks"]] == ["0", "1"]
    assert all(bar["height"] == "0.00" for bar in chart["bars"])


@pytest.mark.parametrize(
    ("top", "labels"),
    [
        ("3", ["0", "1", "2", "3"]),
        ("0.4", ["0.0", "0.1", "0.2", "0.3", "0.4"]),
        ("1", ["0.0", "0.5", "1.0"]),
        ("18", ["0", "5", "10", "15", "20"]),
        ("14628.80", ["0", "5,000", "10,000", "15,000"]),
        ("123456", ["0", "50,000", "100,000", "150,000"]),
    ],
)
def test_axis_ticks_are_distinct_nice_and_cover_the_top(top, labels):
    assert _labels(top) == labels
    values = nice_ticks(Decimal(top))
    assert values[-1] >= Decimal(top)
    assert len(set(values)) == len(values) <= 5


def test_count_axis_steps_by_whole_numbers():
    assert nice_ticks(Decimal(2), money=False) == [0, 1, 2]


def test_bars_reach_the_axis_top_in_proportion():
    chart = trend_chart(
        [(datetime.date(2026, 1, 1), Decimal("3")), (datetime.date(2026, 1, 2), Decimal("0"))]
    )
    top_tick = chart["ticks"][-1]
    assert chart["bars"][0]["y"] == f"{top_tick['y']:.2f}"  # 3 of an axis topped at 3


# --- Channel breakdown -----------------------------------------------------------------------


def test_channel_breakdown_equals_raw_sales(world):
    tenant = world.tenant_a
    with tenant_context(tenant):
        today = local_day(timezone.now(), tenant)
        channels = [SaleChannel.COUNTER, SaleChannel.POS, SaleChannel.IMPORT]
        for offset in range(1, 21):
            day = today - datetime.timedelta(days=offset)
            for n, channel in enumerate(channels[: offset % 3 + 1]):
                record_sale(
                    world.store_a1,
                    _at(tenant, day, 10 + n),
                    lines=[line(f"C{n}", n + 1, "12.35")],
                    channel=channel,
                )
            if offset == 4:  # a refund counts against its channel, not as a transaction
                sale = Sale.objects.filter(store=world.store_a1).order_by("-pk").first()
                record_sale(
                    world.store_a1,
                    _at(tenant, day, 20),
                    lines=[line(sale.lines.first().product.sku, 1)],
                    channel=sale.channel,
                    refund_of=sale,
                )
            record_sale(world.store_a2, _at(tenant, day), channel=SaleChannel.POS)
            daily_stats_compute(day=day)
        period = Period(today - datetime.timedelta(days=10), today - datetime.timedelta(days=1))
        prev = period.previous()

        rows = {r["channel"]: r for r in channel_breakdown([world.store_a1.pk], period)}

        def raw(p: Period, channel) -> tuple[Decimal, int]:
            sales = Sale.objects.filter(
                store=world.store_a1,
                channel=channel,
                occurred_at__gte=_at(tenant, p.start, 0),
                occurred_at__lt=_at(tenant, p.end + datetime.timedelta(days=1), 0),
            )
            revenue = sum((s.total for s in sales), Decimal(0))
            return revenue, sum(1 for s in sales if s.refund_of_id is None)

        whole = sum((raw(period, c)[0] for c in channels), Decimal(0))
        assert set(rows) == set(channels)
        for channel in channels:
            revenue, transactions = raw(period, channel)
            assert rows[channel]["revenue"] == revenue
            assert rows[channel]["transactions"] == transactions
            assert rows[channel]["prev_revenue"] == raw(prev, channel)[0]
            assert rows[channel]["share"] == (revenue / whole).quantize(Decimal("0.0001"))
        assert sum(r["share"] for r in rows.values()) == pytest.approx(
            Decimal(1), abs=Decimal("0.001")
        )
        all_stores = {r["channel"]: r for r in channel_breakdown(None, period)}
        assert all_stores[SaleChannel.POS]["revenue"] > rows[SaleChannel.POS]["revenue"]


def test_channel_against_a_zero_base_reads_new_not_minus_100(world, client_for):
    tenant = world.tenant_a
    with tenant_context(tenant):
        yesterday = local_day(timezone.now(), tenant) - datetime.timedelta(days=1)
        record_sale(world.store_a1, _at(tenant, yesterday), channel=SaleChannel.IMPORT)
        daily_stats_compute(day=yesterday)
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    response = client.get(reverse("analytics:dashboard"))
    rows = {r["channel"]: r for r in response.context["channels"]}
    assert rows[SaleChannel.IMPORT]["is_new"] and rows[SaleChannel.IMPORT]["change"] is None
    assert rows[SaleChannel.POS]["change"] is None and not rows[SaleChannel.POS]["is_new"]
    html = response.content.decode()
    assert "销售渠道分布" in html and "新增" in html
    assert "-100.0%" not in html
    assert response.context["compare"]["change_prev"]["revenue"] is None


# --- Exports ---------------------------------------------------------------------------------


def test_csv_exports_write_money_to_the_fen(world, client_for):
    tenant = world.tenant_a
    with tenant_context(tenant):
        yesterday = local_day(timezone.now(), tenant) - datetime.timedelta(days=1)
        manager = world.staff_a[Role.STORE_MANAGER]
        for price in ("3.33", "3.33", "3.34"):  # average ticket 3.3333...
            record_sale(
                world.store_a1, _at(tenant, yesterday), lines=[line("F1", 1, price)], staff=manager
            )
        record_sale(
            world.store_a1, _at(tenant, yesterday), lines=[line("F2", 4, "3657.20")], staff=manager
        )
        daily_stats_compute(day=yesterday)
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    for report, money_columns in (("staff", (1, 3)), ("stores", (5, 7, 10)), ("products", (4,))):
        response = client.get(reverse("analytics:export"), {"report": report, "format": "csv"})
        assert response.status_code == 200
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:]
        assert rows
        for row in rows:
            for column in money_columns:
                whole, _dot, fen = row[column].partition(".")
                assert whole.lstrip("-").isdigit() and len(fen) == 2, (report, row)
    staff = list(
        csv.reader(
            io.StringIO(
                client.get(
                    reverse("analytics:export"), {"report": "staff", "format": "csv"}
                ).content.decode("utf-8-sig")
            )
        )
    )
    assert staff[1][1:] == ["14638.80", "4", "3659.70"]


# --- Demo data -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=False)
def test_seed_demo_opens_the_dashboard_on_non_zero_figures_and_stays_idempotent(client, clock):
    from django.core.management import call_command

    from tenancy import demo
    from tenancy.models import StaffMember

    clock.move_to(datetime.datetime(2026, 12, 2, 9, 30, tzinfo=datetime.UTC))
    call_command("seed_demo", stdout=io.StringIO())
    tenant = demo.ensure_tenants()[0]
    with tenant_context(tenant):
        manager = StaffMember.objects.filter(role=Role.STORE_MANAGER).order_by("pk").first()
        sales_before = Sale.objects.count()
    client.force_login(manager.user)
    response = client.get(reverse("analytics:dashboard"))
    assert response.status_code == 200
    context = response.context
    assert context["period"].days == 30
    assert context["today"]["revenue"] > 0
    assert context["compare"]["cur"]["revenue"] > 0
    assert context["compare"]["prev"]["revenue"] > 0
    assert context["compare"]["change_prev"]["revenue"] is not None
    assert context["chart"]["total"] > 0
    assert sum(1 for bar in context["chart"]["bars"] if float(bar["height"]) > 0) == 30
    labels = [t["label"] for t in context["chart"]["ticks"]]
    assert len(set(labels)) == len(labels) >= 3
    assert sum(r["revenue"] for r in context["channels"]) == context["compare"]["cur"]["revenue"]
    assert len([r for r in context["channels"] if r["revenue"] > 0]) >= 2

    # The same day again adds nothing; three days later fills the two missing whole days.
    call_command("seed_demo", stdout=io.StringIO())
    with tenant_context(tenant):
        assert Sale.objects.count() == sales_before
    clock.move_to(datetime.datetime(2026, 12, 5, 9, 30, tzinfo=datetime.UTC))
    call_command("seed_demo", stdout=io.StringIO())
    response = client.get(reverse("analytics:dashboard"))
    bars = response.context["chart"]["bars"]
    assert all(float(bar["height"]) > 0 for bar in bars[-3:])
    assert response.context["today"]["revenue"] > 0


def test_channel_rows_are_identical_on_a_rerun_and_stale_ones_go(world):
    tenant = world.tenant_a
    with tenant_context(tenant):
        from analytics.models import ChannelDailyStats

        day = local_day(timezone.now(), tenant) - datetime.timedelta(days=2)
        record_sale(world.store_a1, _at(tenant, day), channel=SaleChannel.POS)
        sale = record_sale(world.store_a1, _at(tenant, day, 11), channel=SaleChannel.IMPORT)
        daily_stats_compute(day=day)

        def rows():
            return sorted(
                ChannelDailyStats.objects.values_list(
                    "store_id", "channel", "revenue", "transactions"
                )
            )

        first = rows()
        daily_stats_compute(day=day)
        assert rows() == first
        assert {r[1] for r in first} == {SaleChannel.POS, SaleChannel.IMPORT}
        # The import's sale is corrected to the counter: the import row must not linger.
        Sale.objects.filter(pk=sale.pk).update(channel=SaleChannel.COUNTER)
        daily_stats_compute(day=day)
        assert {r[1] for r in rows()} == {SaleChannel.POS, SaleChannel.COUNTER}
