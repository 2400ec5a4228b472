"""Celery tasks: unpack ids, enter the tenant (tenant_task does), call a service."""

from analytics import aggregation, forecasting, recommendations, services
from tenancy.tasks import tenant_task


@tenant_task(name="analytics.nightly_aggregates", time_limit=60 * 60, soft_time_limit=55 * 60)
def nightly_aggregates() -> dict:
    return aggregation.aggregates_run_nightly()


@tenant_task(name="analytics.run_sale_import")
def run_sale_import(sale_import_id: int) -> str:
    return services.sale_import_run(sale_import_id=sale_import_id).status


@tenant_task(name="analytics.sweep_sale_imports", time_limit=5 * 60, soft_time_limit=4 * 60)
def sweep_sale_imports() -> int:
    return services.sale_imports_sweep()


@tenant_task(name="analytics.purchase_surveys", time_limit=30 * 60, soft_time_limit=25 * 60)
def purchase_surveys() -> int:
    return services.purchase_surveys_send()


@tenant_task(name="analytics.incentive_statements", time_limit=60 * 60, soft_time_limit=55 * 60)
def incentive_statements() -> dict:
    return services.incentive_statements_run_monthly()


@tenant_task(name="analytics.nightly_forecasts", time_limit=60 * 60, soft_time_limit=55 * 60)
def nightly_forecasts() -> dict:
    return forecasting.forecasts_run_nightly()


@tenant_task(name="analytics.nightly_recommendations", time_limit=60 * 60, soft_time_limit=55 * 60)
def nightly_recommendations() -> dict:
    return recommendations.recommendations_run_nightly()
