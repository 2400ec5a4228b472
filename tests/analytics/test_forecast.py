"""The nightly sales forecast: it beats "same day last week" on seasonal data, the job fills the
table once per day after the aggregates, the store dashboard draws the band with its accuracy,
and products whose forecast falls sharply are listed with the slow movers."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics import forecasting
from analytics.models import ProductDailyStats, ProductForecast, StoreDailyStats, StoreForecast
from analytics.services import local_day
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.analytics.factories import ProductFactory

WEEK = [0.8, 0.9, 1.0, 1.0, 1.2, 1.6, 1.5]


def seasonal(days: int, *, seed: int = 7, noise: float = 0.08) -> list[float]:
    """Daily revenue with a weekly pattern, a slow upward trend and multiplicative noise."""
    rng = random.Random(seed)
    return [(1000 + 2 * day) * WEEK[day % 7] * (1 + rng.gauss(0, noise)) for day in range(days)]


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_holt_winters_beats_same_day_last_week_on_seasonal_data(seed):
    history = seasonal(182, seed=seed)
    model, naive = forecasting.backtest(history)
    print(f"seed {seed}: Holt-Winters MAPE {model:.2%}, same day last week MAPE {naive:.2%}")
    assert model < naive


def test_mape_leaves_out_days_without_sales_and_naive_repeats_the_week():
    assert forecasting.mape([100, 0, 50], [90, 10, 60]) == pytest.approx((0.1 + 0.2) / 2)
    assert forecasting.mape([0, 0], [1, 2]) is None
    history = list(range(1, 15))  # two weeks: 1..7, 8..14
    assert forecasting.naive_forecast(history, 9) == [8, 9, 10, 11, 12, 13, 14, 8, 9]


def test_a_short_history_falls_back_to_the_naive_forecast_with_a_flat_band():
    expected, low, high = forecasting.holt_winters_forecast([10.0] * 10, 7)
    assert expected == low == high == [10.0] * 7


def test_falling_products_rule_projects_the_weekly_trend():
    # Weekly units, oldest first: falling fast, flat, rising.
    falling, flat, rising = forecasting.product_trends(
        [[40, 35, 30, 25, 20, 15, 10, 5], [10] * 8, [1, 2, 3, 4, 5, 6, 7, 8]]
    )
    assert falling == pytest.approx(0.0)  # the line reaches zero: floored
    assert flat == pytest.approx(40.0)
    assert rising == pytest.approx(9 + 10 + 11 + 12)


def _fill_store_days(store, today: datetime.date, values: list[float]) -> None:
    now = timezone.now()
    StoreDailyStats.objects.bulk_create(
        [
            StoreDailyStats(
                store=store,
                day=today - datetime.timedelta(days=len(values) - n),
                revenue=Decimal(str(round(value, 2))),
                transactions=10,
                computed_at=now,
            )
            for n, value in enumerate(values)
        ]
    )


def _fill_product_days(store, product, today: datetime.date, weekly: list[int]) -> None:
    """One row per week (on its first day) with the week's units."""
    now = timezone.now()
    start = today - datetime.timedelta(days=7 * len(weekly))
    ProductDailyStats.objects.bulk_create(
        [
            ProductDailyStats(
                store=store,
                product=product,
                day=start + datetime.timedelta(days=7 * n),
                quantity=units,
                revenue=Decimal(units) * 10,
                computed_at=now,
            )
            for n, units in enumerate(weekly)
        ]
    )


@pytest.fixture
def forecast_world(world):
    """Store A1 with 84 days of seasonal revenue up to yesterday, one product selling less
    each week and one selling steadily; the nightly job has run."""
    with tenant_context(world.tenant_a):
        today = local_day(timezone.now(), world.tenant_a)
        _fill_store_days(world.store_a1, today, seasonal(84))
        fading = ProductFactory(sku="FADE", name="旧款保温杯")
        steady = ProductFactory(sku="KEEP", name="矿泉水")
        _fill_product_days(world.store_a1, fading, today, [60, 55, 50, 45, 40, 30, 20, 12])
        _fill_product_days(world.store_a1, steady, today, [20] * 8)
        result = forecasting.forecasts_run_nightly()
    assert result == {"made_on": today.isoformat(), "stores": 2}
    return today


