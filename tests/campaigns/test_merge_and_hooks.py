"""Campaigns as a neighbour: a member merge moves coupons, messages and birthday claims;
interactions and loyalty send their messages through our outbox."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from campaigns import services
from campaigns.models import (
    BirthdayGreeting,
    Channel,
    Coupon,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
)
from customers.models import Customer
from customers.services import customer_merge
from interactions import hooks
from interactions import services as interactions
from loyalty import services as loyalty
from loyalty.models import ExpiryNotice, PointsAccount
from tenancy.models import Role
from tests.campaigns.factories_services import (
    CampaignFactory,
    MemberFactory,
    OfferFactory,
    coupon_for,
    past_message,
)
from tests.clock import local_today_at
from tests.factories import StaffMemberFactory, StoreFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def store(in_tenant):
    return StoreFactory(name="南京路店")


# --- Merge -------------------------------------------------------------------------------


def test_a_merge_moves_coupons_messages_and_birthday_claims_to_the_survivor(store):
    source = MemberFactory(home_store=store, name="张伟（重复）")
    target = MemberFactory(home_store=store, name="张伟")
    offer = OfferFactory()
    source_coupon = coupon_for(source, offer)
    # Both were reached by the same run: the survivor keeps its own row for it.
    campaign = CampaignFactory()
    run = services.campaign_run(campaign=campaign, now=local_today_at(12))
    source_old = past_message(source, days_ago=2)
    BirthdayGreeting.objects.create(member=source, year=2025)
    BirthdayGreeting.objects.create(member=source, year=2026)
    BirthdayGreeting.objects.create(member=target, year=2026)

    customer_merge(source=source, target=target, staff=StaffMemberFactory(role=Role.HQ_ADMIN))

    assert list(Coupon.objects.filter(member=target)) == [source_coupon]
    assert not Coupon.objects.filter(member=source).exists()
    assert not Delivery.objects.filter(member=source).exists()
    assert Delivery.objects.filter(run=run, member=target).count() == 1
    assert Delivery.objects.get(pk=source_old.pk).member == target
    claims = BirthdayGreeting.objects.order_by("year")
    assert list(claims.values_list("member_id", "year")) == [(target.pk, 2025), (target.pk, 2026)]


@pytest.mark.parametrize("contacted", ["source", "target"])
def test_a_merged_member_contacted_through_either_record_is_no_longer_holdout(store, contacted):
    """One person held out as one record and messaged as the other heard the campaign."""
    source = MemberFactory(home_store=store, name="王芳（重复）")
    target = MemberFactory(home_store=store, name="王芳")
    run = services.campaign_run(campaign=CampaignFactory(), now=local_today_at(12))
    held, messaged = (target, source) if contacted == "source" else (source, target)
    Delivery.objects.filter(run=run, member=held).update(
        status=DeliveryStatus.HOLDOUT, text="", is_marketing=False
    )

    customer_merge(source=source, target=target, staff=StaffMemberFactory(role=Role.HQ_ADMIN))

    (row,) = Delivery.objects.filter(run=run, member=target)
    assert row.status == DeliveryStatus.QUEUED and row.text
    assert not Delivery.objects.filter(member=source).exists()


def test_a_member_held_out_as_both_records_stays_holdout(store):
    source = MemberFactory(home_store=store)
    target = MemberFactory(home_store=store)
    run = services.campaign_run(campaign=CampaignFactory(), now=local_today_at(12))
    Delivery.objects.filter(run=run).update(status=DeliveryStatus.HOLDOUT, text="")

    customer_merge(source=source, target=target, staff=StaffMemberFactory(role=Role.HQ_ADMIN))

    (row,) = Delivery.objects.filter(run=run)
    assert (row.member_id, row.status) == (target.pk, DeliveryStatus.HOLDOUT)


def test_after_a_merge_the_survivor_is_not_greeted_twice_the_same_year(store):
    source = MemberFactory(home_store=store, birth_month=6, birth_day=10)
    target = MemberFactory(home_store=store, birth_month=6, birth_day=10)
    now = datetime.datetime(2026, 6, 10, 9, tzinfo=source.tenant.zone)
    services.birthday_send_batch(member_ids=[source.pk], today=now.date(), now=now)

    customer_merge(source=source, target=target, staff=StaffMemberFactory(role=Role.HQ_ADMIN))

    assert services.birthday_batches(now=now) == (now.date(), [])
    assert Delivery.objects.filter(kind=DeliveryKind.BIRTHDAY).get().member == target
    assert Customer.objects.get(pk=source.pk).merged_into == target


# --- interactions' senders ---------------------------------------------------------------


def test_survey_and_greeting_hooks_queue_a_service_message(store):
    member = MemberFactory(home_store=store, phone="13600000002")
    assert hooks.get("survey_sender") is services.send_via_outbox
    assert hooks.get("greeting_sender") is services.send_via_outbox

    hooks.get("survey_sender")(member=member, text="请为本次服务打分：https://x/s/1", kind="survey")

    delivery = Delivery.objects.get()
    assert (delivery.kind, delivery.channel, delivery.address) == (
        DeliveryKind.SURVEY,
        Channel.SMS,
        "13600000002",
    )
    assert delivery.status == DeliveryStatus.QUEUED
    assert delivery.is_marketing is False
    assert delivery.text == "请为本次服务打分：https://x/s/1"


def test_the_membership_anniversary_is_greeted_through_the_outbox(store):
    member = MemberFactory(home_store=store, name="周杰")
    enrolled = timezone.now() - datetime.timedelta(days=800)
    Customer.objects.filter(pk=member.pk).update(created_at=enrolled)
    member.refresh_from_db()
    member.save()  # interactions recomputes the anniversary key from created_at
    day = timezone.localtime(enrolled, member.tenant.zone).date().replace(year=2028)

    assert interactions.anniversaries_greet(today=day) == 1
    assert interactions.anniversaries_greet(today=day) == 0

    delivery = Delivery.objects.get()
    assert delivery.kind == DeliveryKind.ANNIVERSARY
    assert "周杰" in delivery.text


# --- loyalty's expiry notices ------------------------------------------------------------


def test_points_expiry_notices_become_one_message_each(store):
    member = MemberFactory(home_store=store, name="吴敏")
    erased = MemberFactory(home_store=store)
    for customer in (member, erased):
        loyalty.points_award(customer=customer, points=300, source_key=f"g:{customer.pk}",
                             reason="测试")  # fmt: skip
    notices = [
        ExpiryNotice.objects.create(
            account=PointsAccount.objects.get(customer=customer),
            expires_on=datetime.date(2026, 12, 31),
            points=120,
        )
        for customer in (member, erased)
    ]
    Customer.objects.filter(pk=erased.pk).update(is_erased=True, phone=None)

    assert services.points_expiry_notices_queue() == 1
    assert services.points_expiry_notices_queue() == 0

    delivery = Delivery.objects.get()
    assert delivery.member == member
    assert delivery.key == f"points_expiry:{notices[0].pk}"
    assert delivery.kind == DeliveryKind.POINTS_EXPIRY
    assert "120" in delivery.text and "2026-12-31" in delivery.text
    # Both notices are done with: the erased member's is not retried every night.
    assert not ExpiryNotice.objects.filter(sent_at__isnull=True).exists()
