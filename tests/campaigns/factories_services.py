"""Data for the campaigns service tests: members who may be messaged, offers, campaigns.

Times are explicit: every service that decides "which day" or "quiet hours" is given `now`, and
a test that compares it with rows the services stamp stops the clock there (the `clock`
fixture), so a test never depends on the hour the suite happens to run at.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from campaigns import services
from campaigns.models import (
    Campaign,
    CampaignStore,
    Channel,
    Coupon,
    CouponOffer,
    CouponOfferStore,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
)
from tests.campaigns.factories import CampaignFactory as BaseCampaignFactory
from tests.campaigns.factories import CouponOfferFactory
from tests.factories import CustomerFactory


class MemberFactory(CustomerFactory):
    """A member who agreed to marketing messages (the ones campaigns may reach)."""

    marketing_consent = True


class OfferFactory(CouponOfferFactory):
    """The one offer factory (tests/campaigns/factories.py) with a ¥10 coupon, no minimum."""

    name = factory.Sequence(lambda n: f"满减券{n}")
    value = Decimal("10.00")
    min_spend = Decimal("0.00")


class CampaignFactory(BaseCampaignFactory):
    """The one campaign factory, with a template that names the member's store."""

    template = "{name}您好，{store}本周会员日。"
    criteria = factory.LazyFunction(dict)


def restrict_offer(offer: CouponOffer, *stores) -> None:
    for store in stores:
        CouponOfferStore.objects.create(offer=offer, store=store)


def restrict_campaign(campaign: Campaign, *stores) -> None:
    for store in stores:
        CampaignStore.objects.create(campaign=campaign, store=store)


def coupon_for(member, offer: CouponOffer, **kwargs) -> Coupon:
    return services.coupons_issue(offer=offer, members=[member], **kwargs)[member.pk]


def past_message(member, *, days_ago: int = 1, **kwargs) -> Delivery:
    """A message sent to `member` some days ago (created_at is auto_now_add, so moved after)."""
    kwargs.setdefault("kind", DeliveryKind.CAMPAIGN)
    kwargs.setdefault("status", DeliveryStatus.SENT)
    kwargs.setdefault("channel", Channel.SMS)
    kwargs.setdefault("key", f"past:{member.pk}:{Delivery.objects.count()}")
    delivery = Delivery.objects.create(member=member, text="以前的消息", **kwargs)
    Delivery.objects.filter(pk=delivery.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=days_ago)
    )
    return delivery
