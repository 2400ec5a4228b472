"""Running a campaign: one outbox row per member and occurrence, holdout, coupons, schedules."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from campaigns import services, tasks
from campaigns.models import (
    CampaignRun,
    CampaignStatus,
    Channel,
    Coupon,
    Delivery,
    DeliveryStatus,
    Schedule,
)
from interactions.models import MemberProfile
from loyalty import services as loyalty
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.campaigns.factories_services import (
    CampaignFactory,
    MemberFactory,
    OfferFactory,
    past_message,
)
from tests.clock import local_today_at
from tests.factories import StaffMemberFactory, StoreFactory, TenantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

NOON = local_today_at(12)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def store(in_tenant):
    return StoreFactory(name="南京路店")


@pytest.fixture
def hq(in_tenant):
    return StaffMemberFactory(role=Role.HQ_ADMIN)


def run(campaign, occurrence="once", now=NOON):
    return services.campaign_run(campaign=campaign, occurrence=occurrence, now=now)


# --- Once per occurrence -----------------------------------------------------------------


def test_running_a_campaign_twice_queues_nothing_the_second_time(store):
    MemberFactory.create_batch(3, home_store=store)
    campaign = CampaignFactory(offer=OfferFactory(), template="{name}：{coupon_code}")

    first = run(campaign)
    second = run(campaign)

    assert first.targeted == 3
    assert second is None
    assert CampaignRun.objects.count() == 1
    assert Delivery.objects.count() == 3
    assert Coupon.objects.count() == 3
    # A repeated task for the same occurrence does nothing either.
    assert services.campaign_run_due(campaign_id=campaign.pk, occurrence="once") is None


def test_a_now_campaign_is_done_after_its_run_and_audited(store, hq):
    MemberFactory(home_store=store)
    campaign = CampaignFactory(schedule=Schedule.NOW, status=CampaignStatus.SCHEDULED)
    services.campaign_run(campaign=campaign, staff=hq, now=NOON)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE
    event = AuditEvent.objects.get(action="campaign.run")
    assert event.after["targeted"] == 1


def test_the_message_is_rendered_per_member(store):
    member = MemberFactory(home_store=store, name="李娜", tier_name="金卡")
    loyalty.points_award(customer=member, points=320, source_key="gift:1", reason="测试")
    campaign = CampaignFactory(template="{name}（{tier}）您有{points}积分，{store}欢迎您")

    run(campaign)

    assert Delivery.objects.get().text == "李娜（金卡）您有320积分，南京路店欢迎您拒收请回复R"


# --- Holdout -----------------------------------------------------------------------------


def test_the_holdout_group_gets_a_record_but_no_message_and_no_coupon(store):
    members = MemberFactory.create_batch(20, home_store=store)
    offer = OfferFactory()
    campaign = CampaignFactory(holdout_percent=25, offer=offer, template="{coupon_code}")

    result = run(campaign)

    assert (result.matched, result.targeted, result.holdout) == (20, 15, 5)
    held = Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.HOLDOUT)
    held_ids = set(held.values_list("member_id", flat=True))
    assert len(held_ids) == 5
    assert set(held.values_list("text", flat=True)) == {""}
    assert not held.filter(coupon__isnull=False).exists()
    assert not held.filter(is_marketing=True).exists()
    assert not Coupon.objects.filter(member_id__in=held_ids).exists()
    queued = set(
        Delivery.objects.filter(status=DeliveryStatus.QUEUED).values_list("member_id", flat=True)
    )
    assert queued == {m.pk for m in members} - held_ids
    offer.refresh_from_db()
    assert offer.issued_count == 15
    # The dispatcher never sends a holdout row.
    assert services.deliveries_dispatch(now=NOON)["sent"] == 15
    assert held.count() == 5


# --- Coupons -----------------------------------------------------------------------------


def test_each_targeted_member_gets_their_own_coupon_named_in_the_message(store):
    members = MemberFactory.create_batch(4, home_store=store)
    offer = OfferFactory()
    campaign = CampaignFactory(offer=offer, template="{name}，您的券码{coupon_code}，满百可用")

    run(campaign)

    deliveries = list(Delivery.objects.select_related("coupon", "member"))
    assert len(deliveries) == 4
    for delivery in deliveries:
        coupon = delivery.coupon
        assert coupon.member_id == delivery.member_id
        assert coupon.campaign_id == campaign.pk
        assert (
            delivery.text == f"{delivery.member.name}，您的券码{coupon.code}，满百可用拒收请回复R"
        )
    assert {d.member_id for d in deliveries} == {m.pk for m in members}


def test_members_without_an_address_get_no_coupon_either(store):
    MemberFactory(home_store=store)
    MemberFactory(home_store=store, phone=None)
    campaign = CampaignFactory(offer=OfferFactory(), template="{coupon_code}")

    result = run(campaign)

    assert (result.targeted, result.excluded_no_address, result.excluded) == (1, 1, 1)
    assert Coupon.objects.count() == 1


def test_an_in_store_campaign_records_sent_with_the_coupon_and_ignores_the_cap(store):
    capped = MemberFactory(home_store=store, phone=None)
    for _ in range(4):
        past_message(capped)
    campaign = CampaignFactory(
        channel=Channel.IN_STORE, offer=OfferFactory(), template="到店出示{coupon_code}"
    )

    result = run(campaign)

    assert (result.targeted, result.excluded_cap, result.excluded_no_address) == (1, 0, 0)
    delivery = Delivery.objects.get(campaign=campaign)
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.sent_at == NOON
    assert delivery.coupon.member_id == capped.pk
    assert delivery.address == ""
    # Nothing was sent to the member's phone, so it does not count against the cap.
    assert delivery.is_marketing is False


# --- Query counts ------------------------------------------------------------------------


def wechat_campaign(store, new_members: int):
    for member in MemberFactory.create_batch(new_members, home_store=store):
        MemberProfile.objects.filter(member=member).update(wechat_id=f"oWx_{member.pk}")
    return CampaignFactory(
        channel=Channel.WECHAT,
        offer=OfferFactory(),
        holdout_percent=10,
        template="{name}{tier}{points}{store}{coupon_code}",
    )


def test_a_run_costs_the_same_queries_for_5_or_60_members(store, django_assert_max_num_queries):
    small = wechat_campaign(store, 5)
    with CaptureQueriesContext(connection) as queries:
        assert run(small).targeted == 5
    large = wechat_campaign(store, 55)

    with django_assert_max_num_queries(len(queries)):
        result = run(large)

    assert (result.targeted, result.holdout) == (54, 6)


def test_bigger_audiences_cost_a_fixed_number_of_queries_per_batch(store, monkeypatch):
    monkeypatch.setattr("campaigns.services.runs.BATCH", 10)  # where the run reads it
    MemberFactory.create_batch(10, home_store=store)
    with CaptureQueriesContext(connection) as one_batch:
        run(CampaignFactory(offer=OfferFactory(), template="{coupon_code}"))
    MemberFactory.create_batch(20, home_store=store)
    with CaptureQueriesContext(connection) as three_batches:
        run(CampaignFactory(offer=OfferFactory(), template="{coupon_code}"))
    per_batch = (len(three_batches) - len(one_batch)) / 2
    assert per_batch <= 6, per_batch
    assert Delivery.objects.count() == 40


# --- Schedules ---------------------------------------------------------------------------


def recurring(schedule, day, at="10:00", **kwargs):
    return CampaignFactory(
        schedule=schedule,
        recur_day=day,
        send_time=datetime.time.fromisoformat(at),
        status=CampaignStatus.RUNNING,
        **kwargs,
    )


def test_a_weekly_campaign_is_due_on_its_weekday_after_its_time_once_a_day(store):
    MemberFactory(home_store=store)
    monday = local_today_at(10)
    monday -= datetime.timedelta(days=monday.isoweekday() - 1)
    campaign = recurring(Schedule.WEEKLY, 1)
    occurrence = monday.date().isoformat()

    assert services.campaigns_due(now=monday - datetime.timedelta(minutes=1)) == []
    assert services.campaigns_due(now=monday) == [(campaign.pk, occurrence)]
    run(campaign, occurrence, now=monday)
    assert services.campaigns_due(now=monday + datetime.timedelta(hours=5)) == []
    assert services.campaigns_due(now=monday + datetime.timedelta(days=1)) == []
    next_monday = monday + datetime.timedelta(days=7)
    assert services.campaigns_due(now=next_monday) == [
        (campaign.pk, next_monday.date().isoformat())
    ]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING


def test_a_monthly_campaign_and_its_last_day(store):
    fifteenth = local_today_at(10).replace(day=15)
    campaign = recurring(Schedule.MONTHLY, 15, ends_on=fifteenth.date())

    assert services.campaigns_due(now=fifteenth.replace(day=14)) == []
    assert services.campaigns_due(now=fifteenth) == [(campaign.pk, fifteenth.date().isoformat())]
    next_month = (fifteenth + datetime.timedelta(days=31)).replace(day=15)
    assert services.campaigns_due(now=next_month) == []
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE


def test_the_member_day_is_the_tenants_day():
    """17:30 UTC on a Monday: still Monday 23:30 in Urumqi, already Tuesday in Shanghai."""
    instant = datetime.datetime(2026, 6, 8, 17, 30, tzinfo=datetime.UTC)
    assert instant.astimezone(zoneinfo.ZoneInfo("Asia/Urumqi")).isoweekday() == 1
    due, campaigns = {}, {}
    for zone in ("Asia/Urumqi", "Asia/Shanghai"):
        tenant = TenantFactory(slug=zone.split("/")[1].lower(), time_zone=zone)
        with tenant_context(tenant):
            campaigns[zone] = recurring(Schedule.WEEKLY, 1).pk
            due[zone] = services.campaigns_due(now=instant)
    assert due == {"Asia/Urumqi": [(campaigns["Asia/Urumqi"], "2026-06-08")], "Asia/Shanghai": []}


def test_a_scheduled_campaign_is_due_at_its_time_and_runs_once(store, hq):
    MemberFactory(home_store=store)
    later = NOON + datetime.timedelta(hours=2)
    campaign = CampaignFactory(schedule=Schedule.AT, send_at=later)
    services.campaign_schedule(campaign=campaign, staff=hq, now=NOON)

    assert services.campaigns_due(now=later - datetime.timedelta(seconds=1)) == []
    assert services.campaigns_due(now=later) == [(campaign.pk, "once")]
    services.campaign_run_due(campaign_id=campaign.pk, occurrence="once")
    assert services.campaigns_due(now=later) == []
    assert Delivery.objects.count() == 1


def test_a_time_already_past_cannot_be_scheduled(store, hq):
    campaign = CampaignFactory(schedule=Schedule.AT, send_at=NOON - datetime.timedelta(hours=1))
    with pytest.raises(ValidationError):
        services.campaign_schedule(campaign=campaign, staff=hq, now=NOON)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_the_run_due_task_runs_each_due_campaign(
    store, in_tenant, django_capture_on_commit_callbacks
):
    MemberFactory.create_batch(2, home_store=store)
    campaign = CampaignFactory(schedule=Schedule.NOW, status=CampaignStatus.SCHEDULED,
                               send_at=timezone.now() - datetime.timedelta(minutes=1))  # fmt: skip

    with django_capture_on_commit_callbacks(execute=False):
        assert tasks.run_due.delay(in_tenant.pk).get() == 1

    assert CampaignRun.objects.filter(campaign=campaign).count() == 1
    assert Delivery.objects.filter(campaign=campaign).count() == 2


def test_a_draft_or_cancelled_campaign_does_not_run(store, hq):
    MemberFactory(home_store=store)
    draft = CampaignFactory()
    assert services.campaign_run_due(campaign_id=draft.pk, occurrence="once") is None
    weekly = recurring(Schedule.WEEKLY, 1)
    services.campaign_cancel(campaign=weekly, staff=hq)
    assert services.campaign_run_due(campaign_id=weekly.pk, occurrence="2026-06-08") is None
    assert not Delivery.objects.exists()


# --- Cancelling --------------------------------------------------------------------------


def test_cancelling_a_recurring_campaign_stops_its_queued_messages(store, hq):
    MemberFactory.create_batch(2, home_store=store)
    campaign = recurring(Schedule.WEEKLY, 1)
    run(campaign, "2026-06-08", now=local_today_at(23))  # held for quiet hours

    services.campaign_cancel(campaign=campaign, staff=hq, reason="文案有误")

    assert set(Delivery.objects.values_list("status", "last_error")) == {
        (DeliveryStatus.FAILED, "campaign cancelled")
    }
    assert services.deliveries_dispatch(now=NOON + datetime.timedelta(days=1))["sent"] == 0
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED
    assert AuditEvent.objects.filter(action="campaign.cancel", reason="文案有误").exists()
    with pytest.raises(ValidationError):
        services.campaign_cancel(campaign=campaign, staff=hq)


def test_a_sent_campaign_held_for_quiet_hours_can_still_be_stopped(store, hq):
    """Run at 23:00, its messages wait for 09:00: HQ notices a mistake and cancels."""
    MemberFactory.create_batch(2, home_store=store)
    campaign = CampaignFactory(schedule=Schedule.NOW, status=CampaignStatus.SCHEDULED)
    run(campaign, now=local_today_at(23))

    services.campaign_cancel(campaign=campaign, staff=hq, reason="发错了")

    assert not Delivery.objects.filter(status=DeliveryStatus.QUEUED).exists()
    # Once everything went out there is nothing left to stop.
    done = CampaignFactory(schedule=Schedule.NOW, status=CampaignStatus.SCHEDULED)
    run(done)
    services.deliveries_dispatch(now=NOON)
    with pytest.raises(ValidationError):
        services.campaign_cancel(campaign=done, staff=hq)


# --- Templates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{name}，{tier}会员，{points}积分，{store}，券码{coupon_code}",
        "没有占位符也可以",
        "双括号{{不是占位符}}",
    ],
)
def test_templates_with_known_placeholders_are_accepted(template):
    services.template_check(template)


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("{nmae}您好", "Unknown placeholder: {nmae}"),
        ("{name您好", "unmatched"),
        ("您好}", "unmatched"),
        ("{phone}{name}", "Unknown placeholder: {phone}"),
        ("{name.__class__}", "Unknown placeholder"),
        ("{0}", "Unknown placeholder"),
        # Valid Python format syntax that the rendering cannot fill for every member.
        ("{}您好", "placeholder"),
        ("{name!r}", "placeholder"),
        ("{points:d}{name:d}", "placeholder"),
    ],
)
def test_templates_that_cannot_be_filled_are_refused(template, says):
    with pytest.raises(ValidationError) as caught:
        services.template_check(template)
    assert says in caught.value.messages[0]


def test_a_campaign_cannot_be_saved_with_a_bad_template_or_a_missing_coupon(store, hq):
    campaign = CampaignFactory.build(template="{nmae}，券码{coupon_code}")
    with pytest.raises(ValidationError) as caught:
        services.campaign_save(campaign=campaign, store_ids=[], staff=hq)
    assert set(caught.value.message_dict) == {"template", "offer"}


def test_a_campaign_whose_coupon_has_ended_stops_instead_of_failing_every_minute(store, in_tenant):
    MemberFactory(home_store=store)
    offer = OfferFactory(
        valid_from=NOON - datetime.timedelta(days=30), valid_until=NOON - datetime.timedelta(days=1)
    )
    weekday = timezone.localtime(timezone.now(), in_tenant.zone).isoweekday()
    campaign = recurring(
        Schedule.WEEKLY, weekday, at="00:00", offer=offer, template="{coupon_code}"
    )
    assert len(services.campaigns_due()) == 1

    assert tasks.run_due.delay(in_tenant.pk).get() == 1  # no error raised at the beat tick

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED
    assert AuditEvent.objects.get(action="campaign.cancel").reason == (
        f"The coupon offer {offer.name} has ended."
    )
    assert services.campaigns_due() == []
    assert not Delivery.objects.exists()
    assert not CampaignRun.objects.exists()
