"""An invalid filter value is an error the page shows, never a filter silently dropped: the
member list shows no rows, the export and the bulk action refuse, and a bulk action runs only
on the number of members the user confirmed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from customers.models import CustomerTag
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.customers.factories import TagFactory
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def members(world):
    with tenant_context(world.tenant_a):
        return [
            CustomerFactory(home_store=world.store_a1, birth_month=5, name=f"五月{i}")
            for i in range(3)
        ] + [CustomerFactory(home_store=world.store_a2, birth_month=6, name="六月")]


@pytest.fixture
def tag(world):
    with tenant_context(world.tenant_a):
        return TagFactory(name="回访")


def tagged(world) -> int:
    with tenant_context(world.tenant_a):
        return CustomerTag.objects.count()


def invalid_queries(world) -> list[str]:
    return [
        f"home_stores={world.store_b1.pk}",  # a store of another tenant
        "home_stores=abc",
        "birth_month=13",
        "total_spent_min=lots",
        f"birth_month=5&home_stores={world.store_b1.pk}",
    ]


def test_an_invalid_filter_on_the_list_is_shown_not_dropped(world, client_for, members):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    for query in invalid_queries(world):
        response = client.get(reverse("customers:list") + "?" + query)
        assert response.status_code == 400, query
        assert response.context["filter_form"].errors, query
        assert list(response.context["page"].object_list) == [], query
        html = response.content.decode()
        assert 'class="error"' in html, query
        assert "五月0" not in html and "六月" not in html, query


def test_a_valid_filter_still_filters(world, client_for, members):
    response = client_for(world.staff_a[Role.HQ_ADMIN]).get(
        reverse("customers:list") + f"?home_stores={world.store_a1.pk}"
    )
    assert response.status_code == 200
    assert response.context["page"].paginator.count == 3


def test_an_export_with_an_invalid_filter_is_refused(world, client_for, members):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    for query in invalid_queries(world):
        response = client.get(reverse("customers:export") + f"?{query}&format=csv")
        assert response.status_code == 400, query
        assert "Content-Disposition" not in response, query
        assert "没有导出" in response.content.decode(), query
    with tenant_context(world.tenant_a):
        assert not AuditEvent.objects.filter(action__startswith="customer.export").exists()


@pytest.mark.parametrize("confirmed", [False, True])
def test_a_bulk_tag_with_an_invalid_filter_tags_nobody(world, client_for, members, tag, confirmed):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    data = {"tag": tag.pk, "action": "add"}
    if confirmed:
        data["expected_count"] = 4  # even with the count of everyone in scope
    for query in invalid_queries(world):
        response = client.post(reverse("customers:bulk_tag") + "?" + query, data, follow=True)
        assert response.status_code == 400, query  # back on the list, showing the errors
        assert "没有添加标签" in response.content.decode(), query
    assert tagged(world) == 0


def test_a_bulk_tag_asks_for_confirmation_with_the_count(world, client_for, members, tag):
    client = client_for(world.staff_a[Role.STORE_MANAGER])  # store_a1 only: 3 members
    url = reverse("customers:bulk_tag") + "?birth_month=5"
    response = client.post(url, {"tag": tag.pk, "action": "add"})
    assert response.status_code == 200
    assert "确认" in response.content.decode() and response.context["count"] == 3
    assert tagged(world) == 0
    response = client.post(url, {"tag": tag.pk, "action": "add", "expected_count": 3})
    assert response.status_code == 302
    assert tagged(world) == 3


def test_a_bulk_tag_without_filters_warns_that_it_is_everyone(world, client_for, members, tag):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    response = client.post(reverse("customers:bulk_tag"), {"tag": tag.pk, "action": "add"})
    assert response.context["count"] == 4
    assert "未设置筛选条件" in response.content.decode()
    assert tagged(world) == 0


def test_a_confirmation_whose_count_changed_is_refused(world, client_for, members, tag):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    url = reverse("customers:bulk_tag") + "?birth_month=5"
    client.post(url, {"tag": tag.pk, "action": "add"})  # shows 3
    with tenant_context(world.tenant_a):
        CustomerFactory(home_store=world.store_a1, birth_month=5)  # a 4th arrives meanwhile
    response = client.post(url, {"tag": tag.pk, "action": "add", "expected_count": 3})
    assert response.status_code == 409
    html = response.content.decode()
    assert "名单已变化" in html
    assert response.context["count"] == 4  # the page asks again with the new count
    assert tagged(world) == 0
    with tenant_context(world.tenant_a):
        CustomerTag.objects.bulk_create([CustomerTag(customer=m, tag=tag) for m in members[:3]])
    response = client.post(url, {"tag": tag.pk, "action": "remove", "expected_count": 9})
    assert response.status_code == 409
    assert tagged(world) == 3


@pytest.mark.parametrize(
    ("url_name", "query"),
    [
        ("stores:store_list", "region=999999"),
        ("stores:store_list", "status=bogus"),
        ("stores:application_list", "store_type=abc"),
        ("audit_list", "since=yesterday"),
        ("interactions:case_list", "priority=bogus"),
        ("campaigns:outbox", "campaign=abc"),
        ("analytics:sale_list", "store=abc"),
    ],
)
def test_other_lists_show_invalid_filters_instead_of_everything(world, client_for, url_name, query):
    response = client_for(world.staff_a[Role.HQ_ADMIN]).get(reverse(url_name) + "?" + query)
    assert response.status_code == 400
    assert 'class="error"' in response.content.decode()


def test_other_lists_refuse_another_tenants_store(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    for url_name in ("interactions:case_list", "analytics:sale_list"):
        response = client.get(reverse(url_name) + f"?store={world.store_b1.pk}")
        assert response.status_code == 400, url_name


def test_a_report_download_with_an_invalid_period_is_refused(world, client_for):
    response = client_for(world.staff_a[Role.HQ_ADMIN]).get(
        reverse("analytics:export") + "?preset=custom&start=2026-13-01&end=x"
    )
    assert response.status_code == 400
    assert "Content-Disposition" not in response
