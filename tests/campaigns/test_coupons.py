"""Coupons at the counter: what they take off, when they may be used, and clear refusals."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from campaigns import services
from campaigns.models import Coupon, CouponOffer, CouponStatus, DiscountKind
from campaigns.services import CouponError
from tenancy.models import AuditEvent, Role
from tests.campaigns.factories_services import MemberFactory, OfferFactory, coupon_for
from tests.factories import StaffMemberFactory, StoreFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

NOW = timezone.now()


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def store(in_tenant):
    return StoreFactory(name="南京路店")


@pytest.fixture
def other_store(in_tenant):
    return StoreFactory(name="淮海路店")


@pytest.fixture
def member(store):
    return MemberFactory(home_store=store, name="王芳")


def redeem(coupon, member, store, amount="100.00", **kwargs):
    kwargs.setdefault("now", NOW)
    return services.coupon_redeem(
        code=coupon.code, member=member, store=store, amount=Decimal(amount), sale_id=1, **kwargs
    )


def refusal(coupon_or_code, member, store, amount="100.00", **kwargs) -> str:
    code = getattr(coupon_or_code, "code", coupon_or_code)
    kwargs.setdefault("now", NOW)
    with pytest.raises(CouponError) as caught:
        services.coupon_redeem(
            code=code, member=member, store=store, amount=Decimal(amount), sale_id=1, **kwargs
        )
    return caught.value.messages[0]


# --- What a coupon takes off -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "amount", "expected"),
    [
        (DiscountKind.FIXED, "10.00", "100.00", "10.00"),
        # A fixed coupon never takes off more than the sale is worth.
        (DiscountKind.FIXED, "50.00", "30.00", "30.00"),
        (DiscountKind.PERCENT, "15", "200.00", "30.00"),
        # 15% of 99.99 is 14.9985: rounded half up to the cent.
        (DiscountKind.PERCENT, "15", "99.99", "15.00"),
        # 10% of 0.05 is 0.005: half a cent rounds up, not to even.
        (DiscountKind.PERCENT, "10", "0.05", "0.01"),
        (DiscountKind.PERCENT, "12.5", "0.99", "0.12"),
    ],
)
def test_discount_maths(kind, value, amount, expected):
    offer = CouponOffer(kind=kind, value=Decimal(value))
    off = services.coupon_discount(offer=offer, amount=Decimal(amount))
    assert off == Decimal(expected)
    assert off <= Decimal(amount)


def test_a_redeemed_coupon_records_the_sale_store_and_discount(member, store):
    offer = OfferFactory(kind=DiscountKind.PERCENT, value=Decimal("20"))
    coupon = coupon_for(member, offer)

    used, discount = redeem(coupon, member, store, amount="88.80")

    assert discount == Decimal("17.76")
    used.refresh_from_db()
    assert used.status == CouponStatus.USED
    assert used.used_at == NOW
    assert used.used_store == store
    assert used.used_sale_id == 1
    assert used.discount == Decimal("17.76")
    offer.refresh_from_db()
    assert offer.used_count == 1


def test_codes_are_read_without_case_or_spaces(member, store):
    coupon = coupon_for(member, OfferFactory())
    used, _ = services.coupon_redeem(
        code=f"  {coupon.code.lower()} ",
        member=member,
        store=store,
        amount=Decimal("50"),
        sale_id=None,
        now=NOW,
    )
    assert used.pk == coupon.pk


# --- When and where ----------------------------------------------------------------------


def test_minimum_spend_is_enforced_to_the_cent(member, store):
    offer = OfferFactory(min_spend=Decimal("100.00"))
    coupon = coupon_for(member, offer)

    assert refusal(coupon, member, store, amount="99.99") == (
        "This coupon needs a spend of at least ¥100.00."
    )
    _, discount = redeem(coupon, member, store, amount="100.00")
    assert discount == Decimal("10.00")


def test_not_before_the_offer_starts(member, store):
    offer = OfferFactory(
        valid_from=NOW + datetime.timedelta(days=2), valid_until=NOW + datetime.timedelta(days=9)
    )
    coupon = services.coupons_issue(offer=offer, members=[member], now=NOW)[member.pk]

    assert refusal(coupon, member, store).startswith("This coupon can be used from ")
    assert redeem(coupon, member, store, now=NOW + datetime.timedelta(days=3))[0].pk == coupon.pk


def test_expired_coupons_are_refused_with_the_date(member, store):
    offer = OfferFactory(valid_until=NOW + datetime.timedelta(days=5))
    coupon = coupon_for(member, offer, now=NOW)
    end = timezone.localtime(coupon.valid_until, member.tenant.zone)

    message = refusal(coupon, member, store, now=NOW + datetime.timedelta(days=5))

    assert message == f"This coupon expired on {end:%Y-%m-%d %H:%M}."


def test_valid_days_counts_from_issue_but_never_past_the_offer(member, store):
    offer = OfferFactory(valid_until=NOW + datetime.timedelta(days=30), valid_days=7)
    coupon = coupon_for(member, offer, now=NOW)
    assert coupon.valid_until == NOW + datetime.timedelta(days=7)
    assert refusal(coupon, member, store, now=NOW + datetime.timedelta(days=7, seconds=1))

    short = OfferFactory(valid_until=NOW + datetime.timedelta(days=3), valid_days=7)
    assert coupon_for(member, short, now=NOW).valid_until == short.valid_until


def test_valid_days_start_when_the_offer_starts_if_issued_before(member, store):
    offer = OfferFactory(
        valid_from=NOW + datetime.timedelta(days=10),
        valid_until=NOW + datetime.timedelta(days=60),
        valid_days=7,
    )
    coupon = coupon_for(member, offer, now=NOW)
    assert coupon.valid_until == NOW + datetime.timedelta(days=17)
    later = NOW + datetime.timedelta(days=12)
    assert redeem(coupon, member, store, now=later)[0].status == CouponStatus.USED


def test_an_ended_or_stopped_offer_issues_nothing(member):
    ended = OfferFactory(
        valid_from=NOW - datetime.timedelta(days=9), valid_until=NOW - datetime.timedelta(days=1)
    )
    with pytest.raises(ValidationError):
        coupon_for(member, ended, now=NOW)
    stopped = OfferFactory(is_active=False)
    with pytest.raises(ValidationError):
        coupon_for(member, stopped, now=NOW)
    assert not Coupon.objects.exists()


def test_a_stopped_offer_refuses_its_coupons(member, store):
    offer = OfferFactory()
    coupon = coupon_for(member, offer)
    CouponOffer.objects.filter(pk=offer.pk).update(is_active=False)
    assert refusal(coupon, member, store) == "This coupon's offer was stopped."


def test_store_restriction(member, store, other_store):
    offer = OfferFactory()
    services.coupon_offer_save(
        offer=offer, stores=[store], staff=StaffMemberFactory(role=Role.HQ_ADMIN)
    )
    coupon = coupon_for(member, offer)

    assert refusal(coupon, member, other_store) == "This coupon cannot be used in this store."
    assert redeem(coupon, member, store)[0].status == CouponStatus.USED


# --- Limits ------------------------------------------------------------------------------


def test_per_member_limit_counts_the_members_used_coupons_of_the_offer(member, store):
    offer = OfferFactory(per_member_limit=2)
    first, second, third = (coupon_for(member, offer) for _ in range(3))
    redeem(first, member, store)
    redeem(second, member, store)

    assert refusal(third, member, store) == (
        "This member has already used this offer 2 times, the most allowed."
    )
    # Another member's use of the same offer is theirs alone.
    other = MemberFactory(home_store=store)
    assert redeem(coupon_for(other, offer), other, store)[0].status == CouponStatus.USED


def test_total_limit_across_members(store):
    offer = OfferFactory(total_limit=2)
    members = MemberFactory.create_batch(3, home_store=store)
    coupons = services.coupons_issue(offer=offer, members=members, now=NOW)

    redeem(coupons[members[0].pk], members[0], store)
    redeem(coupons[members[1].pk], members[1], store)

    assert refusal(coupons[members[2].pk], members[2], store) == "This offer has been fully used."
    offer.refresh_from_db()
    assert (offer.used_count, offer.issued_count) == (2, 3)


# --- Refusals ----------------------------------------------------------------------------


def test_a_used_coupon_is_refused_with_when_it_was_used(member, store):
    coupon = coupon_for(member, OfferFactory())
    redeem(coupon, member, store)
    used_at = timezone.localtime(NOW, member.tenant.zone)

    assert refusal(coupon, member, store) == (
        f"This coupon was already used on {used_at:%Y-%m-%d %H:%M}."
    )
    coupon.offer.refresh_from_db()
    assert coupon.offer.used_count == 1


def test_a_voided_coupon_is_refused_and_a_used_one_cannot_be_voided(member, store):
    hq = StaffMemberFactory(role=Role.HQ_ADMIN)
    voided = coupon_for(member, OfferFactory())
    with pytest.raises(ValidationError):
        services.coupon_void(coupon=voided, staff=hq, reason="  ")
    services.coupon_void(coupon=voided, staff=hq, reason="发错了")
    assert refusal(voided, member, store) == "This coupon was voided."
    assert AuditEvent.objects.filter(action="coupon.void", reason="发错了").count() == 1

    used = coupon_for(member, OfferFactory())
    redeem(used, member, store)
    with pytest.raises(ValidationError):
        services.coupon_void(coupon=used, staff=hq, reason="试试")
    used.refresh_from_db()
    assert used.status == CouponStatus.USED


def test_another_members_coupon_is_refused(member, store):
    coupon = coupon_for(member, OfferFactory())
    stranger = MemberFactory(home_store=store)

    assert refusal(coupon, stranger, store) == "This coupon belongs to another member."
    assert refusal(coupon, None, store) == "Coupons are for members: look the member up first."
    assert refusal("NOSUCHCODE", member, store) == "No coupon has this code."
    coupon.refresh_from_db()
    assert coupon.status == CouponStatus.AVAILABLE


def test_available_coupons_are_the_unused_unexpired_ones(member, store):
    offer = OfferFactory()
    soon = OfferFactory(valid_until=NOW + datetime.timedelta(days=2))
    keep = coupon_for(member, offer, now=NOW)
    first = coupon_for(member, soon, now=NOW)
    redeem(coupon_for(member, offer, now=NOW), member, store)

    shown = list(services.coupons_available(member=member, now=NOW))
    assert [c.pk for c in shown] == [first.pk, keep.pk]
    later = list(services.coupons_available(member=member, now=NOW + datetime.timedelta(days=3)))
    assert [c.pk for c in later] == [keep.pk]


# --- Issuing by hand ---------------------------------------------------------------------


def test_issue_by_hand_needs_a_reason_and_a_live_member(member, store):
    hq = StaffMemberFactory(role=Role.HQ_ADMIN)
    offer = OfferFactory()
    with pytest.raises(ValidationError):
        services.coupon_issue_by_hand(offer=offer, member=member, staff=hq, reason="")
    erased = MemberFactory(home_store=store, is_erased=True)
    with pytest.raises(ValidationError):
        services.coupon_issue_by_hand(offer=offer, member=erased, staff=hq, reason="补偿")

    coupon, created = services.coupon_issue_by_hand(
        offer=offer, member=member, staff=hq, reason="投诉补偿"
    )

    assert created and coupon.member == member and coupon.issued_by == hq
    assert len(coupon.code) == services.CODE_LENGTH
    assert set(coupon.code) <= set(services.CODE_ALPHABET)
    assert AuditEvent.objects.filter(action="coupon.issue", reason="投诉补偿").count() == 1
    offer.refresh_from_db()
    assert offer.issued_count == 1


def test_codes_are_unique_within_many_issued_at_once(store):
    members = MemberFactory.create_batch(50, home_store=store)
    coupons = services.coupons_issue(offer=OfferFactory(), members=members, now=NOW)
    assert len({c.code for c in coupons.values()}) == 50
