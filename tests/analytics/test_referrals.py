"""A referred member's first purchase, recorded as a real sale, rewards the referrer once;
refunding that purchase in full takes the reward back (production wiring, no fakes)."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from analytics.services import LineInput
from interactions import services as interactions
from interactions.models import Referral
from loyalty.models import PointsAccount, PointsRule
from loyalty.services import points_redeem
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.analytics.factories import line, record_sale
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def balance(member) -> int:
    account = PointsAccount.objects.filter(customer=member).first()
    return account.balance if account else 0


@pytest.fixture
def pair(world):
    """Alice referred Bob; a referral is worth 200 points."""
    with tenant_context(world.tenant_a):
        rule = PointsRule.objects.first() or PointsRule.objects.create()
        rule.referral_points = 200
        rule.save()
        alice = CustomerFactory(home_store=world.store_a1)
        bob = CustomerFactory(home_store=world.store_a1)
        interactions.referral_record(staff=world.staff_a[Role.CLERK], referred=bob, referrer=alice)
    return alice, bob


def test_the_referred_members_first_sale_rewards_the_referrer_once(world, pair):
    alice, bob = pair
    with tenant_context(world.tenant_a):
        now = timezone.now() - datetime.timedelta(minutes=10)
        first = record_sale(world.store_a1, now, lines=[line("A", 1, "30.00")], member=bob)
        record_sale(world.store_a1, now, lines=[line("B", 1, "40.00")], member=bob)

        assert balance(alice) == 200
        referral = Referral.objects.get(referred=bob)
        assert referral.rewarded and referral.first_sale_reference == str(first.pk)
        assert AuditEvent.objects.filter(action="referral.first_sale").count() == 1


def test_a_partial_refund_keeps_the_reward_and_a_full_refund_takes_it_back(world, pair):
    alice, bob = pair
    with tenant_context(world.tenant_a):
        start = timezone.now() - datetime.timedelta(minutes=10)
        sale = record_sale(world.store_a1, start, lines=[line("A", 2, "50.00")], member=bob)
        assert balance(alice) == 200

        later = start + datetime.timedelta(minutes=1)
        one = [LineInput(sku="A", quantity=1)]
        record_sale(world.store_a1, later, lines=one, refund_of=sale)
        assert balance(alice) == 200  # half of it is still bought
        record_sale(world.store_a1, later, lines=one, refund_of=sale)

        assert balance(alice) == 0
        assert Referral.objects.get(referred=bob).reversed_at is not None
        assert AuditEvent.objects.filter(action="referral.reversed").count() == 1
        # The referral is spent: a new purchase rewards nothing more.
        record_sale(world.store_a1, later, lines=[line("C", 1, "10.00")], member=bob)
        assert balance(alice) == 0


def test_a_reward_already_spent_is_taken_back_only_as_far_as_the_balance_goes(world, pair):
    alice, bob = pair
    with tenant_context(world.tenant_a):
        start = timezone.now() - datetime.timedelta(minutes=10)
        sale = record_sale(world.store_a1, start, lines=[line("A", 1, "50.00")], member=bob)
        points_redeem(
            customer=alice,
            points=150,
            source_key="gift",
            store=world.store_a1,
            staff=None,
            reason="gift",
        )
        record_sale(
            world.store_a1,
            start + datetime.timedelta(minutes=1),
            lines=[LineInput(sku="A", quantity=1)],
            refund_of=sale,
        )
        assert balance(alice) == 0  # never negative; the 150 spent stay recorded as not taken


def test_a_walk_in_or_free_sale_claims_nothing(world, pair):
    alice, bob = pair
    with tenant_context(world.tenant_a):
        now = timezone.now() - datetime.timedelta(minutes=10)
        record_sale(world.store_a1, now, lines=[line("A", 1, "30.00")])
        record_sale(world.store_a1, now, lines=[line("F", 1, "0.00")], member=bob)
        assert Referral.objects.get(referred=bob).first_sale_at is None
        assert balance(alice) == 0


def test_a_tier_for_members_who_refer_others_is_reached_by_referrals(world):
    """ "推荐达人" needs three referred members who bought: the third first purchase (a real
    sale) upgrades the referrer at once; the nightly review keeps it while they count and a
    full refund takes one away at the next review."""
    from loyalty.models import Tier
    from loyalty.services import tiers_evaluate

    with tenant_context(world.tenant_a):
        entry = Tier.objects.create(order=0, code="NORMAL", name="普通会员")
        Tier.objects.create(order=1, code="AMBASSADOR", name="推荐达人", min_referrals=3)
        alice = CustomerFactory(home_store=world.store_a1)
        friends = [CustomerFactory(home_store=world.store_a1) for _ in range(3)]
        clerk = world.staff_a[Role.CLERK]
        for friend in friends:
            interactions.referral_record(staff=clerk, referred=friend, referrer=alice)
        when = timezone.now() - datetime.timedelta(hours=1)
        first_sales = []
        for friend in friends:
            sale = record_sale(world.store_a1, when, lines=[line("A", 1, "20.00")], member=friend)
            first_sales.append(sale)
            account = PointsAccount.objects.filter(customer=alice).first()
            tier = account.tier.code if account and account.tier else None
            assert tier == ("AMBASSADOR" if friend is friends[-1] else tier)
        assert PointsAccount.objects.get(customer=alice).tier.code == "AMBASSADOR"

        # One of the three first purchases is refunded in full: at the review she has two.
        record_sale(
            world.store_a1,
            when + datetime.timedelta(minutes=5),
            lines=[LineInput(sku="A", quantity=1)],
            refund_of=first_sales[0],
        )
        PointsAccount.objects.filter(customer=alice).update(
            tier_review_at=timezone.now() - datetime.timedelta(minutes=1)
        )
        assert tiers_evaluate()["downgraded"] == 1
        assert PointsAccount.objects.get(customer=alice).tier == entry
