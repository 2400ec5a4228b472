"""The nightly sales forecast: each store's next 4 weeks, and products whose sales are falling.

Method (stores): Holt-Winters exponential smoothing (statsmodels `ExponentialSmoothing`) on
the store's daily revenue from the daily aggregates (up to a year back, from its first day
with a row): additive damped trend, additive weekly seasonality (7 days), smoothing
weights estimated by the library (initial states by its heuristic decomposition). The band
is the 10th-90th percentile of 300 simulated futures of the fitted model (an 80% interval),
floored at zero. With fewer than MIN_HISTORY_DAYS days there is too little to fit, and the
forecast is "same day last week" (the method column says which one was used).

Accuracy: the same method fitted on the days up to 4 weeks ago, forecasting the 4 weeks
since, against what happened: MAPE = mean(|actual - forecast| / actual) over the days with
revenue (a day without sales has no percentage error and is left out). "Same day last week"
is scored over the same days beside it, so the page shows whether the model earns its keep.

Method (products, the "falling sharply" rule): for every product a store sold at least
MIN_RECENT_UNITS units of in the last 4 weeks, a least-squares line through its weekly units
of the last TREND_WEEKS weeks, projected over the next 4 weeks (floored at zero). A product
whose expected units are at most FALL_RATIO of its last 4 weeks' units is falling sharply and
is listed with the slow movers. A straight line, not Holt-Winters: there are thousands of
products per store, weekly totals carry no weekly season, and one vectorised fit serves all.

The page reads the table; nothing is fitted per request.
"""

from __future__ import annotations

import datetime
import warnings
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from analytics.models import ProductDailyStats, ProductForecast, StoreDailyStats, StoreForecast
from analytics.services import day_bounds, local_day
from stores.models import Store, StoreStatus
from tenancy.context import current_tenant

FORECAST_DAYS = 28
SEASON = 7
HISTORY_DAYS = 364
MIN_HISTORY_DAYS = 3 * SEASON  # enough to estimate a weekly season and a level
SIMULATIONS = 300
BAND = (10, 90)  # percentiles of the simulated futures: an 80% band
TREND_WEEKS = 8
MIN_RECENT_UNITS = 10
FALL_RATIO = Decimal("0.6")
HOLT_WINTERS = "holt-winters"
NAIVE = "same-day-last-week"
CENT = Decimal("0.01")


def _money(value: float) -> Decimal:
    return Decimal(str(max(float(value), 0.0))).quantize(CENT, rounding=ROUND_HALF_UP)


def naive_forecast(history: list[float], horizon: int = FORECAST_DAYS) -> list[float]:
    """ "Same day last week": each future day repeats the last observed week."""
    if not history:
        return [0.0] * horizon
    last_week = history[-SEASON:]
    return [last_week[(len(history) - len(last_week) + n) % len(last_week)] for n in range(horizon)]


def holt_winters_forecast(
    history: list[float], horizon: int = FORECAST_DAYS, *, band: bool = True, seed: int = 0
) -> tuple[list[float], list[float], list[float]]:
    """(expected, low, high) for the next `horizon` days; falls back to the naive forecast
    (with a zero-width band) when the history is too short to fit."""
    if len(history) < MIN_HISTORY_DAYS:
        expected = naive_forecast(history, horizon)
        return expected, expected, expected
    import numpy as np
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    series = np.asarray(history, dtype=float)
    with warnings.catch_warnings():
        # Convergence chatter on short or flat series: the fit is still usable.
        warnings.simplefilter("ignore")
        fitted = ExponentialSmoothing(
            series,
            trend="add",
            damped_trend=True,
            seasonal="add",
            seasonal_periods=SEASON,
            # Initial level, trend and season from the first cycles (a decomposition) rather
            # than optimised with the smoothing weights: half the fitting time, the same
            # accuracy on our seasonal test data (docs/analytics.md).
            initialization_method="heuristic",
        ).fit()
        expected = np.clip(fitted.forecast(horizon), 0, None)
        if not band:
            return (
                [float(v) for v in expected],
                [float(v) for v in expected],
                [float(v) for v in expected],
            )
        paths = fitted.simulate(horizon, repetitions=SIMULATIONS, error="add", random_state=seed)
    low, high = np.percentile(np.asarray(paths), BAND, axis=1)
    return (
        [float(v) for v in expected],
        [float(v) for v in np.clip(low, 0, None)],
        [float(v) for v in np.clip(high, 0, None)],
    )


