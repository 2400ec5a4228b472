"""The membership anniversary greeting: once a year per member, on the tenant's day."""

from __future__ import annotations

import calendar
import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from interactions import hooks
from interactions.models import (
    AnniversaryGreeting,
    BehaviourAward,
    Interaction,
    Lead,
    MemberProfile,
    Referral,
    ServiceCase,
    Survey,
)
from interactions.services.surveys import _tenant
from tenancy.dates import tenant_today

# ---------------------------------------------------------------------------------------
# Membership anniversary greeting


def anniversaries_greet(*, today: datetime.date | None = None) -> int:
    """Greet members whose membership anniversary is today (tenant's day); returns how many.

    Feb 29 enrolments are greeted on Feb 28 in common years. Only members who agreed to
    marketing messages, and only when a sender is installed (campaigns). Each greeting's
    claim row is committed before sending, so a repeat run the same year sends nothing.
    """
    sender = hooks.get("greeting_sender")
    if sender is None:
        return 0
    today = today or tenant_today()
    days = [today.strftime("%m-%d")]
    if today.month == 2 and today.day == 28 and not calendar.isleap(today.year):
        days.append("02-29")
    due = (
        MemberProfile.objects.filter(
            anniversary__in=days,
            member__is_erased=False,
            member__marketing_consent=True,
        )
        .select_related("member")
        .order_by("pk")
    )
    greeted = 0
    zone = _tenant().zone
    for profile in due.iterator(chunk_size=500):
        member = profile.member
        years = today.year - timezone.localtime(member.created_at, zone).year
        if years < 1:
            continue  # enrolled this very day of this year
        try:
            with transaction.atomic():
                claim = AnniversaryGreeting.objects.create(member=member, year=today.year)
        except IntegrityError:
            continue  # greeted already this year
        text = _("Happy %(years)s-year membership anniversary, %(name)s! Thank you.") % {
            "years": years,
            "name": member.name,
        }
        sender(member=member, text=text, kind="anniversary")
        AnniversaryGreeting.objects.filter(pk=claim.pk).update(sent_at=timezone.now())
        greeted += 1
    return greeted


def interactions_merge(*, source: Customer, target: Customer) -> None:
    """Move a merged-away member's contacts, cases, leads, surveys and claims to the survivor.

    Runs inside customers' merge transaction (member_merged). One-per-member rows (profile,
    referral, behaviour and anniversary claims) move only where the survivor has none, so a
    reward or greeting already claimed by the survivor is never claimed twice.
    """
    for model in (Interaction, ServiceCase, Lead, Survey):
        model.objects.filter(member=source).update(member=target)
    source_profile = MemberProfile.objects.filter(member=source).first()
    target_profile = MemberProfile.objects.filter(member=target).first()
    if source_profile is not None:
        if target_profile is None:
            source_profile.member = target
            source_profile.save()
        else:
            for field in (
                "wechat_id",
                "occupation",
                "interests",
                "preferred_brands",
                "preferred_categories",
                "price_sensitivity",
            ):
                if not getattr(target_profile, field) and getattr(source_profile, field):
                    setattr(target_profile, field, getattr(source_profile, field))
            target_profile.save()
            source_profile.delete()
    # Who referred the survivor stays; the source's own referral is kept only if none exists.
    if Referral.objects.filter(referred=target).exists():
        Referral.objects.filter(referred=source).delete()
    else:
        Referral.objects.filter(referred=source).exclude(referrer=target).update(referred=target)
        Referral.objects.filter(referred=source).delete()
    # Members the source referred are now the survivor's referrals (never the survivor itself).
    Referral.objects.filter(referrer=source, referred=target).delete()
    Referral.objects.filter(referrer=source).update(referrer=target)
    for model, key in ((BehaviourAward, "behaviour"), (AnniversaryGreeting, "year")):
        claimed = set(model.objects.filter(member=target).values_list(key, flat=True))
        model.objects.filter(member=source, **{f"{key}__in": claimed}).delete()
        model.objects.filter(member=source).update(member=target)
