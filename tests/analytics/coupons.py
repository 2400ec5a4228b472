"""Coupon offers and coupons for sale tests, made through campaigns' own issuing service."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from campaigns.models import Coupon, CouponOffer, CouponOfferStore, DiscountKind
from campaigns.services import coupons_issue


def offer(
    *,
    kind: str = DiscountKind.FIXED,
    value: str = "20.00",
    min_spend: str = "0.00",
    total_limit: int | None = None,
    per_member_limit: int = 1,
    stores=(),
    name: str = "",
) -> CouponOffer:
    now = timezone.now()
    made = CouponOffer.objects.create(
        name=name or f"{value} {kind}",
        kind=kind,
        value=Decimal(value),
        min_spend=Decimal(min_spend),
        valid_from=now - datetime.timedelta(days=1),
        valid_until=now + datetime.timedelta(days=30),
        total_limit=total_limit,
        per_member_limit=per_member_limit,
    )
    for store in stores:
        CouponOfferStore.objects.create(offer=made, store=store)
    return made


def coupon_for(member, of: CouponOffer | None = None, **offer_kwargs) -> Coupon:
    of = of or offer(**offer_kwargs)
    return coupons_issue(offer=of, members=[member])[member.pk]
