"""Coupons in the sale flow: redeemed inside the sale's transaction, before points."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext, override

from analytics.models import Sale
from analytics.services import LineInput, sale_record
from campaigns.models import Coupon, CouponOffer, CouponStatus, DiscountKind
from campaigns.services import CouponError
from loyalty.models import PointsAccount, PointsEntry
from loyalty.services import points_award
from tenancy.context import tenant_context
from tests.analytics.coupons import coupon_for
from tests.analytics.factories import line, record_sale
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

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
