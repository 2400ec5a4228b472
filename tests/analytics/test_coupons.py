"""Coupons in the sale flow: redeemed inside the sale's transaction, before points."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, override

from analytics.models import Sale
from analytics.services import LineInput, api_token_create, sale_record
from campaigns.models import Coupon, CouponOffer, CouponStatus, DiscountKind
from campaigns.services import CouponError
from loyalty.models import PointsAccount, PointsEntry
from loyalty.services import points_award
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.analytics.coupons import coupon_for
from tests.analytics.factories import line, record_sale
from tests.analytics.test_api import post, sale_count
from tests.analytics.test_counter import form_data
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

# 2 x 50.00 with 10.00 off the line: subtotal 100.00, line discounts 10.00, payable 90.00.
LINES = [line("BAG", 2, "50.00", "10.00")]


def balance(member) -> int:
    account = PointsAccount.objects.filter(customer=member).first()
    return account.balance if account else 0


@pytest.fixture
def member(world):
    with tenant_context(world.tenant_a):
        return CustomerFactory(home_store=world.store_a1)


def test_a_fixed_coupon_comes_off_after_line_discounts_and_points_follow_what_was_paid(
    world, member
):
    with tenant_context(world.tenant_a):
        coupon = coupon_for(member, value="20.00")
        sale = record_sale(
            world.store_a1, timezone.now(), lines=LINES, member=member, coupon_code=coupon.code
        )
        assert (sale.subtotal, sale.discount_total, sale.coupon_discount, sale.total) == (
            Decimal("100.00"),
            Decimal("10.00"),
            Decimal("20.00"),
            Decimal("70.00"),
        )
        assert sale.coupon == coupon
        assert sale.points_earned == 70  # earned on what the member paid
        coupon.refresh_from_db()
        assert (coupon.status, coupon.used_sale_id, coupon.discount, coupon.used_store) == (
            CouponStatus.USED,
            sale.pk,
            Decimal("20.00"),
            world.store_a1,
        )
        assert CouponOffer.objects.get(pk=coupon.offer_id).used_count == 1


def test_a_percent_coupon_is_a_share_of_the_amount_after_line_discounts(world, member):
    with tenant_context(world.tenant_a):
        coupon = coupon_for(member, kind=DiscountKind.PERCENT, value="15")
        # Typed in lower case with spaces, as a clerk might.
        sale = record_sale(
            world.store_a1,
            timezone.now(),
            lines=LINES,
            member=member,
            coupon_code=f" {coupon.code.lower()} ",
        )
        assert (sale.coupon_discount, sale.total) == (Decimal("13.50"), Decimal("76.50"))


def test_coupon_before_points_and_the_total_is_never_negative(world, member):
    with tenant_context(world.tenant_a):
        points_award(customer=member, points=10_000, source_key="gift:c", reason="test")
        coupon = coupon_for(member, value="20.00")
        sale = record_sale(
            world.store_a1,
            timezone.now(),
            lines=LINES,
            member=member,
            coupon_code=coupon.code,
            points_to_redeem=1000,  # 10.00 at 100 points a yuan
        )
        assert (sale.coupon_discount, sale.points_discount, sale.total) == (
            Decimal("20.00"),
            Decimal("10.00"),
            Decimal("60.00"),
        )
        # 80.00 of points fit the 90.00 before the coupon but not the 70.00 after it.
        other = coupon_for(member, value="20.00")
        before = balance(member)
        with pytest.raises(ValidationError):
            record_sale(
                world.store_a1,
                timezone.now(),
                lines=LINES,
                member=member,
                coupon_code=other.code,
                points_to_redeem=8000,
            )
        other.refresh_from_db()
        assert other.status == CouponStatus.AVAILABLE
        assert balance(member) == before
        assert Sale.objects.count() == 1
        # A fixed coupon worth more than the sale takes it to zero, never below.
        big = coupon_for(member, value="500.00")
        free = record_sale(
            world.store_a1, timezone.now(), lines=LINES, member=member, coupon_code=big.code
        )
        assert (free.coupon_discount, free.total, free.points_earned) == (
            Decimal("90.00"),
            Decimal("0.00"),
            0,
        )


@pytest.mark.parametrize(
    "case",
    ["unknown", "other_member", "min_spend", "walk_in", "other_store", "voided"],
)
def test_a_refused_coupon_writes_no_sale_and_no_points(world, member, case):
    with tenant_context(world.tenant_a):
        coupon = coupon_for(
            member,
            min_spend="200.00" if case == "min_spend" else "0.00",
            stores=[world.store_a2] if case == "other_store" else (),
        )
        code = "NOSUCHCODE" if case == "unknown" else coupon.code
        buyer = member
        if case == "other_member":
            buyer = CustomerFactory(home_store=world.store_a1)
        if case == "walk_in":
            buyer = None
        if case == "voided":
            Coupon.objects.filter(pk=coupon.pk).update(status=CouponStatus.VOID)
        with pytest.raises(CouponError) as refused:
            record_sale(world.store_a1, timezone.now(), lines=LINES, member=buyer, coupon_code=code)
        assert refused.value.messages[0]
        assert not Sale.objects.exists()
        assert not PointsEntry.objects.exists()
        coupon.refresh_from_db()
        assert coupon.used_at is None
        assert CouponOffer.objects.get(pk=coupon.offer_id).used_count == 0


def test_a_used_coupon_is_refused_on_a_second_sale_with_a_clear_message(world, member):
    with tenant_context(world.tenant_a), override("zh-hans"):
        coupon = coupon_for(member)
        record_sale(
            world.store_a1, timezone.now(), lines=LINES, member=member, coupon_code=coupon.code
        )
        with pytest.raises(CouponError) as refused:
            record_sale(
                world.store_a1, timezone.now(), lines=LINES, member=member, coupon_code=coupon.code
            )
        used = timezone.localtime(Coupon.objects.get(pk=coupon.pk).used_at, world.tenant_a.zone)
        expected = gettext("This coupon was already used on %(when)s.") % {
            "when": f"{used:%Y-%m-%d %H:%M}"
        }
        assert refused.value.messages == [expected]
        assert Sale.objects.count() == 1


def test_a_pos_retry_with_the_same_id_returns_the_first_sale_and_redeems_once(world, member):
    with tenant_context(world.tenant_a):
        coupon = coupon_for(member)
        when = timezone.now()
        kwargs = {
            "store": world.store_a1,
            "occurred_at": when,
            "lines": LINES,
            "channel": "pos",
            "member": member,
            "external_id": "POS-C-1",
            "coupon_code": coupon.code,
        }
        first, created = sale_record(**kwargs)
        again, created_again = sale_record(**kwargs)
        assert (created, created_again, again.pk) == (True, False, first.pk)
        assert again.coupon_discount == Decimal("20.00")
        assert CouponOffer.objects.get(pk=coupon.offer_id).used_count == 1


def test_refunds_do_not_return_the_coupon_and_pay_back_in_proportion(world, member):
    with tenant_context(world.tenant_a):
        coupon = coupon_for(member, value="20.00")
        now = timezone.now()
        sale = record_sale(
            world.store_a1,
            now - datetime.timedelta(hours=1),
            lines=[line("A", 3, "30.00")],
            member=member,
            coupon_code=coupon.code,
        )  # 90.00 - 20.00 = 70.00 paid, 70 points
        refunds = [
            record_sale(world.store_a1, now, lines=[LineInput(sku="A", quantity=1)], refund_of=sale)
            for _ in range(3)
        ]
        assert [r.coupon_discount for r in refunds] == [
            Decimal("-6.67"),
            Decimal("-6.67"),
            Decimal("-6.66"),
        ]
        assert [r.total for r in refunds] == [
            Decimal("-23.33"),
            Decimal("-23.33"),
            Decimal("-23.34"),
        ]
        assert sum(r.total for r in refunds) == -sale.total
        assert all(r.coupon_id is None for r in refunds)
        assert Coupon.objects.get(pk=coupon.pk).status == CouponStatus.USED
        assert balance(member) == 0  # the points earned on the 70.00 are all taken back
        with pytest.raises(ValidationError):
            record_sale(
                world.store_a1,
                now,
                lines=[LineInput(sku="A", quantity=1)],
                refund_of=sale,
                coupon_code=coupon.code,
            )


# --- POS API ---------------------------------------------------------------------------------


@pytest.fixture
def till(world):
    with tenant_context(world.tenant_a):
        _token, plain = api_token_create(
            store=world.store_a1, name="till", actor=world.staff_a[Role.HQ_ADMIN]
        )
    return plain


def pos_body(member, code, **overrides):
    body = {
        "sale_id": "POS-C-100",
        "store": "BJ-ZY-001",
        "occurred_at": "2026-01-31T14:05:00+08:00",
        "member_card": member.card_number,
        "coupon_code": code,
        "lines": [
            {"sku": "BAG", "name": "包", "quantity": 2, "unit_price": "50.00", "discount": "10.00"}
        ],
    }
    body.update(overrides)
    return body


def test_pos_api_uses_a_coupon_and_a_retry_returns_the_first_result(world, member, till):
    with tenant_context(world.tenant_a):
        coupon = coupon_for(member, kind=DiscountKind.PERCENT, value="10")
    first = post(till, pos_body(member, coupon.code))
    assert first.status_code == 201, first.content
    body = first.json()
    assert (body["coupon_code"], body["coupon_discount"], body["total"]) == (
        coupon.code,
        "9.00",
        "81.00",
    )
    again = post(till, pos_body(member, coupon.code))
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == body
    with tenant_context(world.tenant_a):
        assert Sale.objects.count() == 1
        assert CouponOffer.objects.get(pk=coupon.offer_id).used_count == 1


def test_pos_api_refused_coupon_is_a_field_error_and_writes_nothing(world, member, till):
    with tenant_context(world.tenant_a):
        coupon = coupon_for(member, min_spend="100.00")
    response = post(till, pos_body(member, coupon.code))
    assert response.status_code == 400
    with override("zh-hans"):
        expected = gettext("This coupon needs a spend of at least ¥%(min)s.") % {"min": "100.00"}
    assert response.json() == {
        "errors": [{"field": "coupon_code", "code": "coupon_refused", "message": expected}]
    }
    assert sale_count(world.tenant_a) == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"coupon_code": 123}, "coupon_code"),
        ({"coupon_code": "X" * 17}, "coupon_code"),
        ({"member_card": None}, "coupon_code"),  # coupons are for members
        ({"refund_of": "POS-0"}, "coupon_code"),  # not on refunds
    ],
)
def test_pos_api_checks_the_coupon_field(world, member, till, overrides, field):
    response = post(till, pos_body(member, "ABCDEFGHJK", **overrides))
    assert response.status_code == 400
    assert field in [error["field"] for error in response.json()["errors"]]
    assert sale_count(world.tenant_a) == 0


def test_pos_api_without_a_coupon_says_so(world, member, till):
    body = pos_body(member, "")
    del body["coupon_code"]
    response = post(till, body)
    assert response.status_code == 201
    assert (response.json()["coupon_code"], response.json()["coupon_discount"]) == (None, "0.00")


# --- Counter page ----------------------------------------------------------------------------


def counter_data(store, member_phone, coupon_code="", coupon_pick=None, **extra):
    data = form_data(
        store,
        member=member_phone,
        lines=[
            {"sku": "BAG", "name": "包", "quantity": "2", "unit_price": "50.00", "discount": "10"}
        ],
    )
    data["coupon_code"] = coupon_code
    if coupon_pick is not None:
        data["coupon_pick"] = coupon_pick
    data.update(extra)
    return data


def test_counter_shows_the_members_coupons_and_records_a_picked_one(world, client_for):
    clerk = world.staff_a[Role.CLERK]
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1, phone="13911112222")
        coupon = coupon_for(member, value="20.00", name="春季满减")
        used = coupon_for(member, value="5.00")
        record_sale(
            world.store_a1, timezone.now(), lines=LINES, member=member, coupon_code=used.code
        )
    client = client_for(clerk)
    url = reverse("analytics:counter_sale")
    found = client.post(url, counter_data(world.store_a1, "13911112222", find_coupons="1"))
    assert found.status_code == 200
    page = found.content.decode()
    assert coupon.code in page and used.code not in page
    with tenant_context(world.tenant_a):
        assert Sale.objects.count() == 1  # looking coupons up records nothing

    response = client.post(
        url, counter_data(world.store_a1, "13911112222", coupon_pick=coupon.code)
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        sale = Sale.objects.get(coupon=coupon)
        assert (sale.coupon_discount, sale.total, sale.staff) == (
            Decimal("20.00"),
            Decimal("70.00"),
            clerk,
        )
    detail = client.get(response["Location"]).content.decode()
    assert coupon.code in detail and "春季满减" in detail and "20.00" in detail


def test_counter_shows_a_refused_coupon_on_the_form_and_writes_nothing(world, client_for):
    with tenant_context(world.tenant_a):
        CustomerFactory(home_store=world.store_a1, phone="13911113333")
        someone_else = CustomerFactory(home_store=world.store_a1)
        theirs = coupon_for(someone_else)
    client = client_for(world.staff_a[Role.CLERK])
    response = client.post(
        reverse("analytics:counter_sale"),
        counter_data(world.store_a1, "13911113333", coupon_code=theirs.code.lower()),
    )
    assert response.status_code == 200
    with override("zh-hans"):
        expected = gettext("This coupon belongs to another member.")
    assert response.context["form"].errors["coupon_code"] == [expected]
    assert expected in response.content.decode()
    with tenant_context(world.tenant_a):
        assert not Sale.objects.exists()
        assert not PointsEntry.objects.exists()
        assert Coupon.objects.get(pk=theirs.pk).status == CouponStatus.AVAILABLE


def test_counter_refuses_two_different_coupons(world, client_for):
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1, phone="13911114444")
        one, two = coupon_for(member), coupon_for(member)
    response = client_for(world.staff_a[Role.CLERK]).post(
        reverse("analytics:counter_sale"),
        counter_data(world.store_a1, "13911114444", coupon_code=one.code, coupon_pick=two.code),
    )
    assert response.status_code == 200
    assert "coupon_code" in response.context["form"].errors
    with tenant_context(world.tenant_a):
        assert not Sale.objects.exists()
