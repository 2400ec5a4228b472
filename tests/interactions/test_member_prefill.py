"""Case and lead forms opened from a member's page name the member without the full phone.

They used to prefill the full number, so stepping ?member=N collected every phone of the
tenant with no audit (issue 12, finding 1). Now the member travels as its id with a masked
label, and the saved record is still linked to that member.
"""

import pytest
from django.urls import reverse

from interactions.models import Lead, ServiceCase
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

PAGES = ("interactions:case_create", "interactions:lead_create")


def _prefilled(client, page, member):
    response = client.get(reverse(page), {"member": member.pk})
    form = response.context["form"]
    return response, {"member_id": form["member_id"].value(), "member": form["member"].value()}


@pytest.mark.parametrize("page", PAGES)
def test_the_prefilled_member_is_an_id_and_a_masked_label(world, client_for, member_a, page):
    # Roles that may reveal get no shortcut either: the reveal is the audited way.
    for role in (Role.CLERK, Role.STORE_MANAGER, Role.HQ_ADMIN):
        response, values = _prefilled(client_for(world.staff_a[role]), page, member_a)
        html = response.content.decode()
        assert values == {
            "member_id": member_a.pk,
            "member": f"张伟 · 138****5678 · {member_a.card_number}",
        }
        assert f'name="member_id" value="{member_a.pk}"' in html
        assert "13812345678" not in html
    with tenant_context(world.tenant_a):
        assert not AuditEvent.objects.filter(action="customer.phone_revealed").exists()


def test_posting_the_prefilled_case_form_links_the_case_to_the_member(
    world, client_for, member_a, category_a
):
    client = client_for(world.staff_a[Role.CLERK])
    _response, values = _prefilled(client, "interactions:case_create", member_a)
    response = client.post(
        reverse("interactions:case_create"),
        {
            **values,
            "store": world.store_a1.pk,
            "category": category_a.pk,
            "priority": "normal",
            "subject": "退换货",
        },
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        case = ServiceCase.objects.get()
        assert case.member == member_a
        assert case.member.phone == "13812345678"


def test_posting_the_prefilled_lead_form_links_the_lead_to_the_member(world, client_for, member_a):
    client = client_for(world.staff_a[Role.CLERK])
    _response, values = _prefilled(client, "interactions:lead_create", member_a)
    response = client.post(
        reverse("interactions:lead_create"),
        {**values, "store": world.store_a1.pk, "product": "羊绒大衣"},
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        assert Lead.objects.get().member == member_a


def test_a_typed_phone_replaces_the_prefilled_member(world, client_for, member_a):
    with tenant_context(world.tenant_a):
        other = CustomerFactory(home_store=world.store_a1, phone="13900001111")
    client = client_for(world.staff_a[Role.CLERK])
    _response, values = _prefilled(client, "interactions:lead_create", member_a)
    client.post(
        reverse("interactions:lead_create"),
        {**values, "member": "13900001111", "store": world.store_a1.pk, "product": "围巾"},
    )
    with tenant_context(world.tenant_a):
        assert Lead.objects.get().member == other


def test_an_edited_label_is_not_a_member(world, client_for, member_a):
    client = client_for(world.staff_a[Role.CLERK])
    _response, values = _prefilled(client, "interactions:lead_create", member_a)
    response = client.post(
        reverse("interactions:lead_create"),
        {**values, "member": "张伟 · 138****5678", "store": world.store_a1.pk, "product": "围巾"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["member"]
    with tenant_context(world.tenant_a):
        assert not Lead.objects.exists()
