"""Referrals (the referrer is rewarded once, on the first sale) and behaviour points."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from interactions import hooks, services
from interactions.models import Behaviour, BehaviourAward, Referral
from interactions.selectors import with_referral_count
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def trio(world):
    with tenant_context(world.tenant_a):
        return [CustomerFactory(home_store=world.store_a1) for _ in range(3)]


@pytest.fixture
def rewards():
    given = []
    hooks.register("referral_rewarder", lambda **kwargs: given.append(("referral", kwargs)))
    hooks.register("behaviour_rewarder", lambda **kwargs: given.append(("behaviour", kwargs)))
    yield given
    hooks.unregister("referral_rewarder")
    hooks.unregister("behaviour_rewarder")


def test_recording_a_referral_and_its_rules(world, trio, client_for):
    alice, bob, carol = trio
    clerk = world.staff_a[Role.CLERK]
    url = reverse("interactions:member_referral", kwargs={"member_pk": bob.pk})
    client_for(clerk).post(url, {"referrer": alice.phone})
    with tenant_context(world.tenant_a):
        assert Referral.objects.get().referrer_id == alice.pk
        for referred, referrer in ((bob, carol), (alice, bob), (carol, carol)):
            with pytest.raises(ValidationError):
                services.referral_record(staff=clerk, referred=referred, referrer=referrer)
        services.referral_record(staff=clerk, referred=carol, referrer=alice)
        counts = dict(
            with_referral_count(type(alice).objects.all()).values_list("pk", "referral_count")
        )
    assert counts == {alice.pk: 2, bob.pk: 0, carol.pk: 0}


def test_the_referrer_is_rewarded_once_on_the_first_sale(world, trio, rewards):
    alice, bob, _carol = trio
    with tenant_context(world.tenant_a):
        referral = services.referral_record(
            staff=world.staff_a[Role.CLERK], referred=bob, referrer=alice
        )
        assert services.referral_first_sale(member=bob, sale_reference="S1") is True
        assert services.referral_first_sale(member=bob, sale_reference="S2") is False
        assert services.referral_first_sale(member=alice, sale_reference="S3") is False
        referral.refresh_from_db()
        assert (referral.first_sale_reference, referral.rewarded) == ("S1", True)
    ((kind, kwargs),) = rewards
    assert kind == "referral"
    assert (kwargs["referrer"].pk, kwargs["referred"].pk) == (alice.pk, bob.pk)
    assert kwargs["source_key"] == f"referral:{referral.pk}"


def test_a_failing_reward_releases_the_claim(world, trio):
    alice, bob, _carol = trio

    def broken(**kwargs):
        raise RuntimeError("loyalty is down")

    hooks.register("referral_rewarder", broken)
    try:
        with tenant_context(world.tenant_a):
            services.referral_record(staff=world.staff_a[Role.CLERK], referred=bob, referrer=alice)
            with pytest.raises(RuntimeError):
                services.referral_first_sale(member=bob, sale_reference="S1")
            assert Referral.objects.get().first_sale_at is None
    finally:
        hooks.unregister("referral_rewarder")


def test_completing_the_profile_earns_points_once(world, trio, rewards):
    alice = trio[0]
    staff = world.staff_a[Role.CLERK]
    complete = {
        "wechat_id": "a1",
        "occupation": "教师",
        "interests": "茶",
        "preferred_brands": "李宁",
        "price_sensitivity": "low",
    }
    with tenant_context(world.tenant_a):
        services.member_profile_update(staff=staff, member=alice, wechat_id="a1")
        assert rewards == []
        services.member_profile_update(staff=staff, member=alice, **complete)
        services.member_profile_update(staff=staff, member=alice, **{**complete, "interests": "书"})
        assert BehaviourAward.objects.filter(member=alice).count() == 1
    assert [(kind, kwargs["behaviour"]) for kind, kwargs in rewards] == [
        ("behaviour", Behaviour.PROFILE_COMPLETED)
    ]


def test_without_loyalty_nothing_is_claimed(world, trio):
    hooks.unregister("behaviour_rewarder")  # as if loyalty were not installed
    with tenant_context(world.tenant_a):
        assert not services.behaviour_award(member=trio[0], behaviour=Behaviour.FIRST_REVIEW)
        assert not BehaviourAward.objects.exists()
