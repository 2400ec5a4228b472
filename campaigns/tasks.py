"""Campaign jobs. Beat queues the periodic ones once per tenant through tenancy.fan_out;
each task only unpacks its arguments and calls a service."""

from __future__ import annotations

import datetime

from django.db import transaction

from campaigns import services
from tenancy.context import current_tenant
from tenancy.tasks import enqueue, tenant_task

DISPATCH_EXPIRES = 55  # seconds: just under the beat interval


@tenant_task(name="campaigns.run_due")
def run_due() -> int:
    """Start every campaign whose time has come, one task per campaign occurrence."""
    due = services.campaigns_due()
    tenant_id = current_tenant().pk
    for campaign_id, occurrence in due:
        run_campaign.delay(tenant_id, campaign_id, occurrence)
    return len(due)


@tenant_task(name="campaigns.run_campaign", time_limit=60 * 60, soft_time_limit=55 * 60)
def run_campaign(campaign_id: int, occurrence: str) -> int:
    run = services.campaign_run_due(campaign_id=campaign_id, occurrence=occurrence)
    if run is None:
        return 0
    # The tenant is read now: the callback may run after this task has left its context.
    tenant_id = current_tenant().pk
    # The messages are committed outbox rows: if the broker refuses this, beat's dispatcher
    # sends them within a minute.
    transaction.on_commit(lambda: enqueue(dispatch, tenant_id))
    return run.targeted


def queue_campaign_now(campaign_id: int) -> None:
    """After the scheduling transaction commits, run the campaign in the background.

    The campaign row (scheduled, due now) is the durable record: when the broker refuses or
    forgets this message, beat's `run_due` finds the campaign within a minute, and the
    (campaign, occurrence) run row lets only one of them run it.
    """
    tenant_id = current_tenant().pk
    transaction.on_commit(lambda: enqueue(run_campaign, tenant_id, campaign_id, "once"))


@tenant_task(name="campaigns.dispatch")
def dispatch() -> int:
    """Hand the due outbox to workers in batches of about 1,000, one task each.

    Beat runs it every minute, so retries and messages held for quiet hours go out too. A
    batch not started within a minute expires: the next tick hands its messages out again.
    """
    tenant_id = current_tenant().pk
    batches = services.deliveries_due_batches()
    for batch in batches:
        dispatch_batch.apply_async((tenant_id, batch), expires=DISPATCH_EXPIRES)
    return len(batches)


@tenant_task(name="campaigns.dispatch_batch", time_limit=15 * 60, soft_time_limit=14 * 60)
def dispatch_batch(delivery_ids: list[int]) -> dict[str, int]:
    return services.deliveries_dispatch(ids=delivery_ids, limit=len(delivery_ids))


@tenant_task(name="campaigns.birthday_fan_out")
def birthday_fan_out() -> int:
    """Cut today's birthday members into batches of about 1,000: one task per batch."""
    today, batches = services.birthday_batches()
    tenant_id = current_tenant().pk
    for batch in batches:
        birthday_batch.delay(tenant_id, batch, today.isoformat())
    return len(batches)


@tenant_task(name="campaigns.birthday_batch", time_limit=15 * 60, soft_time_limit=14 * 60)
def birthday_batch(member_ids: list[int], day: str) -> int:
    return services.birthday_send_batch(
        member_ids=member_ids, today=datetime.date.fromisoformat(day)
    )


@tenant_task(name="campaigns.points_expiry_notices")
def points_expiry_notices() -> int:
    return services.points_expiry_notices_queue()
