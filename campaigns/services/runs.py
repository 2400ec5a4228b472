"""Campaigns: saving, scheduling, the live audience count, runs (each occurrence once) and what
a run queues.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import hooks
from campaigns.models import (
    Audience,
    Campaign,
    CampaignRun,
    CampaignSettings,
    CampaignStatus,
    CampaignStore,
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Schedule,
)
from campaigns.services.common import (
    BATCH,
    CAP_WINDOW,
    LIVE_STATUSES,
    QUIET_CHANNELS,
    _address,
    _local,
    _now,
    _points_balances,
    _store_names,
    _wechat_ids,
    campaign_settings,
    member_message,
    quiet_hours_end,
    template_check,
)
from campaigns.services.coupons import coupons_issue
from campaigns.services.unsubscribe import marketing_text
from customers.models import Customer
from customers.selectors import segment_filter
from tenancy.models import StaffMember
from tenancy.services import audit_record

# ---------------------------------------------------------------------------------------
# Campaigns: saving, audience, runs


@dataclass(frozen=True)
class AudienceCounts:
    matched: int
    erased: int
    no_consent: int
    over_cap: int
    eligible: int

    @property
    def excluded(self) -> int:
        return self.erased + self.no_consent + self.over_cap


def _criteria_for(campaign: Campaign) -> dict:
    if campaign.audience == Audience.SEGMENT and campaign.segment_id:
        return dict(campaign.segment.criteria or {})
    return dict(campaign.criteria or {})


def _matching(criteria: dict, store_ids: Iterable[int]) -> QuerySet[Customer]:
    """Members the conditions describe, erased ones included (they are counted, then cut)."""
    criteria = {k: v for k, v in criteria.items() if k != "marketing_consent"}
    rows = Customer.objects.filter(
        segment_filter(criteria, include_erased=True),
        hooks.audience_filter(criteria),
        merged_into__isnull=True,
    )
    store_ids = list(store_ids)
    if store_ids:
        rows = rows.filter(home_store_id__in=store_ids)
    if criteria.get("tags"):
        rows = rows.distinct()
    return rows


def _over_cap_members(now: datetime.datetime, cap: int) -> QuerySet:
    return (
        Delivery.objects.filter(
            is_marketing=True, status__in=LIVE_STATUSES, created_at__gte=now - CAP_WINDOW
        )
        .values("member_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=cap)
        .values("member_id")
    )


def audience_counts(
    *,
    criteria: dict,
    store_ids: Iterable[int] = (),
    channel: str = Channel.SMS,
    now: datetime.datetime | None = None,
) -> AudienceCounts:
    """The live count shown while a campaign is being written, with each exclusion counted.

    Exclusions apply in order (erased, then no consent, then the frequency cap), so each
    member is counted once, under the first reason that keeps them out.
    """
    now = _now(now)
    rows = _matching(criteria, store_ids)
    live = rows.filter(is_erased=False)
    consenting = live.filter(marketing_consent=True)
    matched = rows.count()
    live_n = live.count()
    consenting_n = consenting.count()
    over_cap = 0
    if channel != Channel.IN_STORE:
        cap = campaign_settings().frequency_cap
        over_cap = consenting.filter(pk__in=_over_cap_members(now, cap)).count()
    return AudienceCounts(
        matched=matched,
        erased=matched - live_n,
        no_consent=live_n - consenting_n,
        over_cap=over_cap,
        eligible=consenting_n - over_cap,
    )


def campaign_audience_counts(
    *, campaign: Campaign, now: datetime.datetime | None = None
) -> AudienceCounts:
    return audience_counts(
        criteria=_criteria_for(campaign),
        store_ids=_campaign_store_ids(campaign),
        channel=campaign.channel,
        now=now,
    )


def _campaign_store_ids(campaign: Campaign) -> list[int]:
    return list(CampaignStore.objects.filter(campaign=campaign).values_list("store_id", flat=True))


def campaign_check(campaign: Campaign, *, store_ids: list[int], staff: StaffMember) -> None:
    """The rules a campaign must meet before it is saved; raises ValidationError by field."""
    errors: dict[str, str] = {}
    try:
        template_check(campaign.template)
    except ValidationError as error:
        errors["template"] = error.messages[0]
    if campaign.audience == Audience.SEGMENT and not campaign.segment_id:
        errors["segment"] = _("Choose a segment.")
    if not staff.is_hq:
        if not store_ids:
            errors["stores"] = _("Choose at least one of your stores.")
        elif not set(store_ids) <= set(staff.store_ids):
            errors["stores"] = _("A store manager can only target members of their own stores.")
    if campaign.schedule == Schedule.AT and campaign.send_at is None:
        errors["send_at"] = _("Say when to send.")
    if campaign.is_recurring:
        if campaign.send_time is None:
            errors["send_time"] = _("Say at what time to send.")
        top = 7 if campaign.schedule == Schedule.WEEKLY else 28
        if not campaign.recur_day or not 1 <= campaign.recur_day <= top:
            errors["recur_day"] = (
                _("Choose a weekday, 1 (Monday) to 7 (Sunday).")
                if campaign.schedule == Schedule.WEEKLY
                else _("Choose a day of the month from 1 to 28.")
            )
    if "{coupon_code}" in (campaign.template or "") and not campaign.offer_id:
        errors["offer"] = _("The message shows {coupon_code}: choose the coupon to issue.")
    if campaign.offer_id and campaign.offer.valid_until <= timezone.now():
        errors["offer"] = _("This coupon offer has ended.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def campaign_save(*, campaign: Campaign, store_ids: list[int], staff: StaffMember) -> Campaign:
    """Create or edit a draft or scheduled campaign."""
    if campaign.pk and not campaign.is_editable:
        raise ValidationError(_("This campaign was sent and can no longer be edited."))
    campaign_check(campaign, store_ids=store_ids, staff=staff)
    created = campaign.pk is None
    if created:
        campaign.created_by = staff
    campaign.save()
    CampaignStore.objects.filter(campaign=campaign).exclude(store_id__in=store_ids).delete()
    have = set(CampaignStore.objects.filter(campaign=campaign).values_list("store_id", flat=True))
    CampaignStore.objects.bulk_create(
        [CampaignStore(campaign=campaign, store_id=pk) for pk in sorted(set(store_ids) - have)]
    )
    audit_record(
        action="campaign.create" if created else "campaign.update",
        actor=staff,
        obj=campaign,
        after={
            "channel": campaign.channel,
            "audience": campaign.audience,
            "segment": campaign.segment_id,
            "criteria": campaign.criteria,
            "stores": sorted(store_ids),
            "offer": campaign.offer_id,
            "holdout_percent": campaign.holdout_percent,
            "schedule": campaign.schedule,
        },
    )
    return campaign


@transaction.atomic
def campaign_schedule(
    *, campaign: Campaign, staff: StaffMember, now: datetime.datetime | None = None
) -> Campaign:
    """Approve a draft for sending: now, at its time, or on every member day.

    "Now" is sent by the dispatcher task queued after this commits, never inside the request.
    """
    now = _now(now)
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.status != CampaignStatus.DRAFT:
        raise ValidationError(_("Only a draft can be scheduled."))
    campaign_check(locked, store_ids=_campaign_store_ids(locked), staff=staff)
    if locked.schedule == Schedule.NOW:
        locked.send_at = now
        locked.status = CampaignStatus.SCHEDULED
    elif locked.schedule == Schedule.AT:
        if locked.send_at <= now:
            raise ValidationError({"send_at": _("The sending time has passed.")})
        locked.status = CampaignStatus.SCHEDULED
    else:
        locked.status = CampaignStatus.RUNNING
    locked.save(update_fields=["status", "send_at", "updated_at"])
    audit_record(
        action="campaign.schedule", actor=staff, obj=locked, after={"status": locked.status}
    )
    return locked


@transaction.atomic
def campaign_cancel(*, campaign: Campaign, staff: StaffMember, reason: str = "") -> Campaign:
    """Stop a scheduled or recurring campaign; what was already sent stays on record."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    # A campaign sent "now" is done once its outbox is built, but messages held for quiet
    # hours (or waiting for a retry) can still be stopped until they go out.
    finished = locked.status == CampaignStatus.CANCELLED or (
        locked.status == CampaignStatus.DONE
        and not Delivery.objects.filter(campaign=locked, status=DeliveryStatus.QUEUED).exists()
    )
    if finished:
        raise ValidationError(_("This campaign is already finished."))
    before = locked.status
    locked.status = CampaignStatus.CANCELLED
    locked.save(update_fields=["status", "updated_at"])
    # Messages of this campaign not yet handed to a sender are not sent any more.
    Delivery.objects.filter(campaign=locked, status=DeliveryStatus.QUEUED).update(
        status=DeliveryStatus.FAILED, last_error="campaign cancelled"
    )
    audit_record(
        action="campaign.cancel", actor=staff, obj=locked, before={"status": before}, reason=reason
    )
    return locked


