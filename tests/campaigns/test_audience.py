"""Who a campaign reaches, who it leaves out and why, and when quiet hours hold messages."""

from __future__ import annotations

import datetime

import pytest

from campaigns import services
from campaigns.models import (
    CampaignSettings,
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
)
from customers.models import Customer, CustomerTag
from interactions.models import MemberProfile
from tests.campaigns.factories_services import (
    CampaignFactory,
    MemberFactory,
    past_message,
    restrict_campaign,
)
from tests.clock import local_today_at
from tests.customers.factories import SegmentFactory, TagFactory
from tests.factories import StoreFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

NOON = local_today_at(12)


@pytest.fixture
def store(in_tenant):
    return StoreFactory(name="南京路店")


def run(campaign, now=NOON):
    return services.campaign_run(campaign=campaign, now=now)


def queued_members(campaign) -> set[int]:
    return set(
        Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.QUEUED).values_list(
            "member_id", flat=True
        )
    )


# --- Matching ----------------------------------------------------------------------------


def test_a_segment_campaign_uses_the_segments_conditions_not_its_own(store):
    gold = MemberFactory.create_batch(2, home_store=store, tier_code="gold")
    MemberFactory(home_store=store, tier_code="silver")
    segment = SegmentFactory(criteria={"tier_code": "gold"})
    campaign = CampaignFactory(audience="segment", segment=segment, criteria={"tier_code": "x"})

    counts = services.campaign_audience_counts(campaign=campaign, now=NOON)
    assert (counts.matched, counts.eligible) == (2, 2)

    run(campaign)
    assert queued_members(campaign) == {m.pk for m in gold}


def test_ad_hoc_conditions_and_tags_count_a_member_once(store):
    vip, active = TagFactory(name="高价值客户"), TagFactory(name="活动敏感")
    both, one, neither = MemberFactory.create_batch(3, home_store=store)
    for member, tag in [(both, vip), (both, active), (one, active)]:
        CustomerTag.objects.create(customer=member, tag=tag)
    campaign = CampaignFactory(criteria={"tags": [vip.pk, active.pk]})

    counts = services.campaign_audience_counts(campaign=campaign, now=NOON)
    assert (counts.matched, counts.eligible) == (2, 2)

    result = run(campaign)
    assert result.targeted == 2
    assert queued_members(campaign) == {both.pk, one.pk}
    assert neither.pk not in queued_members(campaign)


def test_a_campaign_restricted_to_stores_reaches_only_their_members(store):
    other = StoreFactory(name="淮海路店")
    ours = MemberFactory(home_store=store)
    MemberFactory(home_store=other)
    campaign = CampaignFactory()
    restrict_campaign(campaign, store)

    assert services.campaign_audience_counts(campaign=campaign, now=NOON).matched == 1
    run(campaign)
    assert queued_members(campaign) == {ours.pk}


# --- Exclusions --------------------------------------------------------------------------


def over_cap(member, cap=4):
    for _ in range(cap):
        past_message(member, days_ago=3)


def test_each_excluded_member_is_counted_once_under_the_first_reason(store):
    ok = MemberFactory.create_batch(2, home_store=store)
    MemberFactory(home_store=store, marketing_consent=False)
    erased = MemberFactory(home_store=store, is_erased=True)
    over_cap(erased)  # erased comes first: not counted again under the cap
    no_consent_and_capped = MemberFactory(home_store=store, marketing_consent=False)
    over_cap(no_consent_and_capped)
    capped = MemberFactory(home_store=store)
    over_cap(capped)
    # A merged member is the survivor's duplicate: not part of any audience at all.
    merged = MemberFactory(home_store=store)
    Customer.objects.filter(pk=merged.pk).update(merged_into=ok[0])
    campaign = CampaignFactory()

    counts = services.campaign_audience_counts(campaign=campaign, now=NOON)
    assert counts == services.AudienceCounts(
        matched=6, erased=1, no_consent=2, over_cap=1, eligible=2
    )
    assert counts.excluded == 4

    result = run(campaign)
    assert (result.matched, result.targeted) == (6, 2)
    assert (result.excluded_erased, result.excluded_consent, result.excluded_cap) == (1, 2, 1)
    assert queued_members(campaign) == {m.pk for m in ok}


def test_the_frequency_cap_counts_only_recent_live_marketing_messages(store):
    rules = services.campaign_settings()
    rules.frequency_cap = 3
    rules.save()
    at_cap = MemberFactory(home_store=store, name="满额")
    for _ in range(3):
        past_message(at_cap, days_ago=29)
    below = MemberFactory(home_store=store, name="未满")
    for _ in range(2):
        past_message(below)
    # None of these count: an old one, a failed one, a holdout row, service messages.
    past_message(below, days_ago=31)
    past_message(below, status=DeliveryStatus.FAILED)
    past_message(below, status=DeliveryStatus.HOLDOUT, is_marketing=False)
    past_message(below, kind=DeliveryKind.BIRTHDAY, is_marketing=False)
    past_message(below, kind=DeliveryKind.SURVEY, is_marketing=False)
    campaign = CampaignFactory()

    result = run(campaign)

    assert result.excluded_cap == 1
    assert queued_members(campaign) == {below.pk}
    # The message just queued is the third for `below`: the next campaign leaves them out.
    assert services.audience_counts(criteria={}, now=NOON).over_cap == 2


def test_in_store_campaigns_ignore_the_cap(store):
    capped = MemberFactory(home_store=store)
    over_cap(capped)
    counts = services.audience_counts(criteria={}, channel=Channel.IN_STORE, now=NOON)
    assert (counts.over_cap, counts.eligible) == (0, 1)


