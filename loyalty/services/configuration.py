"""HQ configuration: saving tiers and the points rule."""

from __future__ import annotations

from django.db import transaction

from customers.models import Customer
from loyalty.models import (
    PointsAccount,
    PointsRule,
    Tier,
)
from tenancy.models import StaffMember
from tenancy.services import audit_record

# --- HQ configuration ---------------------------------------------------------------------


@transaction.atomic
def tier_save(*, tier: Tier, staff: StaffMember) -> Tier:
    """Save a tier; members already in it see its new name and code at once."""
    created = tier.pk is None
    tier.save()
    Customer.objects.filter(
        pk__in=PointsAccount.objects.filter(tier=tier).values("customer_id")
    ).exclude(tier_code=tier.code, tier_name=tier.name).update(
        tier_code=tier.code, tier_name=tier.name
    )
    audit_record(
        action="loyalty.tier_created" if created else "loyalty.tier_changed_rule",
        actor=staff,
        obj=tier,
        after={
            "code": tier.code,
            "order": tier.order,
            "min_spend": tier.min_spend,
            "min_purchases": tier.min_purchases,
            "min_referrals": tier.min_referrals,
            "multiplier": tier.multiplier,
        },
    )
    return tier


@transaction.atomic
def points_rule_save(*, rule: PointsRule, staff: StaffMember) -> PointsRule:
    keys = [
        "points_per_yuan",
        "expiry_months",
        "redeem_points_per_yuan",
        "redeem_minimum",
        "excluded_categories",
        "pending_days",
        "issuance_cap_mode",
        "refund_shortfall",
    ]
    before = PointsRule.objects.filter(pk=rule.pk).values(*keys).first() if rule.pk else None
    rule.save()
    audit_record(
        action="loyalty.rule_changed",
        actor=staff,
        obj=rule,
        before=before or {},
        after={key: getattr(rule, key) for key in keys},
    )
    return rule