def _holdout_ids(ids: list[int], percent: int, seed: int) -> set[int]:
    """A random `percent` of the audience kept out; seeded by the run, so it is repeatable."""
    if not percent or not ids:
        return set()
    size = len(ids) * percent // 100
    return set(random.Random(seed).sample(ids, size))  # noqa: S311 - sampling, not secrecy


def campaign_run(
    *,
    campaign: Campaign,
    occurrence: str = "once",
    staff: StaffMember | None = None,
    now: datetime.datetime | None = None,
) -> CampaignRun | None:
    """Build the outbox for one sending of `campaign`; None if that occurrence already ran.

    One transaction: the run row (unique per occurrence), holdout rows, coupons and queued
    messages commit together or not at all. Nothing is sent here: the dispatcher does that
    after the commit, so no provider call ever holds these locks.
    """
    now = _now(now)
    with transaction.atomic():
        try:
            with transaction.atomic():
                run = CampaignRun.objects.create(
                    campaign=campaign, occurrence=occurrence, started_by=staff
                )
        except IntegrityError:
            return None
        # One run at a time per tenant: two campaigns counting the frequency cap at once
        # would each see the other's messages missing and together send past the cap. The
        # second waits here, then (read committed) counts what the first queued.
        rules = CampaignSettings.objects.select_for_update().get(pk=campaign_settings().pk)
        counts = campaign_audience_counts(campaign=campaign, now=now)
        eligible = _matching(_criteria_for(campaign), _campaign_store_ids(campaign)).filter(
            is_erased=False, marketing_consent=True
        )
        messaging = campaign.channel != Channel.IN_STORE
        if messaging:
            eligible = eligible.exclude(pk__in=_over_cap_members(now, rules.frequency_cap))
        ids = list(eligible.order_by("pk").values_list("pk", flat=True))
        holdout = _holdout_ids(ids, campaign.holdout_percent, seed=run.pk)
        release_at = quiet_hours_end(now, rules) if campaign.channel in QUIET_CHANNELS else None
        targeted = no_address = 0
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            sent, missing = _queue_campaign_batch(
                campaign=campaign,
                run=run,
                member_ids=chunk,
                holdout=holdout,
                release_at=release_at or now,
                now=now,
                rules=rules,
            )
            targeted += sent
            no_address += missing
        run.matched = counts.matched
        run.excluded_erased = counts.erased
        run.excluded_consent = counts.no_consent
        run.excluded_cap = counts.over_cap
        run.excluded_no_address = no_address
        run.holdout = len(holdout)
        run.targeted = targeted
        run.held_quiet = targeted if release_at else 0
        run.save()
        if campaign.schedule in (Schedule.NOW, Schedule.AT):
            Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.DONE)
        audit_record(
            action="campaign.run",
            actor=staff,
            obj=campaign,
            after={
                "occurrence": occurrence,
                "targeted": targeted,
                "holdout": len(holdout),
                "excluded": run.excluded,
                "held_quiet": run.held_quiet,
            },
        )
    return run


