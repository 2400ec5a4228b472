"""A campaign's effect: what its targeted members bought against its holdout group."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.selectors import campaign_effect
from analytics.services import LineInput
from campaigns import effect
from campaigns.models import (
    Campaign,
    CampaignRun,
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
)
from campaigns.selectors import campaign_report
from tenancy.context import tenant_context
from tests.analytics.factories import line, record_sale
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

DAY = datetime.timedelta(days=1)


def make_campaign(effect_days: int = 14) -> Campaign:
    return Campaign.objects.create(
        name="春季回馈", channel=Channel.SMS, template="{name}您好", effect_days=effect_days
    )


def make_run(campaign: Campaign, started_at: datetime.datetime, occurrence: str = "once"):
    run = CampaignRun.objects.create(campaign=campaign, occurrence=occurrence)
    CampaignRun.objects.filter(pk=run.pk).update(started_at=started_at)
    run.started_at = started_at
    return run


def deliver(run: CampaignRun, member, status: str) -> Delivery:
    return Delivery.objects.create(
        key=f"campaign:{run.pk}:{member.pk}",
        kind=DeliveryKind.CAMPAIGN,
        campaign=run.campaign,
        run=run,
        member=member,
        channel=run.campaign.channel,
        text="",
        status=status,
    )


def buy(store, member, when, amount: str, sku: str = "A"):
    return record_sale(store, when, lines=[line(sku, 1, amount)], member=member)


@pytest.fixture
def story(world):
    """A run 20 days ago with a 14-day window; targeted t1..t3 (t3's message failed),
    holdout h1, h2; a member outside the campaign."""
    with tenant_context(world.tenant_a):
        store = world.store_a1
        start = timezone.now() - 20 * DAY
        campaign = make_campaign()
        run = make_run(campaign, start)
        t1, t2, t3, h1, h2, outsider = (CustomerFactory(home_store=store) for _ in range(6))
        deliver(run, t1, DeliveryStatus.SENT)
        deliver(run, t2, DeliveryStatus.SENT)
        deliver(run, t3, DeliveryStatus.FAILED)
        deliver(run, h1, DeliveryStatus.HOLDOUT)
        deliver(run, h2, DeliveryStatus.HOLDOUT)
        buy(store, t1, start - DAY, "999.00")  # before the run: not counted
        first = buy(store, t1, start + DAY, "100.00")
        buy(store, t1, start + 2 * DAY, "50.00")
        buy(store, t2, start + 13 * DAY, "30.00")  # last day of the window
        buy(store, t2, start + 14 * DAY, "777.00")  # the window has ended
        # t1 returns the first purchase after the window ended: still taken off.
        record_sale(
            store, start + 16 * DAY, lines=[LineInput(sku="A", quantity=1)], refund_of=first
        )
        buy(store, h1, start + 3 * DAY, "40.00")
        h2_sale = buy(store, h2, start + 4 * DAY, "60.00")
        record_sale(
            store, start + 5 * DAY, lines=[LineInput(sku="A", quantity=1)], refund_of=h2_sale
        )
        buy(store, outsider, start + DAY, "500.00")
    return campaign


def test_effect_counts_window_purchases_net_of_refunds_per_group(world, story):
    with tenant_context(world.tenant_a):
        result = campaign_effect(campaign=story)
    assert result == {
        # t1: 100 + 50 - 100 refunded; t2: 30; t3 bought nothing (still in the group).
        "targeted": {"members": 3, "buyers": 2, "revenue": Decimal("80.00")},
        # h2 returned everything: not a buyer, nothing spent.
        "holdout": {"members": 2, "buyers": 1, "revenue": Decimal("40.00")},
    }


def test_effect_is_two_queries_whatever_the_numbers(world, story):
    with tenant_context(world.tenant_a):
        for _ in range(5):
            member = CustomerFactory(home_store=world.store_a1)
            deliver(story.runs.get(), member, DeliveryStatus.SENT)
            buy(world.store_a1, member, story.runs.get().started_at + DAY, "10.00")
        with CaptureQueriesContext(connection) as queries:
            result = campaign_effect(campaign=story)
    assert len(queries) == 2
    assert result["targeted"]["members"] == 8
    assert result["targeted"]["buyers"] == 7


def test_recurring_runs_each_open_their_own_window_and_count_a_sale_once(world):
    with tenant_context(world.tenant_a):
        store = world.store_a1
        campaign = make_campaign(effect_days=7)
        now = timezone.now()
        week1 = make_run(campaign, now - 30 * DAY, "w1")
        week2 = make_run(campaign, now - 25 * DAY, "w2")
        member = CustomerFactory(home_store=store)
        switcher = CustomerFactory(home_store=store)
        deliver(week1, member, DeliveryStatus.SENT)
        deliver(week2, member, DeliveryStatus.SENT)
        deliver(week1, switcher, DeliveryStatus.HOLDOUT)
        deliver(week2, switcher, DeliveryStatus.SENT)
        buy(store, member, now - 26 * DAY, "10.00")  # in both windows: counted once
        buy(store, member, now - 17 * DAY, "20.00")  # after week 2's window (ended day -18)
        buy(store, switcher, now - 29 * DAY, "5.00")  # holdout window only
        buy(store, switcher, now - 22 * DAY, "7.00")  # targeted window only
        result = campaign_effect(campaign=campaign)
    assert result["targeted"] == {"members": 2, "buyers": 2, "revenue": Decimal("17.00")}
    assert result["holdout"] == {"members": 1, "buyers": 1, "revenue": Decimal("5.00")}


def test_a_campaign_that_never_ran_measures_zero_and_other_tenants_are_unseen(world, story):
    with tenant_context(world.tenant_a):
        assert campaign_effect(campaign=make_campaign()) == {
            "targeted": {"members": 0, "buyers": 0, "revenue": Decimal("0.00")},
            "holdout": {"members": 0, "buyers": 0, "revenue": Decimal("0.00")},
        }
    with tenant_context(world.tenant_b):
        result = campaign_effect(campaign=story)
    assert result["targeted"]["members"] == 0


def test_analytics_registers_the_measure_for_the_campaign_report(world, story):
    assert effect._measure is campaign_effect
    with tenant_context(world.tenant_a):
        report = campaign_report(campaign=story)
    assert report["effect"]["targeted"]["revenue"] == Decimal("80.00")
    assert report["uplift"]["revenue_per_member"] == Decimal("6.67")  # 26.67 - 20.00
