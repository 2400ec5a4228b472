"""interactions (below loyalty) calls us through its hooks: rewards and the member timeline."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from loyalty import selectors, services
from loyalty.models import PointsAccount, PointsEntry
from tests.factories import CustomerFactory
from tests.loyalty.conftest import account_of, assert_balanced, at, earn
from tests.loyalty.factories import standard_tiers

pytestmark = pytest.mark.clock

hooks = pytest.importorskip("interactions.hooks")


@pytest.fixture(autouse=True)
def _loyalty_hooks_installed():
    """Other apps' tests swap hooks and unregister them after; install ours afresh."""
    from django.apps import apps

    apps.get_app_config("loyalty").ready()


@pytest.fixture
def rule(in_tenant):
    rule = services.points_rule()
    rule.referral_points = 200
    rule.behaviour_points = 50
    rule.save()
    return rule


def test_loyalty_registers_its_rewarders():
    assert hooks.get("referral_rewarder") is services.referral_reward
    assert hooks.get("behaviour_rewarder") is services.behaviour_reward


def test_a_referral_credits_the_referrer_once(store, rule):
    referrer = CustomerFactory(home_store=store)
    referred = CustomerFactory(home_store=store)
    reward = hooks.get("referral_rewarder")
    reward(referrer=referrer, referred=referred, source_key="referral:7")
    reward(referrer=referrer, referred=referred, source_key="referral:7")
    assert assert_balanced(referrer) == 200
    entry = PointsEntry.objects.get(source_key="referral:7")
    assert referred.card_number in entry.reason
    assert entry.lots.get().expires_on is not None


def test_rewards_are_not_purchases_for_tiers(store, rule):
    tiers = standard_tiers()
    tiers[1].min_purchases = 2
    tiers[1].save()
    member = CustomerFactory(home_store=store)
    earn(member, "sale:1", "10", timezone.now() - datetime.timedelta(days=1))
    hooks.get("behaviour_rewarder")(member=member, behaviour="first_review", source_key="b:1")
    PointsAccount.objects.update(tier_review_at=timezone.now() - datetime.timedelta(hours=1))
    assert services.tiers_evaluate(now=timezone.now())["kept"] == 1
    assert account_of(member).tier.code == "NORMAL"


def test_no_reward_configured_writes_nothing(member, in_tenant):
    hooks.get("behaviour_rewarder")(member=member, behaviour="profile_completed", source_key="b")
    assert not PointsEntry.objects.exists()


def test_points_timeline_source_lists_points_movements(member):
    earn(member, "sale:1", "120", at(2026, 3, 1))
    items = selectors.points_timeline(member=member, limit=10)
    assert len(items) == 1
    assert items[0]["at"] == at(2026, 3, 1)
    assert "+120" in items[0]["title"]
    assert items[0]["url"].endswith(f"/loyalty/members/{member.pk}/")
