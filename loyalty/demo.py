"""Demo tiers, points rule and points history, written through the services (idempotent:
every write carries a fixed source key, so running it again changes nothing)."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from django.utils import timezone

from customers.models import Customer
from loyalty import services
from loyalty.models import StorePointsCap, Tier
from stores.models import Ownership, Store
from tenancy.dates import add_months, tenant_today
from tenancy.models import Role, StaffMember, Tenant

TIERS = [
    # order, code, name, spend, purchases, multiplier, benefits
    (0, "NORMAL", "普通会员", "0", 0, "1.00", "生日当月积分双倍"),
    (1, "SILVER", "银卡", "2000", 10, "1.20", "积分 1.2 倍；每季度一张 95 折券"),
    (2, "GOLD", "金卡", "8000", 30, "1.50", "积分 1.5 倍；免费包装；专属客服"),
    (3, "DIAMOND", "钻石卡", "30000", 0, "2.00", "积分 2 倍；新品优先购；年度礼盒"),
]


def seed(tenant: Tenant, *, stdout=None, quick: bool = False) -> None:
    """Runs inside tenant_context(tenant)."""
    if not Tier.objects.exists():
        for order, code, name, spend, purchases, multiplier, benefits in TIERS:
            Tier.objects.create(
                order=order,
                code=code,
                name=name,
                min_spend=Decimal(spend),
                min_purchases=purchases,
                multiplier=Decimal(multiplier),
                benefits=benefits,
                # Retention (保级): three months' grace, kept at half the entry spend; the
                # next tier up can be bought with points (积分升级).
                retention_months=3 if order else 0,
                retain_min_spend=Decimal(spend) / 2 if order else None,
                upgrade_points={1: 3000, 2: 12000}.get(order, 0),
            )
    rule = services.points_rule()
    if not rule.excluded_categories:
        rule.excluded_categories = ["烟草", "礼品卡"]
        rule.tier_purchase = True
        rule.save()
    stores = list(Store.objects.select_related("store_type").order_by("code"))
    members = list(Customer.objects.order_by("pk")[: 4 if quick else 60])
    clerk = StaffMember.objects.filter(role=Role.CLERK).first()
    if not stores or not members:
        return
    if not StorePointsCap.objects.exists():
        # A generous monthly cap on the flagship: the demo shows its counter, never a refusal.
        services.store_points_cap_set(store=stores[0], monthly_cap=5_000_000, staff=None)
    rng = random.Random(f"{tenant.slug}-loyalty")
    now = timezone.now()
    for index, member in enumerate(members):
        store = stores[index % len(stores)]
        # One old sale whose points expire at the end of this month (an expiry notice),
        # then a few recent ones.
        services.points_earn_for_sale(
            customer=member,
            source_key=f"demo-sale:{member.pk}:old",
            amount=Decimal("300.00"),
            store=store,
            occurred_at=add_months(now, -rule.expiry_months),
        )
        for n in range(1 if quick else rng.randint(1, 8)):
            services.points_earn_for_sale(
                customer=member,
                source_key=f"demo-sale:{member.pk}:{n}",
                amount=Decimal(rng.randint(50, 3000)),
                store=store,
                occurred_at=now - datetime.timedelta(days=rng.randint(1, 300)),
            )
        if index % 2 == 0:
            services.points_redeem(
                customer=member,
                points=rule.redeem_minimum,
                source_key=f"demo-redeem:{member.pk}",
                store=store,
                staff=clerk,
                reason="兑换购物袋",
            )
    # A member who earned at a directly operated store spends points at a franchise store:
    # HQ owes the franchise store for them, on this month's settlement statement.
    franchise = next((s for s in stores if s.store_type.ownership != Ownership.DIRECT), None)
    spender = next(
        (
            m
            for i, m in enumerate(members)
            if stores[i % len(stores)].pk != getattr(franchise, "pk", None)
        ),
        None,
    )
    if franchise is not None and spender is not None:
        services.points_redeem(
            customer=spender,
            points=rule.redeem_minimum,
            source_key=f"demo-redeem-franchise:{spender.pk}",
            store=franchise,
            staff=clerk,
            reason="加盟店兑换",
        )
        services.settlement_generate(month=tenant_today(tenant))
    services.points_notify_expiring()
