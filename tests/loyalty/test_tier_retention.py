"""Retention (保级): a member who stops qualifying keeps the tier for the grace period, with a
lower retention threshold, and is kept or dropped at the right instants."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.template.loader import render_to_string

from loyalty import selectors, services
from tests.loyalty.conftest import account_of, at, earn
from tests.loyalty.factories import standard_tiers
from tests.loyalty.test_tiers_adjust_merge import tier_of

pytestmark = pytest.mark.clock


@pytest.fixture
def tiers(in_tenant):
    tiers = standard_tiers()
    silver = tiers[1]  # 银卡 from 1000 yuan; kept with 500 (保级门槛); 3 months' grace
    silver.retain_min_spend = Decimal("500")
    silver.retention_months = 3
    silver.save()
    return tiers


@pytest.fixture
def silver_member(member, tiers):
    earn(member, "sale:1", "1000", at(2026, 1, 10))  # 银卡; reviewed on 2027-01-10 12:00
    assert tier_of(member) == "SILVER"
    return member


def test_the_lower_retention_threshold_keeps_the_tier_at_the_review(silver_member):
    earn(silver_member, "sale:2", "600", at(2026, 6, 1))  # under 1000, over 500
    assert services.tiers_evaluate(now=at(2027, 1, 10, 13))["kept"] == 1
    assert tier_of(silver_member) == "SILVER"
    account = account_of(silver_member)
    assert account.tier_grace_until is None
    assert account.tier_review_at == at(2028, 1, 10)


def test_grace_period_then_lost_on_the_day_it_ends(silver_member):
    counts = services.tiers_evaluate(now=at(2027, 1, 10, 13))  # nothing spent: below 500
    assert counts["grace"] == 1 and counts["downgraded"] == 0
    assert tier_of(silver_member) == "SILVER"
    account = account_of(silver_member)
    assert account.tier_grace_until == at(2027, 4, 10, 13) == account.tier_review_at

    assert services.tiers_evaluate(now=at(2027, 4, 10, 12, 59))["downgraded"] == 0
    assert tier_of(silver_member) == "SILVER"  # the last minute of the grace period
    assert services.tiers_evaluate(now=at(2027, 4, 10, 13))["downgraded"] == 1
    assert tier_of(silver_member) == "NORMAL"
    account = account_of(silver_member)
    assert account.tier_grace_until is None
    assert services.tiers_evaluate(now=at(2027, 4, 11))["downgraded"] == 0


def test_grace_period_then_kept_by_spending_the_retention_threshold(silver_member):
    services.tiers_evaluate(now=at(2027, 1, 10, 13))
    earn(silver_member, "sale:2", "500", at(2027, 2, 1))
    assert services.tiers_evaluate(now=at(2027, 4, 10, 13))["kept"] == 1
    assert tier_of(silver_member) == "SILVER"
    account = account_of(silver_member)
    assert account.tier_grace_until is None
    assert account.tier_review_at == at(2028, 4, 10, 13)  # a full review period on


def test_without_a_grace_period_the_member_drops_at_the_review(member, tiers):
    tiers[1].retention_months = 0
    tiers[1].save()
    earn(member, "sale:1", "1000", at(2026, 1, 10))
    assert services.tiers_evaluate(now=at(2027, 1, 10, 13))["downgraded"] == 1
    assert tier_of(member) == "NORMAL"


def test_an_upgrade_during_the_grace_period_ends_it(silver_member):
    services.tiers_evaluate(now=at(2027, 1, 10, 13))
    earn(silver_member, "sale:2", "5000", at(2027, 2, 1))
    assert tier_of(silver_member) == "GOLD"
    assert account_of(silver_member).tier_grace_until is None


def test_the_profile_shows_kept_until_and_what_keeps_the_tier(silver_member):
    services.tiers_evaluate(now=at(2027, 1, 10, 13))
    earn(silver_member, "sale:2", "120", at(2027, 2, 1))
    account = account_of(silver_member)
    progress = selectors.tier_progress(account=account, now=at(2027, 2, 2))
    assert progress.kept_until == datetime.date(2027, 4, 10)
    assert progress.keep_spend_needed == Decimal("380.00")
    html = render_to_string(
        "loyalty/_panel.html",
        {
            "customer": silver_member,
            "summary": selectors.points_summary(customer=silver_member),
            "progress": progress,
        },
    )
    assert "保级至 2027-04-10" in html
    assert "再消费 ¥380.00 即可保持 银卡" in html