def _queue_campaign_batch(
    *,
    campaign: Campaign,
    run: CampaignRun,
    member_ids: list[int],
    holdout: set[int],
    release_at: datetime.datetime,
    now: datetime.datetime,
    rules: CampaignSettings,
) -> tuple[int, int]:
    """Outbox rows (and coupons) for one batch; returns (queued, skipped for no address)."""
    members = list(
        Customer.objects.filter(pk__in=member_ids)
        .only("pk", "name", "phone", "email", "tier_name", "home_store_id")
        .order_by("pk")
    )
    wechat = _wechat_ids(member_ids) if campaign.channel == Channel.WECHAT else {}
    reachable = []
    rows = []
    missing = 0
    for member in members:
        if member.pk in holdout:
            rows.append(
                Delivery(
                    key=f"campaign:{run.pk}:{member.pk}",
                    kind=DeliveryKind.CAMPAIGN,
                    campaign=campaign,
                    run=run,
                    member=member,
                    channel=campaign.channel,
                    text="",
                    is_marketing=False,
                    status=DeliveryStatus.HOLDOUT,
                )
            )
            continue
        address = _address(member, campaign.channel, wechat)
        if campaign.channel != Channel.IN_STORE and not address:
            missing += 1
            continue
        reachable.append((member, address))
    coupons = {}
    if campaign.offer_id:
        coupons = coupons_issue(
            offer=campaign.offer, members=[m for m, _a in reachable], campaign=campaign, now=now
        )
    balances = _points_balances([m.pk for m, _a in reachable])
    stores = _store_names(m.home_store_id for m, _a in reachable)
    extra = hooks.placeholder_values(campaign.template, [m.pk for m, _a in reachable])
    in_store = campaign.channel == Channel.IN_STORE
    for member, address in reachable:
        coupon = coupons.get(member.pk)
        text = marketing_text(
            member_message(
                campaign.template,
                member=member,
                points=balances.get(member.pk, 0),
                coupon_code=coupon.code if coupon else "",
                store=stores.get(member.home_store_id, ""),
                extra=extra.get(member.pk),
            ),
            channel=campaign.channel,
            rules=rules,
            member=member,
        )
        rows.append(
            Delivery(
                key=f"campaign:{run.pk}:{member.pk}",
                kind=DeliveryKind.CAMPAIGN,
                campaign=campaign,
                run=run,
                member=member,
                channel=campaign.channel,
                address=address,
                text=text,
                coupon=coupon,
                is_marketing=not in_store,
                # In-store only: the coupon waits at the counter; there is nothing to send.
                status=DeliveryStatus.SENT if in_store else DeliveryStatus.QUEUED,
                sent_at=now if in_store else None,
                next_attempt_at=None if in_store else release_at,
            )
        )
    Delivery.objects.bulk_create(rows, batch_size=BATCH)
    return len(reachable), missing


