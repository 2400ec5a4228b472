"""Birthday greetings: the tenant's day and time, Feb 29, once a year whatever happens."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns import services, tasks
from campaigns.models import (
    BirthdayGreeting,
    Channel,
    Coupon,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
)
from customers.models import Customer
from loyalty.models import PointsAccount, PointsEntry
from tenancy.context import current_tenant, tenant_context
from tests.campaigns.factories_services import MemberFactory, OfferFactory
from tests.factories import StoreFactory, TenantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def local(*args) -> datetime.datetime:
    """A wall-clock time of the current tenant (Beijing, or Urumqi when CI says so)."""
    return datetime.datetime(*args, tzinfo=current_tenant().zone)


@pytest.fixture
def store(in_tenant):
    return StoreFactory(name="南京路店")


def born(store, month, day, **kwargs) -> Customer:
    return MemberFactory(home_store=store, birth_month=month, birth_day=day, **kwargs)


def greet_today(now: datetime.datetime, **kwargs) -> int:
    """What the fan-out and its batch tasks do, inline: returns members greeted."""
    today, batches = services.birthday_batches(now=now, **kwargs)
    return sum(
        services.birthday_send_batch(member_ids=batch, today=today, now=now) for batch in batches
    )


def ids_due(now) -> list[int]:
    _, batches = services.birthday_batches(now=now)
    return [pk for batch in batches for pk in batch]


# --- Whose birthday, and when ------------------------------------------------------------


def test_todays_birthdays_from_the_greeting_time_on(store):
    today = born(store, 6, 10, name="李娜")
    born(store, 6, 11)
    born(store, 5, 10)

    assert services.birthday_batches(now=local(2026, 6, 10, 8, 59)) == (None, [])
    assert services.birthday_batches(now=local(2026, 6, 10, 9, 0)) == (
        datetime.date(2026, 6, 10),
        [[today.pk]],
    )


def test_the_greeting_time_is_the_tenants_setting(store):
    born(store, 6, 10)
    rules = services.campaign_settings()
    rules.birthday_send_time = datetime.time(10, 30)
    rules.save()
    assert ids_due(local(2026, 6, 10, 10, 29)) == []
    assert len(ids_due(local(2026, 6, 10, 10, 30))) == 1
    rules.birthday_enabled = False
    rules.save()
    assert services.birthday_batches(now=local(2026, 6, 10, 12)) == (None, [])


@pytest.mark.parametrize(
    ("instant", "urumqi", "shanghai"),
    [
        # 22:30 on June 9 in Urumqi, 00:30 on June 10 in Shanghai (before 09:00).
        (datetime.datetime(2026, 6, 9, 16, 30, tzinfo=datetime.UTC), "06-09", None),
        # 07:30 in Urumqi (too early), 09:30 in Shanghai.
        (datetime.datetime(2026, 6, 10, 1, 30, tzinfo=datetime.UTC), None, "06-10"),
        # 09:00 in Urumqi, 11:00 in Shanghai: both greet June 10.
        (datetime.datetime(2026, 6, 10, 3, 0, tzinfo=datetime.UTC), "06-10", "06-10"),
    ],
    ids=["urumqi-still-june-9", "shanghai-past-nine", "both"],
)
def test_each_tenant_greets_by_its_own_clock(db, instant, urumqi, shanghai):
    greeted = {}
    for zone in ("Asia/Urumqi", "Asia/Shanghai"):
        tenant = TenantFactory(slug=zone.split("/")[1].lower(), time_zone=zone)
        with tenant_context(tenant):
            store = StoreFactory()
            members = {"06-09": born(store, 6, 9).pk, "06-10": born(store, 6, 10).pk}
            due = ids_due(instant)
            greeted[zone] = next((day for day, pk in members.items() if due == [pk]), None)
            assert len(due) <= 1
    assert greeted == {"Asia/Urumqi": urumqi, "Asia/Shanghai": shanghai}


def test_feb_29_birthdays_on_feb_28_in_common_years_and_feb_29_in_leap_years(store):
    leap = born(store, 2, 29, name="闰日")
    feb28 = born(store, 2, 28, name="二月底")

    assert set(ids_due(local(2027, 2, 28, 9))) == {leap.pk, feb28.pk}
    assert greet_today(local(2027, 2, 28, 9)) == 2
    assert ids_due(local(2027, 3, 1, 9)) == []

    assert ids_due(local(2028, 2, 28, 9)) == [feb28.pk]
    assert ids_due(local(2028, 2, 29, 9)) == [leap.pk]
    assert greet_today(local(2028, 2, 28, 9)) == 1
    assert greet_today(local(2028, 2, 29, 9)) == 1
    assert greet_today(local(2028, 2, 29, 15)) == 0
    greetings = BirthdayGreeting.objects.filter(member=leap).order_by("year")
    assert list(greetings.values_list("year", flat=True)) == [2027, 2028]
    assert Delivery.objects.filter(member=leap, kind=DeliveryKind.BIRTHDAY).count() == 2


def test_no_consent_erased_or_merged_members_get_nothing(store):
    greeted = born(store, 6, 10)
    born(store, 6, 10, marketing_consent=False)
    born(store, 6, 10, is_erased=True)
    merged = born(store, 6, 10)
    Customer.objects.filter(pk=merged.pk).update(merged_into=greeted)

    assert greet_today(local(2026, 6, 10, 9)) == 1

    assert list(BirthdayGreeting.objects.values_list("member_id", flat=True)) == [greeted.pk]
    assert list(Delivery.objects.values_list("member_id", flat=True)) == [greeted.pk]


def test_consent_withdrawn_after_the_batch_was_cut_is_respected(store):
    member = born(store, 6, 10)
    now = local(2026, 6, 10, 9)
    today, batches = services.birthday_batches(now=now)
    Customer.objects.filter(pk=member.pk).update(marketing_consent=False)

    assert services.birthday_send_batch(member_ids=batches[0], today=today, now=now) == 0
    assert not Delivery.objects.exists()


# --- What the member gets ----------------------------------------------------------------


@pytest.fixture
def gifts(store):
    rules = services.campaign_settings()
    rules.birthday_offer = OfferFactory(
        name="生日券",
        value=Decimal("20.00"),
        valid_from=local(2026, 1, 1),
        valid_until=local(2027, 1, 1),
        valid_days=30,
    )
    rules.birthday_points = 188
    rules.birthday_template = "{name}生日快乐！送您{points}积分和券{coupon_code}。{store}"
    rules.save()
    return rules


def test_the_greeting_brings_the_coupon_and_points_once(store, gifts):
    member = born(store, 6, 10, name="王芳")
    now = local(2026, 6, 10, 9)

    assert greet_today(now) == 1
    assert greet_today(now + datetime.timedelta(hours=3)) == 0
    assert services.birthday_send_batch(member_ids=[member.pk], today=now.date(), now=now) == 0

    coupon = Coupon.objects.get(member=member)
    assert coupon.offer == gifts.birthday_offer
    assert coupon.valid_until == now + datetime.timedelta(days=30)
    account = PointsAccount.objects.get(customer=member)
    assert account.balance == 188
    assert PointsEntry.objects.filter(source_key=f"birthday:2026:{member.pk}").count() == 1
    delivery = Delivery.objects.get(member=member)
    assert delivery.text == f"王芳生日快乐！送您188积分和券{coupon.code}。南京路店拒收请回复R"
    assert (delivery.kind, delivery.status, delivery.coupon) == (
        DeliveryKind.BIRTHDAY,
        DeliveryStatus.SENT,
        coupon,
    )
    assert delivery.is_marketing is False


def test_an_ended_birthday_offer_still_greets_without_a_coupon(store, gifts):
    member = born(store, 6, 10)
    assert greet_today(local(2027, 6, 10, 9)) == 1  # the offer ended on 2027-01-01
    assert not Coupon.objects.exists()
    assert Delivery.objects.get(member=member).status == DeliveryStatus.SENT


def test_a_member_without_a_phone_gets_the_gifts_but_no_pretend_message(store, gifts):
    member = born(store, 6, 10, phone=None)

    assert greet_today(local(2026, 6, 10, 9)) == 1

    assert Coupon.objects.filter(member=member).count() == 1
    assert PointsAccount.objects.get(customer=member).balance == 188
    delivery = Delivery.objects.get(member=member)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error == "no address for this channel"


def test_wechat_birthday_greetings_go_to_the_openid(store):
    from interactions.models import MemberProfile

    rules = services.campaign_settings()
    rules.birthday_channel = Channel.WECHAT
    rules.save()
    member = born(store, 6, 10)
    MemberProfile.objects.filter(member=member).update(wechat_id="oWx_b")

    greet_today(local(2026, 6, 10, 9))

    assert Delivery.objects.get().address == "oWx_b"


# --- Exactly once, whatever happens ------------------------------------------------------


class CountingSender:
    calls: list = []
    fail_with: Exception | None = None

    def send(self, delivery) -> str:
        if CountingSender.fail_with is not None:
            raise CountingSender.fail_with
        CountingSender.calls.append(delivery.member_id)
        return ""


@pytest.fixture
def counting(settings):
    settings.CAMPAIGN_SENDERS = {"sms": "tests.campaigns.test_birthday.CountingSender"}
    CountingSender.calls, CountingSender.fail_with = [], None
    yield CountingSender
    CountingSender.calls, CountingSender.fail_with = [], None


def test_running_the_same_batch_twice_greets_each_member_once(store, counting):
    members = [born(store, 6, 10) for _ in range(3)]
    now = local(2026, 6, 10, 9)
    today, [batch] = services.birthday_batches(now=now)

    assert services.birthday_send_batch(member_ids=batch, today=today, now=now) == 3
    assert services.birthday_send_batch(member_ids=batch, today=today, now=now) == 0
    assert greet_today(now) == 0

    assert sorted(counting.calls) == sorted(m.pk for m in members)
    assert BirthdayGreeting.objects.count() == 3
    assert Delivery.objects.count() == 3


def test_a_crash_after_the_claims_commit_then_a_rerun_greets_once(store, counting, monkeypatch):
    members = [born(store, 6, 10) for _ in range(3)]
    now = local(2026, 6, 10, 9)

    def crash(**kwargs):
        raise RuntimeError("worker killed before sending")

    with monkeypatch.context() as patched:
        patched.setattr("campaigns.services.birthdays.deliveries_dispatch", crash)
        with pytest.raises(RuntimeError):
            greet_today(now)

    # The claims, gifts and queued messages committed; nothing was sent.
    assert BirthdayGreeting.objects.count() == 3
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.QUEUED}
    assert counting.calls == []

    # The re-run (beat again, or someone by hand) finds everyone claimed and sends nothing.
    assert greet_today(now + datetime.timedelta(minutes=5)) == 0
    assert counting.calls == []

    # The dispatcher's next round sends the queued greetings, once each.
    services.deliveries_dispatch(now=now + datetime.timedelta(minutes=1))
    services.deliveries_dispatch(now=now + datetime.timedelta(minutes=2))
    assert sorted(counting.calls) == sorted(m.pk for m in members)
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}


def test_a_provider_outage_leaves_the_greeting_queued_for_a_retry(store, counting):
    from campaigns.senders import SendError

    member = born(store, 6, 10)
    now = local(2026, 6, 10, 9)
    counting.fail_with = SendError("gateway down")

    assert greet_today(now) == 1
    assert Delivery.objects.get().status == DeliveryStatus.QUEUED

    counting.fail_with = None
    assert greet_today(now + datetime.timedelta(minutes=2)) == 0
    services.deliveries_dispatch(now=now + datetime.timedelta(minutes=2))
    assert counting.calls == [member.pk]


def test_a_crash_inside_the_batch_leaves_no_claims_behind(store, gifts, counting, monkeypatch):
    members = [born(store, 6, 10) for _ in range(3)]
    now = local(2026, 6, 10, 9)
    from loyalty import services as loyalty

    real_award = loyalty.points_award
    awarded = []

    def award_then_crash(**kwargs):
        if awarded:
            raise RuntimeError("database went away")
        awarded.append(kwargs["customer"].pk)
        return real_award(**kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(loyalty, "points_award", award_then_crash)
        with pytest.raises(RuntimeError):
            greet_today(now)

    # All or nothing: no claim, coupon, points or message survived the failed batch...
    assert not BirthdayGreeting.objects.exists()
    assert not Coupon.objects.exists()
    assert not PointsEntry.objects.exists()
    assert not Delivery.objects.exists()
    # ...so the re-run greets everyone, once.
    assert greet_today(now) == 3
    assert sorted(counting.calls) == sorted(m.pk for m in members)
    assert PointsEntry.objects.count() == 3


# --- Batches and the fan-out task --------------------------------------------------------


def test_birthdays_are_cut_into_batches(store):
    members = [born(store, 6, 10) for _ in range(25)]
    today, batches = services.birthday_batches(now=local(2026, 6, 10, 9), batch_size=10)
    assert today == datetime.date(2026, 6, 10)
    assert [len(b) for b in batches] == [10, 10, 5]
    assert [pk for b in batches for pk in b] == sorted(m.pk for m in members)


def test_the_fan_out_enqueues_one_task_per_thousand_members(in_tenant, store, monkeypatch):
    today = timezone.localtime(timezone.now(), in_tenant.zone).date()
    rules = services.campaign_settings()
    rules.birthday_send_time = datetime.time(0, 0)
    rules.save()
    Customer.objects.bulk_create(
        Customer(
            phone=f"150{n:08d}",
            card_number=f"B{n:09d}",
            name=f"寿星{n}",
            home_store=store,
            marketing_consent=True,
            birth_month=today.month,
            birth_day=today.day,
        )
        for n in range(2345)
    )
    queued = []
    monkeypatch.setattr(
        tasks.birthday_batch, "delay", lambda tenant_id, ids, day: queued.append((ids, day))
    )

    assert tasks.birthday_fan_out.delay(in_tenant.pk).get() == 3

    assert [len(ids) for ids, _day in queued] == [1000, 1000, 345]
    assert {day for _ids, day in queued} == {today.isoformat()}
    assert len({pk for ids, _day in queued for pk in ids}) == 2345


def test_the_fan_out_task_greets_todays_members_end_to_end(in_tenant, store):
    today = timezone.localtime(timezone.now(), in_tenant.zone).date()
    rules = services.campaign_settings()
    rules.birthday_send_time = datetime.time(0, 0)
    rules.quiet_start = rules.quiet_end  # whatever the hour of the test run
    rules.save()
    members = [born(store, today.month, today.day) for _ in range(3)]

    assert tasks.birthday_fan_out.delay(in_tenant.pk).get() == 1

    sent = Delivery.objects.filter(kind=DeliveryKind.BIRTHDAY, status=DeliveryStatus.SENT)
    assert sorted(sent.values_list("member_id", flat=True)) == sorted(m.pk for m in members)
    assert tasks.birthday_fan_out.delay(in_tenant.pk).get() == 0
