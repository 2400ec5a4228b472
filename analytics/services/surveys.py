"""Satisfaction surveys after purchases: a sampled share of recent buyers, once per period."""

from __future__ import annotations

import datetime
import hashlib

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from analytics.models import (
    Sale,
)
from customers.models import Customer
from interactions.models import Survey
from interactions.services import (
    survey_request,
)
from tenancy.context import current_tenant

# --- Satisfaction surveys after purchases ------------------------------------------------------

# Tenant settings (Tenant.settings): the share of recent buyers asked, and how often one
# member may be asked at most. A rate of 0 (the default) turns the survey off.
SURVEY_RATE_SETTING = "survey_purchase_sample_rate"
SURVEY_GAP_SETTING = "survey_purchase_min_days"
DEFAULT_SURVEY_GAP_DAYS = 90
# Asked a little after the purchase (not at the till), and only about recent purchases.
SURVEY_DELAY = datetime.timedelta(hours=2)
SURVEY_WINDOW = datetime.timedelta(hours=48)


def _sampled(sale_id: int, rate: float) -> bool:
    """The same answer for the same sale at every run, so hourly repeats keep the rate."""
    digest = hashlib.sha256(f"purchase-survey:{sale_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def purchase_surveys_send(*, now: datetime.datetime | None = None) -> int:
    """Ask a sample of recent buyers how their visit went; returns how many were asked.

    Hourly through beat. A member is asked at most once per `survey_purchase_min_days`
    (any survey after a purchase counts), only with marketing consent, about their latest
    sampled purchase from 2 to 48 hours ago. A repeat run asks nobody twice.
    """
    tenant = current_tenant()
    try:
        rate = float(tenant.setting(SURVEY_RATE_SETTING, 0) or 0)
        gap = int(tenant.setting(SURVEY_GAP_SETTING, DEFAULT_SURVEY_GAP_DAYS))
    except (TypeError, ValueError):
        return 0
    if rate <= 0:
        return 0
    now = now or timezone.now()
    since = now - datetime.timedelta(days=gap)
    after_purchases = Survey.objects.filter(case__isnull=True, created_at__gt=since)
    asked_lately = after_purchases.filter(member=OuterRef("member_id"))
    recent = (
        Sale.objects.filter(
            occurred_at__gt=now - SURVEY_WINDOW,
            occurred_at__lte=now - SURVEY_DELAY,
            refund_of__isnull=True,
            member__isnull=False,
            member__marketing_consent=True,
            member__is_erased=False,
        )
        .exclude(Exists(asked_lately))
        .select_related("member", "store")
        .order_by("member_id", "-occurred_at", "-pk")
    )
    asked = 0
    seen: set[int] = set()
    for sale in recent.iterator(chunk_size=1000):
        if sale.member_id in seen or not _sampled(sale.pk, rate):
            continue
        seen.add(sale.member_id)
        with transaction.atomic():
            # Take turns per member: an overlapping run must not ask them a second time.
            Customer.objects.select_for_update().filter(pk=sale.member_id).first()
            if after_purchases.filter(member=sale.member_id).exists():
                continue
            survey_request(
                member=sale.member,
                store=sale.store,
                kind=tenant.setting("survey_kind", "csat"),
                sale_reference=str(sale.pk),
            )
        asked += 1
    return asked
