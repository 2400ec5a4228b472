"""Demo coupon offers, campaigns (one sent with a holdout group, one recurring, one draft),
a birthday greeting and the outbox, written through the services.

Idempotent: each part is skipped when its named row exists. Sending happens at a noon on
the tenant's clock, outside quiet hours, so the report shows sent messages whatever
the time `make run` is started; the sent campaign is dated ten days back so that analytics'
demo sales give its report an effect to show.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from campaigns import services
from campaigns.models import (
    Audience,
    BirthdayGreeting,
    Campaign,
    CampaignRun,
    Channel,
    Coupon,
    CouponOffer,
    Delivery,
    DiscountKind,
    Schedule,
)
from customers.models import Customer, Segment
from stores.models import Store
from tenancy.models import Role, StaffMember, Tenant

SENT_NAME = "春季回馈 满200减30"
WEEKLY_NAME = "周六会员日 9折"
DRAFT_NAME = "三月生日会员关怀"
MANAGER_NAME = "本店新品到店通知"


def _last_noon(tenant: Tenant) -> datetime.datetime:
    local = timezone.localtime(timezone.now(), tenant.zone)
    noon = local.replace(hour=12, minute=0, second=0, microsecond=0)
    return noon if noon <= local else noon - datetime.timedelta(days=1)


def _offer(name: str, *, staff, stores=(), **fields) -> CouponOffer:
    found = CouponOffer.objects.filter(name=name).first()
    if found is not None:
        return found
    return services.coupon_offer_save(
        offer=CouponOffer(name=name, **fields), stores=list(stores), staff=staff
    )


def seed(tenant: Tenant, *, stdout=None, quick: bool = False) -> None:
    """Runs inside tenant_context(tenant)."""
    admin = StaffMember.objects.filter(role=Role.HQ_ADMIN).order_by("pk").first()
    stores = list(Store.objects.order_by("code"))
    if admin is None or not stores or not Customer.objects.exists():
        return
    noon = _last_noon(tenant)
    start = noon - datetime.timedelta(days=30)
    spring = _offer(
        "满200减30",
        staff=admin,
        kind=DiscountKind.FIXED,
        value=Decimal("30.00"),
        min_spend=Decimal("200.00"),
        valid_from=start,
        valid_until=noon + datetime.timedelta(days=60),
        total_limit=5000,
    )
    member_day = _offer(
        "会员日 9 折券",
        staff=admin,
        stores=stores[:1],
        kind=DiscountKind.PERCENT,
        value=Decimal("10"),
        valid_from=start,
        valid_until=noon + datetime.timedelta(days=180),
        valid_days=7,
    )
    birthday = _offer(
        "生日礼券 20 元",
        staff=admin,
        kind=DiscountKind.FIXED,
        value=Decimal("20.00"),
        valid_from=start,
        valid_until=noon + datetime.timedelta(days=365),
        valid_days=30,
    )
    rules = services.campaign_settings()
    if rules.birthday_offer_id is None:
        rules.birthday_offer = birthday
        rules.birthday_points = 100
        services.campaign_settings_save(rules=rules, staff=admin)

    if not Campaign.objects.filter(name=SENT_NAME).exists():
        campaign = services.campaign_save(
            campaign=Campaign(
                name=SENT_NAME,
                channel=Channel.SMS,
                audience=Audience.FILTER,
                criteria={},
                template="{name}您好！{store}春季回馈：满200减30元，券码{coupon_code}，"
                "到店出示即可使用。",
                offer=spring,
                holdout_percent=10,
                schedule=Schedule.NOW,
                effect_days=14,
            ),
            store_ids=[],
            staff=admin,
        )
        # Sent ten days ago, so the demo sales that analytics seeds next fall in its effect
        # window and the report compares the targeted members with the holdout group.
        sent = noon - datetime.timedelta(days=10)
        campaign = services.campaign_schedule(campaign=campaign, staff=admin, now=sent)
        run = services.campaign_run(campaign=campaign, staff=admin, now=sent)
        services.deliveries_dispatch(now=sent)
        Campaign.objects.filter(pk=campaign.pk).update(created_at=sent - datetime.timedelta(days=1))
        CampaignRun.objects.filter(pk=run.pk).update(started_at=sent)
        Delivery.objects.filter(run=run).update(created_at=sent)
        Delivery.objects.filter(run=run, sent_at__isnull=False).update(sent_at=sent)

    if not Campaign.objects.filter(name=WEEKLY_NAME).exists():
        weekly = services.campaign_save(
            campaign=Campaign(
                name=WEEKLY_NAME,
                channel=Channel.IN_STORE,
                audience=Audience.FILTER,
                criteria={},
                template="{name}，周六会员日到{store}全场9折，券码{coupon_code}。",
                offer=member_day,
                schedule=Schedule.WEEKLY,
                recur_day=6,
                send_time=datetime.time(10, 0),
            ),
            store_ids=[stores[0].pk],
            staff=admin,
        )
        services.campaign_schedule(campaign=weekly, staff=admin, now=noon)

    segment = Segment.objects.filter(name="三月生日会员").first()
    if segment is not None and not Campaign.objects.filter(name=DRAFT_NAME).exists():
        services.campaign_save(
            campaign=Campaign(
                name=DRAFT_NAME,
                channel=Channel.SMS,
                audience=Audience.SEGMENT,
                segment=segment,
                template="{name}，三月是您的生日月，{tier}会员专享好礼等您来{store}领取。",
                schedule=Schedule.AT,
                send_at=noon + datetime.timedelta(days=7),
            ),
            store_ids=[],
            staff=admin,
        )

    # A store manager's own campaign, limited to their stores, waiting to be approved.
    manager = StaffMember.objects.filter(role=Role.STORE_MANAGER).order_by("pk").first()
    if (
        manager is not None
        and manager.store_ids
        and not Campaign.objects.filter(name=MANAGER_NAME).exists()
    ):
        services.campaign_save(
            campaign=Campaign(
                name=MANAGER_NAME,
                channel=Channel.SMS,
                audience=Audience.FILTER,
                criteria={},
                template="{name}您好，{store}新品已到店，欢迎到店选购。",
                holdout_percent=10,
                schedule=Schedule.AT,
                send_at=noon + datetime.timedelta(days=3),
            ),
            store_ids=sorted(manager.store_ids),
            staff=manager,
        )

    if not Coupon.objects.filter(offer=member_day, campaign__isnull=True).exists():
        member = Customer.objects.active().order_by("pk").first()
        services.coupon_issue_by_hand(
            offer=member_day, member=member, staff=admin, reason="顾客投诉补偿"
        )

    if not BirthdayGreeting.objects.exists():
        _greet_one_birthday(noon)

    # A member's SMS reply that is not an unsubscribe word: the record exists, consent stays.
    replier = Customer.objects.active().exclude(phone=None).order_by("pk").first()
    if replier is not None:
        services.sms_reply_receive(
            provider="generic",
            message_id="demo-reply-1",
            phone=replier.phone,
            text="收到，谢谢",
            received_at=noon,
        )


def _greet_one_birthday(noon: datetime.datetime) -> None:
    """Greet the member whose birthday passed most recently this year (or the first one)."""
    today = noon.date()
    members = Customer.objects.filter(
        is_erased=False, marketing_consent=True, birth_month__isnull=False
    )
    passed = (
        members.filter(birth_month__lt=today.month)
        | members.filter(birth_month=today.month, birth_day__lte=today.day)
    ).order_by("-birth_month", "-birth_day", "pk")
    member = passed.first() or members.order_by("pk").first()
    if member is None:
        return
    day = datetime.date(today.year, member.birth_month, min(member.birth_day or 1, 28))
    services.birthday_send_batch(member_ids=[member.pk], today=day, now=noon)
