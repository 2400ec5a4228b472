"""A data-subject request reaches every app through customers' contract: the export lists what
each app holds, and erase blanks each app's personal fields. Production receivers only."""

from __future__ import annotations

import datetime
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns import services as campaigns
from campaigns.models import Delivery, DeliveryStatus
from customers.services import customer_erase
from interactions.models import MemberProfile
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.analytics.factories import line, record_sale
from tests.campaigns.factories import CouponFactory
from tests.factories import CustomerFactory
from tests.interactions.factories import InteractionFactory, ServiceCaseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def member(world):
    """A member every app knows something about."""
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1, name="王小明", phone="13912340000")
        MemberProfile.objects.filter(member=member).update(
            wechat_id="wxm-2026", occupation="教师", interests="咖啡"
        )
        InteractionFactory(member=member, store=world.store_a1, text="来电询问会员日")
        ServiceCaseFactory(member=member, store=world.store_a1, subject="退货慢")
        record_sale(
            world.store_a1,
            timezone.now() - datetime.timedelta(hours=1),
            lines=[line("A", 1, "88.00")],
            member=member,
        )
        CouponFactory(member=member, code="GIFT0001")
        campaigns.message_queue(member=member, text="王小明您好，会员日到了", kind="service")
    return member


def test_the_personal_data_export_lists_every_apps_section(world, client_for, member):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    answer = client.post(reverse("customers:personal_data", args=[member.pk]))
    data = json.loads(answer.content)

    assert data["interactions"]["profile"]["wechat_id"] == "wxm-2026"
    assert data["interactions"]["profile"]["occupation"] == "教师"
    assert data["interactions"]["contacts"][0]["text"] == "来电询问会员日"
    assert data["interactions"]["cases"][0]["subject"] == "退货慢"
    assert data["points"]["balance"] == 88 and len(data["points"]["entries"]) == 1
    assert [c["code"] for c in data["campaigns"]["coupons"]] == ["GIFT0001"]
    assert data["campaigns"]["messages"][0]["text"] == "王小明您好，会员日到了"
    assert data["purchases"][0]["total"] == "88.00"


def test_erase_blanks_every_apps_personal_fields(world, member):
    with tenant_context(world.tenant_a):
        customer_erase(customer=member, staff=world.staff_a[Role.HQ_ADMIN], reason="本人要求注销")

        profile = MemberProfile.objects.get(member=member)
        assert (profile.wechat_id, profile.occupation, profile.interests) == ("", "", "")
        message = Delivery.objects.get(member=member)
        assert (message.address, message.text) == ("", "")
        assert message.status == DeliveryStatus.FAILED  # a queued message never goes out
