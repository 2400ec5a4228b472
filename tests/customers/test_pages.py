"""Profile panels, edit, tags page, member list scope."""

from pathlib import Path

import pytest
from django.urls import reverse

from customers.models import Customer, Tag
from customers.profile import register_panel, unregister_panel
from customers.services import PRESET_TAGS
from tenancy.models import AuditEvent, Role
from tests.customers.factories import TagFactory
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


TEST_TEMPLATES = Path(__file__).parent / "templates"


@pytest.fixture
def panels(settings):
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], TEST_TEMPLATES]}
    ]
    keys = []

    def add(**kwargs):
        register_panel(**kwargs)
        keys.append(kwargs["key"])

    yield add
    for key in keys:
        unregister_panel(key)


def test_registered_panels_render_in_order_with_their_context(in_a, member, client_for, panels):
    calls = []

    def points(request, customer):
        calls.append((request.staff.pk, customer.pk))
        return {"balance": 1234}

    panels(
        key="zz-coupons",
        title="优惠券面板",
        template="customers/tests/panel.html",
        context=lambda r, c: {"balance": "券"},
        order=30,
    )
    panels(
        key="points",
        title="积分面板",
        template="customers/tests/panel.html",
        context=points,
        order=10,
    )
    html = (
        client_for(in_a.staff_a[Role.CLERK])
        .get(reverse("customers:profile", args=[member.pk]))
        .content.decode()
    )
    assert calls == [(in_a.staff_a[Role.CLERK].pk, member.pk)]
    assert "积分面板" in html and "panel-value:1234:" + member.card_number in html
    assert html.index("积分面板") < html.index("优惠券面板")


def test_profile_shows_tags_consent_and_history(in_a, member, client_for):
    client = client_for(in_a.staff_a[Role.CLERK])
    tag = TagFactory(name="常客")
    client.post(reverse("customers:tag_add", args=[member.pk]), {"tag": tag.pk})
    client.post(
        reverse("customers:consent", args=[member.pk]), {"consent": "1", "channel": "paper"}
    )
    html = client.get(reverse("customers:profile", args=[member.pk])).content.decode()
    assert "常客" in html
    assert "纸质表格" in html
    # The history names what happened in words, never as the stored action key.
    assert "添加标签" in html and "同意营销" in html
    assert "customer.tag_added" not in html and "customer.consent_given" not in html
    client.post(reverse("customers:tag_remove", args=[member.pk, tag.pk]))
    assert not member.tags.exists()


def test_edit_changes_details_and_audits_masked(in_a, member, client_for):
    response = client_for(in_a.staff_a[Role.CLERK]).post(
        reverse("customers:edit", args=[member.pk]),
        {
            "phone": "13812340000",
            "name": "新名字",
            "gender": "male",
            "home_store": in_a.store_a2.pk,
            "notes": "喜欢红色",
            "email": "zhang@example.com",
        },
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.phone, member.phone_last4, member.name) == ("13812340000", "0000", "新名字")
    assert member.email == "zhang@example.com"
    event = AuditEvent.objects.get(action="customer.updated")
    assert event.before["phone"] == "138****5678" and event.after["phone"] == "138****0000"


def test_edit_to_a_phone_of_another_member_is_refused(in_a, member, client_for):
    other = CustomerFactory(phone="13900000000")
    response = client_for(in_a.staff_a[Role.CLERK]).post(
        reverse("customers:edit", args=[other.pk]),
        {
            "phone": member.phone,
            "name": other.name,
            "gender": "unknown",
            "home_store": in_a.store_a1.pk,
        },
    )
    assert response.status_code == 200
    assert "该手机号已是会员" in response.content.decode()
    other.refresh_from_db()
    assert other.phone == "13900000000"


def test_tags_page_has_presets_and_creates_custom_tags(in_a, client_for):
    client = client_for(in_a.staff_a[Role.HQ_ADMIN])
    html = client.get(reverse("customers:tags")).content.decode()
    for name in PRESET_TAGS:
        assert name in html
    client.post(reverse("customers:tags"), {"name": "周末客"})
    assert Tag.objects.filter(name="周末客", is_preset=False).exists()
    response = client.post(reverse("customers:tags"), {"name": "周末客"})
    assert "已有同名标签" in response.content.decode()


def test_manager_lists_only_members_of_their_stores(in_a, client_for):
    mine = CustomerFactory(home_store=in_a.store_a1, name="本店会员")
    CustomerFactory(home_store=in_a.store_a2, name="别店会员")
    html = (
        client_for(in_a.staff_a[Role.STORE_MANAGER]).get(reverse("customers:list")).content.decode()
    )
    assert mine.name in html and "别店会员" not in html
    html = client_for(in_a.staff_a[Role.HQ_STAFF]).get(reverse("customers:list")).content.decode()
    assert "本店会员" in html and "别店会员" in html
    assert client_for(in_a.staff_a[Role.CLERK]).get(reverse("customers:list")).status_code == 403


def test_erased_member_cannot_be_edited(in_a, member, client_for):
    from customers.services import customer_erase

    customer_erase(customer=member, staff=in_a.staff_a[Role.HQ_ADMIN], reason="本人要求")
    assert (
        client_for(in_a.staff_a[Role.CLERK])
        .get(reverse("customers:edit", args=[member.pk]))
        .status_code
        == 403
    )
    assert Customer.objects.get(pk=member.pk).is_erased


def test_edit_refuses_a_malformed_email_and_keeps_the_member(in_a, member, client_for):
    response = client_for(in_a.staff_a[Role.CLERK]).post(
        reverse("customers:edit", args=[member.pk]),
        {
            "phone": member.phone,
            "name": "新名字",
            "gender": "male",
            "home_store": in_a.store_a1.pk,
            "email": "not-an-address",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["email"]
    member.refresh_from_db()
    assert member.name != "新名字" and member.email == ""