def mape(actual: list[float], predicted: list[float]) -> float | None:
    """Mean absolute percentage error over the days with revenue; None if there are none."""
    errors = [abs(a - p) / a for a, p in zip(actual, predicted, strict=True) if a > 0]
    return sum(errors) / len(errors) if errors else None


def backtest(history: list[float], horizon: int = FORECAST_DAYS) -> tuple[float | None, ...]:
    """(model MAPE, naive MAPE) of forecasts made `horizon` days before the end of history."""
    if len(history) < horizon + SEASON:
        return None, None
    past, actual = history[:-horizon], history[-horizon:]
    expected, _low, _high = holt_winters_forecast(past, horizon, band=False)
    return mape(actual, expected), mape(actual, naive_forecast(past, horizon))


def _ratio(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(round(value, 4)))


def store_history(store: Store, *, until: datetime.date) -> list[float]:
    """Daily revenue from the store's first aggregate row (at most a year back) to `until`."""
    start = until - datetime.timedelta(days=HISTORY_DAYS - 1)
    by_day = dict(
        StoreDailyStats.objects.filter(store=store, day__range=(start, until))
        .values_list("day")
        .annotate(total=Sum("revenue"))
        .values_list("day", "total")
    )
    if not by_day:
        return []
    first = min(by_day)
    days = (until - first).days + 1
    return [float(by_day.get(first + datetime.timedelta(days=n), 0)) for n in range(days)]


@transaction.atomic
def store_forecast_compute(*, store: Store, made_on: datetime.date) -> StoreForecast:
    """Fit, forecast from `made_on` (the first day not yet complete) and score; upsert."""
    history = store_history(store, until=made_on - datetime.timedelta(days=1))
    method = HOLT_WINTERS if len(history) >= MIN_HISTORY_DAYS else NAIVE
    expected, low, high = holt_winters_forecast(history, seed=store.pk)
    model_error, naive_error = backtest(history)
    days = [
        {
            "day": (made_on + datetime.timedelta(days=n)).isoformat(),
            "expected": str(_money(expected[n])),
            "low": str(_money(min(low[n], expected[n]))),
            "high": str(_money(max(high[n], expected[n]))),
        }
        for n in range(FORECAST_DAYS)
    ]
    forecast, _created = StoreForecast.objects.update_or_create(
        store=store,
        made_on=made_on,
        defaults={
            "method": method,
            "mape": _ratio(model_error),
            "naive_mape": _ratio(naive_error),
            "days": days,
            "computed_at": timezone.now(),
        },
    )
    return forecast


