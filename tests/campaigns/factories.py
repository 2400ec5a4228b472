"""Factories for campaign rows; tenant-owned rows take their tenant from the context."""

from __future__ import annotations

import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from campaigns.models import Campaign, CampaignStore, Channel, Coupon, CouponOffer, DiscountKind


class CouponOfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CouponOffer

    name = factory.Sequence(lambda n: f"满200减{n + 10}")
    kind = DiscountKind.FIXED
    value = Decimal("30.00")
    min_spend = Decimal("200.00")
    valid_from = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=1))
    valid_until = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=30))


class CouponFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Coupon

    offer = factory.SubFactory(CouponOfferFactory)
    code = factory.Sequence(lambda n: f"TEST{n:06d}")
    valid_until = factory.LazyAttribute(lambda o: o.offer.valid_until)


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"活动{n}")
    channel = Channel.SMS
    template = "{name}您好，本周会员日全场九折。"

    @factory.post_generation
    def stores(obj, create, extracted, **kwargs):
        for store in extracted or []:
            CampaignStore.objects.create(campaign=obj, store=store)