def test_members_without_an_address_for_the_channel_are_counted(store):
    with_phone = MemberFactory(home_store=store)
    MemberFactory(home_store=store, phone=None)
    with_mail = MemberFactory(home_store=store, email="li@example.com")
    with_wechat = MemberFactory(home_store=store)
    MemberProfile.objects.filter(member=with_wechat).update(wechat_id="oWx_123")

    sms = run(CampaignFactory(channel=Channel.SMS))
    mail_campaign = CampaignFactory(channel=Channel.EMAIL)
    mail = run(mail_campaign)
    wechat_campaign = CampaignFactory(channel=Channel.WECHAT)
    wechat = run(wechat_campaign)

    assert (sms.targeted, sms.excluded_no_address) == (3, 1)
    assert (mail.targeted, mail.excluded_no_address) == (1, 3)
    assert Delivery.objects.get(campaign=mail_campaign).member == with_mail
    assert Delivery.objects.get(campaign=mail_campaign).address == "li@example.com"
    assert (wechat.targeted, wechat.excluded_no_address) == (1, 3)
    assert Delivery.objects.get(campaign=wechat_campaign).address == "oWx_123"
    # The address is encrypted at rest: compared after reading, not in SQL.
    assert with_phone.pk in {
        d.member_id for d in Delivery.objects.filter(run=sms) if d.address == with_phone.phone
    }


# --- Quiet hours -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "inside", "outside"),
    [
        # 21:00-09:00 spans midnight.
        ("21:00", "09:00", ["21:00", "23:59", "00:00", "08:59"], ["09:00", "12:00", "20:59"]),
        ("13:00", "14:00", ["13:00", "13:59"], ["12:59", "14:00", "23:00"]),
        # Equal start and end: no quiet hours at all.
        ("22:00", "22:00", [], ["22:00", "03:00"]),
    ],
)
def test_quiet_hours_window(start, end, inside, outside):
    def t(text):
        return datetime.time.fromisoformat(text)

    rules = CampaignSettings(quiet_start=t(start), quiet_end=t(end))
    assert [x for x in inside if not rules.in_quiet_hours(t(x))] == []
    assert [x for x in outside if rules.in_quiet_hours(t(x))] == []


@pytest.mark.parametrize(
    ("hour", "release_day_offset"),
    [(22, 1), (3, 0)],
    ids=["late-evening-waits-for-tomorrow", "small-hours-wait-for-this-morning"],
)
def test_a_run_inside_quiet_hours_queues_for_their_end(store, hour, release_day_offset):
    MemberFactory.create_batch(3, home_store=store)
    now = local_today_at(hour)
    release = (now + datetime.timedelta(days=release_day_offset)).replace(hour=9)
    campaign = CampaignFactory()

    result = run(campaign, now=now)

    assert (result.targeted, result.held_quiet) == (3, 3)
    assert set(Delivery.objects.values_list("next_attempt_at", flat=True)) == {release}
    # The dispatcher before the end sends nothing; at the end it sends them all.
    assert services.deliveries_dispatch(now=release - datetime.timedelta(minutes=1))["sent"] == 0
    assert services.deliveries_dispatch(now=release)["sent"] == 3


def test_a_run_outside_quiet_hours_is_due_at_once(store):
    MemberFactory(home_store=store)
    result = run(CampaignFactory(), now=NOON)
    assert result.held_quiet == 0
    assert Delivery.objects.get().next_attempt_at == NOON


def test_an_email_campaign_is_not_held_like_the_dispatcher_does_not_hold_email(store):
    MemberFactory(home_store=store, email="li@example.com")
    evening = local_today_at(22)

    result = run(CampaignFactory(channel=Channel.EMAIL), now=evening)

    assert (result.targeted, result.held_quiet) == (1, 0)
    assert Delivery.objects.get().next_attempt_at == evening
    assert services.deliveries_dispatch(now=evening)["sent"] == 1


def test_in_store_campaigns_are_not_held(store):
    MemberFactory(home_store=store)
    result = run(CampaignFactory(channel=Channel.IN_STORE), now=local_today_at(23))
    assert result.held_quiet == 0
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_the_dispatcher_holds_phone_and_wechat_in_quiet_hours_but_not_email(store, clock):
    member = MemberFactory(home_store=store, email="li@example.com")
    MemberProfile.objects.filter(member=member).update(wechat_id="oWx_1")
    # Queued and dispatched at 22:00: the queue stamps the messages with the clock's time.
    evening = clock.at(22)
    for channel in (Channel.SMS, Channel.WECHAT, Channel.EMAIL):
        services.message_queue(member=member, text="您的问卷", kind=DeliveryKind.SURVEY,
                               channel=channel)  # fmt: skip
    tomorrow_nine = (evening + datetime.timedelta(days=1)).replace(hour=9)

    result = services.deliveries_dispatch(now=evening)

    assert (result["sent"], result["held"]) == (1, 2)
    status = dict(Delivery.objects.values_list("channel", "status"))
    assert status == {
        Channel.EMAIL: DeliveryStatus.SENT,
        Channel.SMS: DeliveryStatus.QUEUED,
        Channel.WECHAT: DeliveryStatus.QUEUED,
    }
    held = Delivery.objects.filter(status=DeliveryStatus.QUEUED)
    assert set(held.values_list("next_attempt_at", flat=True)) == {tomorrow_nine}

    assert services.deliveries_dispatch(now=tomorrow_nine)["sent"] == 2


def test_quiet_hours_follow_the_tenants_settings(store):
    rules = services.campaign_settings()
    rules.quiet_start = datetime.time(12, 0)
    rules.quiet_end = datetime.time(13, 30)
    rules.save()
    MemberFactory(home_store=store)

    result = run(CampaignFactory(), now=NOON)

    assert result.held_quiet == 1
    assert Delivery.objects.get().next_attempt_at == NOON.replace(hour=13, minute=30)
