"""Campaign pages through the test client: create, count, preview, send, report, coupons,
outbox and messaging rules, with the store manager's limits and the usual refusals."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns import services
from campaigns.models import (
    Campaign,
    CampaignSettings,
    CampaignStatus,
    CampaignStore,
    Coupon,
    CouponOffer,
    CouponStatus,
    Delivery,
    DeliveryStatus,
)
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.campaigns.factories import CampaignFactory, CouponFactory, CouponOfferFactory
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def members(world):
    """Store A1: 8 members who agreed, 1 who did not, 1 erased. Store A2: 2 who agreed."""
    with tenant_context(world.tenant_a):
        # No quiet hours, so "send now" sends whatever the clock says.
        rules = services.campaign_settings()
        rules.quiet_start = rules.quiet_end = datetime.time(0, 0)
        rules.save()
        a1 = [
            CustomerFactory(
                home_store=world.store_a1,
                marketing_consent=True,
                phone=f"1390000000{n}",
                name=f"甲会员{n}",
            )
            for n in range(8)
        ]
        CustomerFactory(home_store=world.store_a1, marketing_consent=False)
        CustomerFactory(home_store=world.store_a1, marketing_consent=True, is_erased=True)
        a2 = [CustomerFactory(home_store=world.store_a2, marketing_consent=True) for _ in range(2)]
    return {"a1": a1, "a2": a2}


@pytest.fixture
def offer(world):
    with tenant_context(world.tenant_a):
        return CouponOfferFactory(name="满200减30")


def campaign_data(**overrides) -> dict:
    data = {
        "name": "春季回馈",
        "channel": "sms",
        "audience": "filter",
        "template": "{name}您好，满200减30，券码{coupon_code}。",
        "holdout_percent": "0",
        "schedule": "now",
        "effect_days": "14",
    }
    data.update(overrides)
    return data


def test_hq_creates_a_campaign_through_the_form(world, client_for, members, offer):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    page = client.get(reverse("campaigns:campaign_create"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "新建营销活动" in text and "受众人数" in text
    response = client.post(
        reverse("campaigns:campaign_create"),
        campaign_data(offer=offer.pk, holdout_percent="10", birth_month="5"),
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        campaign = Campaign.objects.get()
        assert response["Location"] == reverse("campaigns:campaign_detail", args=[campaign.pk])
        assert campaign.status == CampaignStatus.DRAFT
        assert campaign.criteria == {"birth_month": 5}
        assert (campaign.offer, campaign.holdout_percent) == (offer, 10)
        assert not CampaignStore.objects.exists()  # HQ, no stores: the whole chain
        assert AuditEvent.objects.filter(action="campaign.create").exists()
    detail = client.get(response["Location"]).content.decode()
    assert "生日月份：5" in detail and "全连锁" in detail and "满200减30" in detail


def test_bad_input_comes_back_in_chinese_and_writes_nothing(world, client_for, members):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    response = client.post(
        reverse("campaigns:campaign_create"),
        campaign_data(template="{name}，券码{coupon_code}，{nickname}", schedule="weekly"),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "未知的占位符" in errors["template"][0]
    assert errors["recur_day"] and errors["send_time"]
    assert "请选择要发放的优惠券" in errors["offer"][0]
    segment = client.post(reverse("campaigns:campaign_create"), campaign_data(audience="segment"))
    assert "请选择一个分群。" in segment.content.decode()
    empty = client.post(reverse("campaigns:campaign_create"), {})
    assert "此字段为必填项。" in empty.content.decode()
    with tenant_context(world.tenant_a):
        assert not Campaign.objects.exists()


def test_live_audience_count_shows_eligible_and_each_exclusion(world, client_for, members):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    url = reverse("campaigns:audience_count")
    response = client.get(url, {"channel": "sms", "audience": "filter"})
    counts = response.context["counts"]
    assert (counts.matched, counts.eligible, counts.erased, counts.no_consent) == (12, 10, 1, 1)
    assert "10" in response.content.decode() and "没有营销同意" in response.content.decode()
    one_store = client.get(
        url, {"channel": "sms", "audience": "filter", "stores": world.store_a2.pk}
    )
    assert one_store.context["counts"].eligible == 2
    no_segment = client.get(url, {"channel": "sms", "audience": "segment"})
    assert no_segment.context["counts"] is None


def test_preview_renders_the_message_on_a_real_member(world, client_for, members):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    url = reverse("campaigns:preview")
    params = {"channel": "sms", "audience": "filter", "template": "{name}您好，您在{store}"}
    first = client.get(url, params).content.decode()
    assert "甲会员0您好，您在甲一店" in first
    by_phone = client.get(url, {**params, "member_q": "13900000003"}).content.decode()
    assert "甲会员3您好" in by_phone and "139****0003" in by_phone
    unknown = client.get(url, {**params, "member_q": "13800009999"}).content.decode()
    assert "没有使用此手机号或卡号的会员。" in unknown
    broken = client.get(url, {**params, "template": "{name"}).content.decode()
    assert "消息中有不成对的 { 或 }" in broken


def test_schedule_now_sends_and_the_report_counts_it(
    world, client_for, members, offer, django_capture_on_commit_callbacks
):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    client.post(
        reverse("campaigns:campaign_create"),
        campaign_data(offer=offer.pk, holdout_percent="20"),
    )
    with tenant_context(world.tenant_a):
        campaign = Campaign.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("campaigns:campaign_schedule", args=[campaign.pk]))
    assert response.status_code == 302
    page = client.get(response["Location"])
    text = page.content.decode()
    assert "已批准：活动正在发送。" in text
    report = page.context["report"]
    # 10 eligible: 20% (2) held out, 8 sent with a coupon each; 2 excluded.
    assert (report["totals"]["matched"], report["totals"]["targeted"]) == (12, 8)
    assert report["totals"]["holdout"] == 2 and report["totals"]["excluded"] == 2
    assert (report["sent"], report["failed"], report["queued"]) == (8, 0, 0)
    assert report["coupons_issued"] == 8
    assert 'data-testid="report-sent">8<' in text
    assert "已发送" in text
    with tenant_context(world.tenant_a):
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.DONE
        sent = Delivery.objects.filter(status=DeliveryStatus.SENT)
        assert sent.count() == 8
        assert all(d.coupon_id and d.coupon.code in d.text for d in sent)
    # Sent campaigns cannot be sent again or edited.
    again = client.post(reverse("campaigns:campaign_schedule", args=[campaign.pk]), follow=True)
    assert "只有草稿可以批准发送。" in again.content.decode()
    edit = client.get(reverse("campaigns:campaign_edit", args=[campaign.pk]), follow=True)
    assert "此活动已发送，不能再编辑。" in edit.content.decode()


def test_report_says_when_sales_cannot_be_measured(world, client_for, members):
    from campaigns import effect

    saved = effect._measure
    effect.unregister()
    try:
        with tenant_context(world.tenant_a):
            campaign = CampaignFactory()
        text = (
            client_for(world.staff_a[Role.HQ_STAFF])
            .get(reverse("campaigns:campaign_detail", args=[campaign.pk]))
            .content.decode()
        )
        assert "无法统计销售" in text
    finally:
        effect._measure = saved


def test_report_shows_the_effect_against_the_holdout(world, client_for, members):
    from campaigns import effect

    def measure(*, campaign):
        return {
            "targeted": {"members": 90, "buyers": 18, "revenue": Decimal("9000.00")},
            "holdout": {"members": 10, "buyers": 1, "revenue": Decimal("500.00")},
        }

    saved = effect._measure
    effect.register(measure)
    try:
        with tenant_context(world.tenant_a):
            campaign = CampaignFactory()
        text = (
            client_for(world.staff_a[Role.HQ_ADMIN])
            .get(reverse("campaigns:campaign_detail", args=[campaign.pk]))
            .content.decode()
        )
        assert "¥100.00" in text and "¥50.00" in text  # revenue per member
        assert "20.0%" in text and "10.0%" in text  # conversion
        assert "与对照组相比：人均销售额 +50.00 元，转化率 +10.0 个百分点 (+100.0%)" in text
    finally:
        effect._measure = saved


def test_cancel_needs_a_reason(world, client_for, members):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    with tenant_context(world.tenant_a):
        campaign = CampaignFactory()
    url = reverse("campaigns:campaign_cancel", args=[campaign.pk])
    refused = client.post(url, {"reason": ""}, follow=True)
    assert "请说明取消活动的原因。" in refused.content.decode()
    client.post(url, {"reason": "方案调整"})
    with tenant_context(world.tenant_a):
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.CANCELLED
        assert AuditEvent.objects.get(action="campaign.cancel").reason == "方案调整"


def test_store_manager_is_limited_to_their_own_stores(world, client_for, members):
    manager = world.staff_a[Role.STORE_MANAGER]  # works at store A1
    client = client_for(manager)
    with tenant_context(world.tenant_a):
        chain = CampaignFactory(name="全连锁活动")
        other = CampaignFactory(name="二店活动", stores=[world.store_a2])
        mixed = CampaignFactory(name="两店活动", stores=[world.store_a1, world.store_a2])
        own = CampaignFactory(name="一店活动", stores=[world.store_a1])

    listed = client.get(reverse("campaigns:campaign_list")).content.decode()
    assert "一店活动" in listed
    assert not any(name in listed for name in ("全连锁活动", "二店活动", "两店活动"))
    for campaign in (chain, other, mixed):
        url = reverse("campaigns:campaign_detail", args=[campaign.pk])
        assert client.get(url).status_code == 404
    assert client.get(reverse("campaigns:campaign_detail", args=[own.pk])).status_code == 200

    # A POST naming another store is refused and writes nothing.
    refused = client.post(
        reverse("campaigns:campaign_create"),
        campaign_data(name="越权活动", template="{name}您好", stores=[world.store_a2.pk]),
    )
    assert refused.status_code == 200
    assert refused.context["form"].errors["stores"]
    no_store = client.post(
        reverse("campaigns:campaign_create"), campaign_data(template="{name}您好")
    )
    assert "请至少选择一家您的门店。" in no_store.content.decode()
    with tenant_context(world.tenant_a):
        assert not Campaign.objects.filter(name__in=["越权活动", "春季回馈"]).exists()

    done = client.post(
        reverse("campaigns:campaign_create"),
        campaign_data(name="一店回馈", template="{name}您好", stores=[world.store_a1.pk]),
    )
    assert done.status_code == 302
    with tenant_context(world.tenant_a):
        campaign = Campaign.objects.get(name="一店回馈")
        assert list(campaign.stores.all()) == [world.store_a1]

    # The live count of a manager covers only their stores, even with none ticked.
    counts = client.get(
        reverse("campaigns:audience_count"), {"channel": "sms", "audience": "filter"}
    ).context["counts"]
    assert counts.eligible == 8


def test_clerks_are_refused_and_other_tenants_see_nothing(world, client_for, members):
    clerk = client_for(world.staff_a[Role.CLERK])
    for name in ("campaign_list", "campaign_create", "offer_list", "outbox", "settings"):
        assert clerk.get(reverse(f"campaigns:{name}")).status_code == 403
    with tenant_context(world.tenant_a):
        campaign = CampaignFactory()
        offer = CouponOfferFactory()
    other = client_for(world.staff_b[Role.HQ_ADMIN])
    assert other.get(reverse("campaigns:campaign_detail", args=[campaign.pk])).status_code == 404
    assert other.get(reverse("campaigns:offer_detail", args=[offer.pk])).status_code == 404
    assert other.post(reverse("campaigns:campaign_schedule", args=[campaign.pk])).status_code == (
        404
    )
    hq_staff = client_for(world.staff_a[Role.HQ_STAFF])
    assert hq_staff.get(reverse("campaigns:settings")).status_code == 403


def test_coupon_offer_create_with_clear_errors(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    url = reverse("campaigns:offer_create")
    data = {
        "name": "会员日 9 折",
        "kind": "percent",
        "value": "100",
        "min_spend": "0",
        "valid_from": "2026-12-01T09:00",
        "valid_until": "2026-11-01T09:00",
        "per_member_limit": "1",
        "stores_limit": [world.store_a1.pk],
        "is_active": "on",
    }
    backwards = client.post(url, {**data, "value": "10"})
    assert backwards.status_code == 200
    assert "结束时间必须晚于开始时间。" in backwards.content.decode()
    too_much = client.post(url, {**data, "valid_until": "2027-01-31T21:00"})
    assert "百分比优惠券的折扣必须小于 100%。" in too_much.content.decode()
    missing = client.post(url, {})
    assert missing.context["form"].errors["name"] == ["此字段为必填项。"]
    with tenant_context(world.tenant_a):
        assert not CouponOffer.objects.exists()
    good = client.post(url, {**data, "value": "10", "valid_until": "2027-01-31T21:00"})
    assert good.status_code == 302
    with tenant_context(world.tenant_a):
        offer = CouponOffer.objects.get()
        assert offer.value == Decimal("10") and list(offer.stores.all()) == [world.store_a1]
        # Typed on the tenant's clock (in Beijing, 09:00 is 01:00 UTC), not the server's.
        assert offer.valid_from == datetime.datetime(2026, 12, 1, 9, 0, tzinfo=world.tenant_a.zone)
    listed = client.get(reverse("campaigns:offer_list")).content.decode()
    assert "会员日 9 折" in listed and "甲一店" in listed


def test_issue_by_hand_and_void(world, client_for, members, offer):
    client = client_for(world.staff_a[Role.HQ_STAFF])
    url = reverse("campaigns:offer_issue", args=[offer.pk])
    detail = client.get(reverse("campaigns:offer_detail", args=[offer.pk]))
    token = detail.context["issue_form"].initial["token"]
    no_reason = client.post(url, {"member_q": "13900000001", "reason": "", "token": token})
    assert no_reason.context["issue_form"].errors["reason"]
    unknown = client.post(url, {"member_q": "13811112222", "reason": "补偿", "token": token})
    assert "没有使用此手机号或卡号的会员。" in unknown.content.decode()
    data = {"member_q": "13900000001", "reason": "顾客投诉补偿", "token": token}
    issued = client.post(url, data, follow=True)
    with tenant_context(world.tenant_a):
        coupon = Coupon.objects.get()
        assert coupon.member == members["a1"][1] and coupon.issued_by == world.staff_a["hq_staff"]
    assert f"优惠券 {coupon.code} 已发给 甲会员1。" in issued.content.decode()

    # The same submit again (a double click, a resent page) issues nothing more.
    repeated = client.post(url, data, follow=True)
    assert f"优惠券 {coupon.code} 已经发给 甲会员1，没有重复发放。" in repeated.content.decode()
    with tenant_context(world.tenant_a):
        assert Coupon.objects.count() == 1
        assert AuditEvent.objects.filter(action="coupon.issue").count() == 1

    void_url = reverse("campaigns:coupon_void", args=[coupon.pk])
    refused = client.post(void_url, {"reason": ""}, follow=True)
    assert "请说明作废优惠券的原因。" in refused.content.decode()
    client.post(void_url, {"reason": "误发"})
    again = client.post(void_url, {"reason": "误发"}, follow=True)
    assert "只有未使用的优惠券可以作废。" in again.content.decode()
    with tenant_context(world.tenant_a):
        coupon.refresh_from_db()
        assert coupon.status == CouponStatus.VOID
        assert AuditEvent.objects.get(action="coupon.void").reason == "误发"


def test_settings_save_and_refuse_a_bad_template(world, client_for, offer):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    url = reverse("campaigns:settings")
    data = {
        "frequency_cap": "3",
        "quiet_start": "22:00",
        "quiet_end": "08:30",
        "sms_unsubscribe_text": "退订回TD",
        "birthday_enabled": "on",
        "birthday_send_time": "10:00",
        "birthday_channel": "sms",
        "birthday_template": "{name}生日快乐，券码{coupon_code}",
        "birthday_offer": offer.pk,
        "birthday_points": "200",
    }
    bad = client.post(url, {**data, "birthday_template": "{name}生日快乐{age}"})
    assert "未知的占位符" in bad.content.decode()
    # An instruction naming no word the reply handler knows would lose members' replies.
    mute = client.post(url, {**data, "sms_unsubscribe_text": "请勿回复"})
    assert mute.status_code == 200
    assert "R / T / TD" in mute.content.decode()
    assert client.post(url, data).status_code == 302
    with tenant_context(world.tenant_a):
        rules = CampaignSettings.objects.get()
        assert (rules.frequency_cap, rules.quiet_start) == (3, datetime.time(22, 0))
        assert (rules.birthday_offer, rules.birthday_points) == (offer, 200)
    assert "22:00" in client.get(url).content.decode()


def test_outbox_filters_and_masks_phones(world, client_for, members, offer):
    with tenant_context(world.tenant_a):
        campaign = CampaignFactory(offer=offer, template="{name}，券码{coupon_code}")
        services.campaign_run(campaign=campaign)
        services.deliveries_dispatch()
        Delivery.objects.filter(member=members["a2"][0]).update(
            status=DeliveryStatus.FAILED, last_error="号码停机", attempts=5
        )
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    text = client.get(reverse("campaigns:outbox")).content.decode()
    assert "139****0000" in text and "13900000000" not in text
    failed = client.get(reverse("campaigns:outbox"), {"status": "failed"})
    assert [d.member for d in failed.context["page"].object_list] == [members["a2"][0]]
    assert "号码停机" in failed.content.decode()
    by_campaign = client.get(reverse("campaigns:outbox"), {"campaign": campaign.pk})
    assert by_campaign.context["page"].paginator.count == 10
    today = timezone.localdate(timezone=world.tenant_a.zone).isoformat()
    assert (
        client.get(reverse("campaigns:outbox"), {"day": today}).context["page"].paginator.count
        == 10
    )
    # A store manager sees the messages of their own stores' members only.
    manager = client_for(world.staff_a[Role.STORE_MANAGER])
    mine = manager.get(reverse("campaigns:outbox")).context["page"]
    assert mine.paginator.count == 8
    assert {d.member.home_store_id for d in mine.object_list} == {world.store_a1.pk}


def test_list_pages_keep_their_query_count(
    world, client_for, members, offer, django_assert_max_num_queries
):
    with tenant_context(world.tenant_a):
        for n in range(6):
            campaign = CampaignFactory(
                offer=offer,
                template="{name}，券码{coupon_code}",
                stores=[world.store_a1, world.store_a2],
            )
            if n < 2:
                services.campaign_run(campaign=campaign, occurrence=f"run{n}")
        for n in range(5):
            CouponFactory(offer=CouponOfferFactory(), member=members["a1"][n])
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    for name in ("campaign_list", "offer_list", "outbox"):
        client.get(reverse(f"campaigns:{name}"))  # warm the session and the nav
        with django_assert_max_num_queries(12):
            assert client.get(reverse(f"campaigns:{name}")).status_code == 200
    with django_assert_max_num_queries(14):
        client.get(reverse("campaigns:offer_detail", args=[offer.pk]))