def product_trends(weekly: list[list[float]]) -> list[float]:
    """Expected units over the next 4 weeks for each row of weekly units (oldest first):
    the least-squares line through the weeks, projected, floored at zero."""
    import numpy as np

    if not weekly:
        return []
    units = np.asarray(weekly, dtype=float)
    weeks = units.shape[1]
    x = np.arange(weeks, dtype=float)
    x_mean = x.mean()
    slope = ((x - x_mean) * (units - units.mean(axis=1, keepdims=True))).sum(axis=1) / (
        (x - x_mean) ** 2
    ).sum()
    intercept = units.mean(axis=1) - slope * x_mean
    future = np.arange(weeks, weeks + FORECAST_DAYS // SEASON, dtype=float)
    projected = np.clip(intercept[:, None] + slope[:, None] * future[None, :], 0, None)
    return [float(v) for v in projected.sum(axis=1)]


@transaction.atomic
def product_forecasts_compute(*, store: Store, made_on: datetime.date) -> int:
    """The falling-products rows of one store for `made_on`; returns how many were written."""
    start = made_on - datetime.timedelta(days=TREND_WEEKS * SEASON)
    rows = (
        ProductDailyStats.objects.filter(store=store, day__gte=start, day__lt=made_on)
        .values_list("product_id", "day", "quantity")
        .order_by()
    )
    weekly: dict[int, list[float]] = {}
    for product_id, day, quantity in rows:
        week = (day - start).days // SEASON
        weekly.setdefault(product_id, [0.0] * TREND_WEEKS)[week] += quantity
    recent_weeks = FORECAST_DAYS // SEASON
    candidates = {
        pid: weeks
        for pid, weeks in weekly.items()
        if sum(weeks[-recent_weeks:]) >= MIN_RECENT_UNITS
    }
    ids = sorted(candidates)
    expected = product_trends([candidates[pid] for pid in ids])
    now = timezone.now()
    ProductForecast.objects.filter(store=store, made_on=made_on).delete()
    ProductForecast.objects.bulk_create(
        [
            ProductForecast(
                store=store,
                product_id=pid,
                made_on=made_on,
                recent_units=int(sum(candidates[pid][-recent_weeks:])),
                expected_units=Decimal(str(round(units, 1))),
                falling=Decimal(str(units))
                <= FALL_RATIO * int(sum(candidates[pid][-recent_weeks:])),
                computed_at=now,
            )
            for pid, units in zip(ids, expected, strict=True)
        ],
        batch_size=1000,
    )
    return len(ids)


def forecasts_run_nightly(*, now: datetime.datetime | None = None) -> dict:
    """The beat job: once yesterday's aggregates are built, forecast every open store from
    today. Hourly like the aggregates; a store already forecast today is skipped."""
    tenant = current_tenant()
    now = now or timezone.now()
    today = local_day(now, tenant)
    yesterday = today - datetime.timedelta(days=1)
    _start, end = day_bounds(yesterday, tenant)
    if not StoreDailyStats.objects.filter(day=yesterday, computed_at__gte=end).exists():
        return {"made_on": None, "stores": 0}  # the aggregates of yesterday come first
    done = StoreForecast.objects.filter(made_on=today).values_list("store_id", flat=True)
    stores = Store.objects.exclude(status=StoreStatus.CLOSED).exclude(pk__in=done).order_by("pk")
    count = 0
    for store in stores:
        store_forecast_compute(store=store, made_on=today)
        product_forecasts_compute(store=store, made_on=today)
        count += 1
    return {"made_on": today.isoformat(), "stores": count}


# --- Reads for the dashboard -------------------------------------------------------------


def latest_store_forecast(store: Store) -> StoreForecast | None:
    return StoreForecast.objects.filter(store=store).order_by("-made_on").first()


def falling_products(store: Store, *, limit: int = 10) -> list[ProductForecast]:
    latest = ProductForecast.objects.filter(store=store).order_by("-made_on").first()
    if latest is None:
        return []
    rows = ProductForecast.objects.filter(
        store=store, made_on=latest.made_on, falling=True
    ).select_related("product")
    return sorted(rows, key=lambda r: (r.expected_units / r.recent_units, r.product.sku))[:limit]


def dashboard_forecast(store: Store, period_end: datetime.date) -> dict | None:
    """The newest forecast's days that continue the chart from `period_end` (none when the
    period ends earlier: a band floating after a gap would mislead), with its accuracy."""
    forecast = latest_store_forecast(store)
    if forecast is None:
        return None
    rows = [
        (
            datetime.date.fromisoformat(row["day"]),
            Decimal(row["expected"]),
            Decimal(row["low"]),
            Decimal(row["high"]),
        )
        for row in forecast.days
    ]
    rows = [row for row in rows if row[0] > period_end]
    if not rows or rows[0][0] != period_end + datetime.timedelta(days=1):
        rows = []
    return {
        "forecast": forecast,
        "rows": rows,
        "mape": forecast.mape,
        "naive_mape": forecast.naive_mape,
        "is_model": forecast.method == HOLT_WINTERS,
        "total": sum((row[1] for row in rows), Decimal(0)),
    }
