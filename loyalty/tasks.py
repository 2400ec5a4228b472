"""Nightly loyalty jobs: one task per tenant each (beat queues them through tenancy.fan_out)."""

from __future__ import annotations

from loyalty import services
from tenancy.tasks import tenant_task


@tenant_task(name="loyalty.expire_points")
def expire_points() -> int:
    return services.points_expire_due()


@tenant_task(name="loyalty.evaluate_tiers")
def evaluate_tiers() -> dict[str, int]:
    return services.tiers_evaluate()


@tenant_task(name="loyalty.notify_expiring")
def notify_expiring() -> int:
    return services.points_notify_expiring()


@tenant_task(name="loyalty.release_pending")
def release_pending() -> int:
    return services.points_release_pending()


@tenant_task(name="loyalty.settle_last_month")
def settle_last_month() -> int:
    return services.settlement_generate_last_month()