def campaigns_due(*, now: datetime.datetime | None = None) -> list[tuple[int, str]]:
    """(campaign id, occurrence) pairs to run now: scheduled ones whose time has come, and
    recurring ones whose member day it is (tenant's clock) once their send time has passed."""
    now = _now(now)
    due = [
        (pk, "once")
        for pk in Campaign.objects.filter(
            status=CampaignStatus.SCHEDULED, send_at__lte=now
        ).values_list("pk", flat=True)
    ]
    local = _local(now)
    today = local.date()
    for campaign in Campaign.objects.filter(status=CampaignStatus.RUNNING):
        if campaign.ends_on and today > campaign.ends_on:
            Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.DONE)
            continue
        day = today.isoweekday() if campaign.schedule == Schedule.WEEKLY else today.day
        if day != campaign.recur_day or local.time() < campaign.send_time:
            continue
        if not CampaignRun.objects.filter(campaign=campaign, occurrence=today.isoformat()).exists():
            due.append((campaign.pk, today.isoformat()))
    return due


def campaign_run_due(*, campaign_id: int, occurrence: str) -> CampaignRun | None:
    """Run one due occurrence (the task's body); a cancelled campaign runs nothing."""
    campaign = Campaign.objects.select_related("offer", "segment").filter(pk=campaign_id).first()
    if campaign is None or campaign.status not in (
        CampaignStatus.SCHEDULED,
        CampaignStatus.RUNNING,
    ):
        return None
    offer = campaign.offer
    if offer is not None and (not offer.is_active or offer.valid_until <= timezone.now()):
        # Its coupon can no longer be issued: the run would fail at every beat tick and
        # never send. The campaign stops here instead, with the reason on record.
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.CANCELLED)
        audit_record(
            action="campaign.cancel",
            obj=campaign,
            before={"status": campaign.status},
            reason=_("The coupon offer %(name)s has ended.") % {"name": offer.name},
        )
        return None
    return campaign_run(campaign=campaign, occurrence=occurrence)
