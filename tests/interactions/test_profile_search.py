"""Richer member profile and name search, including pinyin initials ("zw" finds 张伟)."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from customers.models import Customer
from interactions.models import MemberProfile
from interactions.pinyin import name_keys
from interactions.selectors import member_search, membership_anniversary
from interactions.services import member_name_keys_rebuild
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.mark.parametrize(
    "name, keys",
    [
        ("张伟", ("zhangwei", "zw")),
        ("单田芳", ("shantianfang", "stf")),  # a surname read differently from the word
        ("曾小贤", ("zengxiaoxian", "zxx")),
        ("Tom 王", ("tomwang", "tw")),
        ("", ("", "")),
    ],
)
def test_name_keys(name, keys):
    assert name_keys(name) == keys


@pytest.fixture
def people(world):
    with tenant_context(world.tenant_a):
        names = ["张伟", "赵文", "张伟明", "周文武", "王芳"]
        made = {name: CustomerFactory(home_store=world.store_a1, name=name) for name in names}
    with tenant_context(world.tenant_b):
        CustomerFactory(home_store=world.store_b1, name="张薇")
    return made


def names(query, tenant) -> list[str]:
    with tenant_context(tenant):
        return [member.name for member in member_search(query)]


def test_initials_find_the_member_and_rank_exact_initials_first(world, people):
    assert names("zw", world.tenant_a) == ["张伟", "赵文", "张伟明", "周文武"]
    assert names("ZW", world.tenant_a)[:2] == ["张伟", "赵文"]
    assert names("zwm", world.tenant_a) == ["张伟明"]


def test_full_pinyin_prefix_and_chinese_name(world, people):
    assert names("zhangw", world.tenant_a) == ["张伟", "张伟明"]
    assert names("zhang wei", world.tenant_a) == ["张伟", "张伟明"]
    assert names("张伟", world.tenant_a) == ["张伟", "张伟明"]
    assert names("wf", world.tenant_a) == ["王芳"]


def test_search_stays_inside_the_tenant(world, people):
    assert "张薇" not in names("zw", world.tenant_a)
    assert names("zw", world.tenant_b) == ["张薇"]


def test_renaming_updates_the_keys_and_bulk_rows_can_be_backfilled(world, people):
    with tenant_context(world.tenant_a):
        member = people["王芳"]
        member.name = "李娜"
        member.save()
        assert MemberProfile.objects.get(member=member).name_initials == "ln"
        Customer.objects.bulk_create(
            [
                Customer(
                    phone="13900000001", card_number="BULK1", name="刘洋", home_store=world.store_a1
                )
            ]
        )
        assert member_search("ly") == []
        assert member_name_keys_rebuild() == 1
        assert [m.name for m in member_search("ly")] == ["刘洋"]


def test_counter_search_page_finds_by_initials(world, client_for, people):
    page = client_for(world.staff_a[Role.CLERK]).get(reverse("interactions:quick"), {"q": "zwm"})
    assert page.context["results"] == [people["张伟明"]]


def test_clerk_fills_the_profile(world, client_for, people):
    member = people["张伟"]
    url = reverse("interactions:member_profile", kwargs={"member_pk": member.pk})
    response = client_for(world.staff_a[Role.CLERK]).post(
        url,
        {
            "wechat_id": "zw_1990",
            "occupation": "工程师",
            "interests": "跑步, 咖啡",
            "preferred_brands": "安踏",
            "preferred_categories": "运动鞋",
            "price_sensitivity": "high",
        },
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        profile = MemberProfile.objects.get(member=member)
        assert (profile.wechat_id, profile.price_sensitivity, profile.name_initials) == (
            "zw_1990",
            "high",
            "zw",
        )
        assert profile.is_complete
        event = AuditEvent.objects.get(action="member_profile.update")
        assert event.after["occupation"] == "工程师"
    timeline = client_for(world.staff_a[Role.CLERK]).get(
        reverse("interactions:member_timeline", kwargs={"member_pk": member.pk})
    )
    assert "zw_1990" in timeline.content.decode()
    outsider = client_for(world.staff_b[Role.CLERK])
    assert outsider.post(url, {"wechat_id": "x"}).status_code == 404


def test_anniversary_of_a_leap_day_enrolment():
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Shanghai")
    member = Customer(created_at=datetime.datetime(2024, 2, 28, 17, 0, tzinfo=datetime.UTC))
    # 17:00 UTC on Feb 28 is already Feb 29 in Shanghai.
    result = membership_anniversary(member, datetime.date(2025, 1, 10), zone)
    assert result == {
        "enrolled": datetime.date(2024, 2, 29),
        "next": datetime.date(2025, 2, 28),
        "years": 1,
    }


def test_a_member_enrolled_today_has_the_first_anniversary_next_year():
    from zoneinfo import ZoneInfo

    member = Customer(created_at=datetime.datetime(2026, 5, 1, 4, 0, tzinfo=datetime.UTC))
    result = membership_anniversary(member, datetime.date(2026, 5, 1), ZoneInfo("Asia/Shanghai"))
    assert (result["next"], result["years"]) == (datetime.date(2027, 5, 1), 1)


@pytest.mark.parametrize(
    "key, bound", [("zw", "zx"), ("az", "b"), ("a9", "aa"), ("zz", None), ("", None)]
)
def test_prefix_upper_bound(key, bound):
    from interactions.pinyin import prefix_upper_bound

    assert prefix_upper_bound(key) == bound


def test_latin_names_are_found_by_letters(world):
    with tenant_context(world.tenant_a):
        tom = CustomerFactory(home_store=world.store_a1, name="Tom 王")
        assert member_search("tom") == [tom]
        assert member_search("tw") == [tom]
