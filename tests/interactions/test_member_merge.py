"""Merging two members moves their contacts, cases, leads and claims to the survivor."""

import pytest
from django.urls import reverse

from customers.services import customer_merge
from interactions.models import (
    AnniversaryGreeting,
    Interaction,
    MemberProfile,
    Referral,
    ServiceCase,
)
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_merge_moves_history_and_keeps_one_claim_per_year(world):
    from interactions import services

    hq = world.staff_a[Role.HQ_STAFF]
    with tenant_context(world.tenant_a):
        source = CustomerFactory(home_store=world.store_a1, name="张伟")
        target = CustomerFactory(home_store=world.store_a1, name="张伟")
        friend = CustomerFactory(home_store=world.store_a1)
        services.interaction_record(
            member=source, store=world.store_a1, staff=hq, channel="call", text="问尺码"
        )
        MemberProfile.objects.filter(member=source).update(wechat_id="zw-wx")
        AnniversaryGreeting.objects.create(member=source, year=2026)
        AnniversaryGreeting.objects.create(member=target, year=2026)
        AnniversaryGreeting.objects.create(member=source, year=2025)
        Referral.objects.create(referred=friend, referrer=source)
        customer_merge(source=source, target=target, staff=hq)
        assert Interaction.objects.filter(member=target).count() == 1
        assert not Interaction.objects.filter(member=source).exists()
        assert MemberProfile.objects.get(member=target).wechat_id == "zw-wx"
        assert sorted(
            AnniversaryGreeting.objects.filter(member=target).values_list("year", flat=True)
        ) == [2025, 2026]
        assert Referral.objects.get(referred=friend).referrer_id == target.pk
        assert not ServiceCase.objects.filter(member=source).exists()


def test_profile_shows_the_contacts_panel(world, client_for):
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1)
    html = (
        client_for(world.staff_a[Role.CLERK])
        .get(reverse("customers:profile", args=[member.pk]))
        .content.decode()
    )
    assert "联系与工单" in html
    assert reverse("interactions:member_timeline", args=[member.pk]) in html
