"""Who sees which cases: Alice (own store), Bob (other store), Charlie (other tenant)."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from interactions.models import CaseStatus
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.interactions.factories import ServiceCaseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def cases(world):
    with tenant_context(world.tenant_a):
        own = ServiceCaseFactory(store=world.store_a1, subject="本店工单")
        other = ServiceCaseFactory(store=world.store_a2, subject="二店工单")
        done = ServiceCaseFactory(
            store=world.store_a1, subject="已关闭工单", status=CaseStatus.CLOSED
        )
        late = ServiceCaseFactory(
            store=world.store_a2,
            subject="逾期工单",
            due_at=timezone.now() - datetime.timedelta(hours=3),
        )
    return {"own": own, "other": other, "done": done, "late": late}


def listed(client, **params) -> str:
    return client.get(reverse("interactions:case_list"), params).content.decode()


def test_clerk_sees_only_their_stores_open_cases(world, client_for, cases):
    client = client_for(world.staff_a[Role.CLERK])
    page = listed(client)
    assert "本店工单" in page
    assert "二店工单" not in page and "逾期工单" not in page
    assert "已关闭工单" not in page
    assert "已关闭工单" in listed(client, state="all")
    detail = reverse("interactions:case_detail", kwargs={"pk": cases["other"].pk})
    assert client.get(detail).status_code == 404


def test_manager_sees_their_stores_open_cases_with_figures(world, client_for, cases):
    response = client_for(world.staff_a[Role.STORE_MANAGER]).get(reverse("interactions:case_list"))
    page = response.content.decode()
    assert "本店工单" in page and "二店工单" not in page
    assert response.context["figures"]["open"] == 1


def test_hq_sees_all_and_filters(world, client_for, cases):
    client = client_for(world.staff_a[Role.HQ_STAFF])
    page = listed(client)
    assert "本店工单" in page and "二店工单" in page
    overdue = listed(client, state="overdue")
    assert "逾期工单" in overdue and "本店工单" not in overdue
    by_store = listed(client, store=world.store_a2.pk)
    assert "二店工单" in by_store and "本店工单" not in by_store
    figures = client.get(reverse("interactions:case_list")).context["figures"]
    assert (figures["open"], figures["overdue"]) == (3, 1)


def test_another_tenant_sees_nothing(world, client_for, cases):
    client = client_for(world.staff_b[Role.HQ_ADMIN])
    page = listed(client, state="all")
    assert not any(name in page for name in ("本店工单", "二店工单", "已关闭工单", "逾期工单"))
    for case in cases.values():
        url = reverse("interactions:case_detail", kwargs={"pk": case.pk})
        assert client.get(url).status_code == 404
        transition = reverse("interactions:case_transition", kwargs={"pk": case.pk})
        assert client.post(transition, {"status": "in_progress"}).status_code == 404
    with tenant_context(world.tenant_a):
        from interactions.models import ServiceCase

        assert ServiceCase.objects.get(pk=cases["own"].pk).status == CaseStatus.NEW


def test_only_hq_admin_sets_slas(world, client_for):
    data = {"name": "维修", "kind": "repair", "sla_hours": 72, "is_active": "on"}
    url = reverse("interactions:category_list")
    assert client_for(world.staff_a[Role.HQ_STAFF]).post(url, data).status_code == 403
    assert client_for(world.staff_a[Role.HQ_ADMIN]).post(url, data).status_code == 302
    assert client_for(world.staff_a[Role.STORE_MANAGER]).get(url).status_code == 403
    with tenant_context(world.tenant_a):
        from interactions.models import CaseCategory

        assert CaseCategory.objects.get().sla_hours == 72
