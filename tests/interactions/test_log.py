"""The contact log: quick entry at the counter and the member timeline."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from interactions.models import Channel, Interaction
from interactions.services import interaction_record
from tenancy.context import tenant_context
from tenancy.models import Role

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def test_clerk_logs_a_contact_in_a_few_taps(world, client_for, member_a):
    clerk = world.staff_a[Role.CLERK]
    client = client_for(clerk)
    # Find the member by the last four digits of the phone.
    page = client.get(reverse("interactions:quick"), {"q": "5678"}).content.decode()
    url = reverse("interactions:quick_member", kwargs={"member_pk": member_a.pk})
    assert url in page
    assert "138****5678" in page and "13812345678" not in page
    form = client.get(url)
    assert form.context["form"]["store"].value() == world.store_a1.pk
    response = client.post(
        url, {"channel": Channel.WECHAT, "store": world.store_a1.pk, "text": "问新品"}
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        (logged,) = Interaction.objects.all()
    assert (logged.member_id, logged.staff_id, logged.store_id, logged.channel, logged.text) == (
        member_a.pk,
        clerk.pk,
        world.store_a1.pk,
        Channel.WECHAT,
        "问新品",
    )
    timeline = client.get(
        reverse("interactions:member_timeline", kwargs={"member_pk": member_a.pk})
    )
    assert "问新品" in timeline.content.decode()


def test_a_clerk_cannot_log_for_a_store_they_do_not_work_for(world, client_for, member_a):
    clerk = world.staff_a[Role.CLERK]
    url = reverse("interactions:quick_member", kwargs={"member_pk": member_a.pk})
    response = client_for(clerk).post(url, {"channel": Channel.CALL, "store": world.store_a2.pk})
    assert response.status_code == 200  # the form, with the store refused
    assert response.context["form"].errors["store"]
    with tenant_context(world.tenant_a):
        assert not Interaction.objects.exists()
        with pytest.raises(ValidationError):
            interaction_record(
                staff=clerk, member=member_a, store=world.store_a2, channel=Channel.CALL
            )


def test_another_tenants_member_is_not_found(world, client_for, member_a):
    outsider = world.staff_b[Role.CLERK]
    url = reverse("interactions:quick_member", kwargs={"member_pk": member_a.pk})
    assert client_for(outsider).get(url).status_code == 404
    assert client_for(outsider).post(url, {"channel": "call"}).status_code == 404
    page = client_for(outsider).get(reverse("interactions:quick"), {"q": "张伟"})
    assert "张伟" not in page.content.decode().replace('value="张伟"', "")


def test_search_by_name_card_and_full_phone(world, member_a):
    from interactions.selectors import member_search

    with tenant_context(world.tenant_a):
        assert member_search("张") == [member_a]
        assert member_search("13812345678") == [member_a]
        assert member_search(member_a.card_number) == [member_a]
        assert member_search("13800000000") == []


def test_higher_apps_add_entries_to_the_timeline(world, client_for, member_a):
    import datetime

    from django.utils import timezone

    from interactions import hooks

    def purchases(*, member, limit):
        assert member.pk == member_a.pk
        return [
            {
                "at": timezone.now() - datetime.timedelta(days=1),
                "title": "消费 ¥899.00",
                "detail": "羊毛围巾",
            }
        ]

    with tenant_context(world.tenant_a):
        interaction_record(
            staff=world.staff_a[Role.CLERK],
            member=member_a,
            store=world.store_a1,
            channel=Channel.CALL,
            text="回访",
        )
    hooks.register_timeline_source("test.sales", purchases)
    try:
        response = client_for(world.staff_a[Role.CLERK]).get(
            reverse("interactions:member_timeline", kwargs={"member_pk": member_a.pk})
        )
    finally:
        hooks.unregister_timeline_source("test.sales")
    kinds = [entry["kind"] for entry in response.context["timeline"]]
    assert kinds == ["interaction", "external"]  # newest first
    assert "消费 ¥899.00" in response.content.decode()