@pytest.mark.django_db
@pytest.mark.clock
def test_the_nightly_job_writes_each_store_once_per_day(world, forecast_world):
    today = forecast_world
    with tenant_context(world.tenant_a):
        forecast = StoreForecast.objects.get(store=world.store_a1)
        assert forecast.made_on == today
        assert forecast.method == forecasting.HOLT_WINTERS
        assert len(forecast.days) == forecasting.FORECAST_DAYS
        assert forecast.days[0]["day"] == today.isoformat()
        assert all(
            Decimal(d["low"]) <= Decimal(d["expected"]) <= Decimal(d["high"]) for d in forecast.days
        )
        assert forecast.mape is not None and forecast.naive_mape is not None
        print(f"store forecast MAPE {forecast.mape:.2%}, naive {forecast.naive_mape:.2%}")
        # The other store has no history: the naive method, said so.
        assert StoreForecast.objects.get(store=world.store_a2).method == forecasting.NAIVE
        assert forecasting.forecasts_run_nightly() == {"made_on": today.isoformat(), "stores": 0}
        falling = {p.product.sku: p.falling for p in ProductForecast.objects.all()}
        assert falling == {"FADE": True, "KEEP": False}
    with tenant_context(world.tenant_b):
        assert not StoreForecast.objects.exists()


@pytest.mark.django_db
@pytest.mark.clock
def test_the_job_waits_for_yesterdays_aggregates(world):
    with tenant_context(world.tenant_a):
        assert forecasting.forecasts_run_nightly() == {"made_on": None, "stores": 0}
        assert not StoreForecast.objects.exists()


@pytest.mark.django_db
@pytest.mark.clock
def test_store_dashboard_draws_the_band_with_its_accuracy_and_falling_products(
    world, client_for, forecast_world
):
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    url = reverse("analytics:store_dashboard", kwargs={"store_id": world.store_a1.pk})
    response = client.get(url)
    assert response.status_code == 200
    chart = response.context["chart"]
    assert len(chart["bars"]) == 30
    # 28 forecast days: 28 upper and 28 lower points around the band, 28 on the line.
    assert len(chart["band"].split()) == 56
    assert len(chart["forecast_line"].split()) == 28
    html = response.content.decode()
    assert 'data-testid="forecast-band"' in html
    with tenant_context(world.tenant_a):
        forecast = StoreForecast.objects.get(store=world.store_a1)
    assert f"{forecast.mape * 100:.1f}%" in html
    assert "预测" in html  # the page reads in Chinese
    assert [p.product.sku for p in response.context["falling_products"]] == ["FADE"]
    assert 'data-testid="falling-products"' in html and "旧款保温杯" in html


@pytest.mark.django_db
@pytest.mark.clock
def test_a_period_ending_earlier_shows_no_band(world, client_for, forecast_world):
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    url = reverse("analytics:store_dashboard", kwargs={"store_id": world.store_a1.pk})
    end = forecast_world - datetime.timedelta(days=10)
    response = client.get(
        url, {"preset": "custom", "start": end - datetime.timedelta(days=6), "end": end}
    )
    assert response.status_code == 200
    assert response.context["chart"]["band"] == ""
    assert 'data-testid="forecast-band"' not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.clock
def test_beat_runs_the_forecast_and_recommendation_jobs_after_the_aggregates(world):
    from django.conf import settings

    from analytics.models import ProductPair
    from tenancy.tasks import fan_out
    from tests.analytics.factories import line, record_sale

    with tenant_context(world.tenant_a):
        a_day_ago = timezone.now() - datetime.timedelta(days=1)
        record_sale(world.store_a1, a_day_ago, [line("TEA", 1), line("CAKE", 1)])
    for name in ("aggregates", "forecasts", "recommendations"):
        entry = settings.CELERY_BEAT_SCHEDULE[f"analytics-nightly-{name}"]
        assert entry["task"] == "tenancy.fan_out"
        assert fan_out(*entry["args"]) >= 2  # runs in-process in tests
    for tenant, stores, pairs in ((world.tenant_a, 2, 2), (world.tenant_b, 1, 0)):
        with tenant_context(tenant):
            assert StoreForecast.objects.count() == stores
            assert ProductPair.objects.count() == pairs
