"""The busy pages do not run one query per row."""

from __future__ import annotations

import pytest
from django.urls import reverse

from interactions.models import Channel
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.interactions.factories import InteractionFactory, LeadFactory, ServiceCaseFactory

pytestmark = pytest.mark.django_db


def test_case_queue_query_count_does_not_grow_with_cases(
    world, client_for, django_assert_max_num_queries
):
    with tenant_context(world.tenant_a):
        for _ in range(20):
            ServiceCaseFactory(store=world.store_a1, assignee=world.staff_a[Role.CLERK])
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    client.get(reverse("interactions:case_list"))  # warm the session and caches
    with django_assert_max_num_queries(11):  # 9, plus set/clear tenant on PostgreSQL
        response = client.get(reverse("interactions:case_list"))
    assert len(response.context["page"].object_list) == 20


def test_member_timeline_query_count_does_not_grow_with_history(
    world, client_for, member_a, django_assert_max_num_queries
):
    with tenant_context(world.tenant_a):
        for index in range(15):
            InteractionFactory(
                member=member_a,
                store=world.store_a1,
                staff=world.staff_a[Role.CLERK],
                channel=Channel.CALL,
                text=f"第{index}次",
            )
            ServiceCaseFactory(member=member_a, store=world.store_a1)
            LeadFactory(member=member_a, store=world.store_a1, owner=world.staff_a[Role.CLERK])
    client = client_for(world.staff_a[Role.CLERK])
    url = reverse("interactions:member_timeline", kwargs={"member_pk": member_a.pk})
    client.get(url)
    # 7 of its own, 1 each for the points movements (loyalty) and messages (campaigns) the
    # apps above add, plus set/clear the tenant.
    with django_assert_max_num_queries(11):
        response = client.get(url)
    assert len(response.context["timeline"]) == 45
