"""Campaign rules: audiences and exclusions, coupons, the outbox and its dispatcher, birthdays.

Every write goes through these functions. The guarantees they keep:
- A coupon is used at most once, and an offer never beyond its per-member and total limits,
  because every redemption locks the coupon and then its offer row.
- A campaign run exists once per (campaign, occurrence) and an outbox row once per key, so a
  repeated run, a second scheduler or a retried task never queues a second message.
- Sending happens outside transactions, after a conditional update has claimed the row
  (queued -> sending); a row left in "sending" by a crash is failed, never sent again.
- Birthday greetings: the (member, year) claim row commits before the message is sent.
"""

from __future__ import annotations

import calendar
import datetime
import logging
import random
import secrets
import string
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import (
    Audience,
    BirthdayGreeting,
    Campaign,
    CampaignRun,
    CampaignSettings,
    CampaignStatus,
    CampaignStore,
    Channel,
    Coupon,
    CouponOffer,
    CouponOfferStore,
    CouponStatus,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    DiscountKind,
    Schedule,
)
from campaigns.senders import SendError, sender_for
from customers.models import Customer
from customers.selectors import segment_filter
from stores.models import Store
from tenancy.context import current_tenant
from tenancy.models import StaffMember
from tenancy.services import audit_record

logger = logging.getLogger(__name__)

CAP_WINDOW = datetime.timedelta(days=30)
MAX_ATTEMPTS = 5
RETRY_BASE = datetime.timedelta(minutes=1)
# A message still "sending" after this long was cut off mid-send; it is failed, not resent.
STUCK_AFTER = datetime.timedelta(minutes=15)
BATCH = 1000
PLACEHOLDERS = ("name", "tier", "points", "coupon_code", "store")
# Letters and digits a clerk cannot misread (no 0/O, 1/I/L).
CODE_ALPHABET = "".join(c for c in string.ascii_uppercase + string.digits if c not in "0O1IL")
CODE_LENGTH = 10
CENT = Decimal("0.01")
# Messages that still count against the cap: queued, in flight or delivered.
LIVE_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.SENT)
# Channels that buzz a phone: held during quiet hours, by a run and by the dispatcher alike.
# E-mail waits in an inbox and goes out at once.
QUIET_CHANNELS = (Channel.SMS, Channel.WECHAT)
# Messages one dispatcher tick hands out (in batches of BATCH, one task each).
DISPATCH_SCAN = 50_000


class CouponError(ValidationError):
    """A coupon cannot be used; the message is for the clerk and the member."""


def _now(now: datetime.datetime | None) -> datetime.datetime:
    return now or timezone.now()


def _local(now: datetime.datetime) -> datetime.datetime:
    return timezone.localtime(now, current_tenant().zone)


# ---------------------------------------------------------------------------------------
# Settings


def campaign_settings() -> CampaignSettings:
    """The tenant's messaging rules, created with defaults on first use."""
    found = CampaignSettings.objects.select_related("birthday_offer").first()
    if found is not None:
        return found
    CampaignSettings.objects.bulk_create([CampaignSettings()], ignore_conflicts=True)
    return CampaignSettings.objects.select_related("birthday_offer").get()


@transaction.atomic
def campaign_settings_save(*, rules: CampaignSettings, staff: StaffMember) -> CampaignSettings:
    rules.full_clean()
    rules.save()
    audit_record(
        action="campaigns.settings",
        actor=staff,
        obj=rules,
        after={
            "frequency_cap": rules.frequency_cap,
            "quiet": f"{rules.quiet_start:%H:%M}-{rules.quiet_end:%H:%M}",
            "birthday": rules.birthday_enabled,
            "birthday_time": f"{rules.birthday_send_time:%H:%M}",
            "birthday_offer": rules.birthday_offer_id,
            "birthday_points": rules.birthday_points,
        },
    )
    return rules


def quiet_hours_end(now: datetime.datetime, rules: CampaignSettings) -> datetime.datetime | None:
    """When quiet hours end, if `now` is inside them (tenant's clock); else None."""
    local = _local(now)
    if not rules.in_quiet_hours(local.time()):
        return None
    end = local.replace(
        hour=rules.quiet_end.hour, minute=rules.quiet_end.minute, second=0, microsecond=0
    )
    if end <= local:
        end += datetime.timedelta(days=1)
    return end


# ---------------------------------------------------------------------------------------
# Message templates


def template_check(text: str) -> None:
    """Refuse placeholders we cannot fill and unbalanced braces, with a message for HQ."""
    try:
        parsed = [
            (name, spec, conv)
            for _lit, name, spec, conv in string.Formatter().parse(text)
            if name is not None
        ]
    except ValueError as error:
        raise ValidationError(
            _("The message has an unmatched { or }. Write placeholders like {name}.")
        ) from error
    # "{}", "{name!r}" and "{points:d}" are valid Python but fail (or misbehave) when the
    # run renders them for real members: only the bare names are allowed.
    if any(not name or spec or conv for name, spec, conv in parsed):
        raise ValidationError(
            _("Write placeholders as a bare name in braces, e.g. {name}; braces: {{ and }}.")
        )
    unknown = sorted({name for name, _spec, _conv in parsed if name not in PLACEHOLDERS})
    if unknown:
        raise ValidationError(
            _("Unknown placeholder: %(names)s. Use %(known)s.")
            % {
                "names": ", ".join("{" + n + "}" for n in unknown),
                "known": " ".join("{" + n + "}" for n in PLACEHOLDERS),
            }
        )


def message_render(template: str, *, values: dict[str, object]) -> str:
    filled = {key: values.get(key, "") for key in PLACEHOLDERS}
    return template.format_map(filled)


def member_message(
    template: str, *, member: Customer, points: int, coupon_code: str, store: str
) -> str:
    """`template` filled for one member (campaign runs, birthdays and the preview)."""
    return message_render(
        template,
        values={
            "name": member.name,
            "tier": member.tier_name,
            "points": points,
            "coupon_code": coupon_code,
            "store": store,
        },
    )


def _points_balances(member_ids: list[int]) -> dict[int, int]:
    from loyalty.models import PointsAccount

    return dict(
        PointsAccount.objects.filter(customer_id__in=member_ids).values_list(
            "customer_id", "balance"
        )
    )


def _wechat_ids(member_ids: list[int]) -> dict[int, str]:
    from interactions.models import MemberProfile

    return dict(
        MemberProfile.objects.filter(member_id__in=member_ids)
        .exclude(wechat_id="")
        .values_list("member_id", "wechat_id")
    )


def _store_names(store_ids: Iterable[int]) -> dict[int, str]:
    return dict(Store.objects.filter(pk__in=set(store_ids)).values_list("pk", "name"))


def _address(member: Customer, channel: str, wechat: dict[int, str]) -> str:
    if channel == Channel.SMS:
        return member.phone or ""
    if channel == Channel.EMAIL:
        return member.email
    if channel == Channel.WECHAT:
        return wechat.get(member.pk, "")
    return ""


def message_preview(*, template: str, member: Customer, coupon_code: str = "") -> str:
    """The message as `member` would read it (coupon code shown as an example if none yet)."""
    template_check(template)
    return member_message(
        template,
        member=member,
        points=_points_balances([member.pk]).get(member.pk, 0),
        coupon_code=coupon_code or "ABCD234567",
        store=member.home_store.name,
    )


# ---------------------------------------------------------------------------------------
# Coupons


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _unused_codes(count: int) -> list[str]:
    """`count` fresh codes; 10 characters of 30 make a clash rare, and it is checked."""
    codes: set[str] = set()
    while len(codes) < count:
        wanted = {_new_code() for _ in range(count - len(codes))}
        taken = set(Coupon.objects.filter(code__in=wanted).values_list("code", flat=True))
        codes |= wanted - taken
    return list(codes)


def offer_check(offer: CouponOffer) -> None:
    if offer.valid_from and offer.valid_until and offer.valid_until <= offer.valid_from:
        raise ValidationError({"valid_until": _("The end must be after the start.")})
    if offer.kind == DiscountKind.PERCENT and offer.value is not None and offer.value >= 100:
        raise ValidationError({"value": _("A percentage coupon takes off less than 100%.")})


@transaction.atomic
def coupon_offer_save(
    *, offer: CouponOffer, stores: Iterable[Store], staff: StaffMember
) -> CouponOffer:
    offer_check(offer)
    created = offer.pk is None
    if created:
        offer.created_by = staff
    offer.save()
    wanted = {store.pk for store in stores}
    CouponOfferStore.objects.filter(offer=offer).exclude(store_id__in=wanted).delete()
    have = set(CouponOfferStore.objects.filter(offer=offer).values_list("store_id", flat=True))
    CouponOfferStore.objects.bulk_create(
        [CouponOfferStore(offer=offer, store_id=pk) for pk in sorted(wanted - have)]
    )
    audit_record(
        action="coupon_offer.create" if created else "coupon_offer.update",
        actor=staff,
        obj=offer,
        after={
            "kind": offer.kind,
            "value": str(offer.value),
            "min_spend": str(offer.min_spend),
            "valid": f"{offer.valid_from.isoformat()} - {offer.valid_until.isoformat()}",
            "per_member_limit": offer.per_member_limit,
            "total_limit": offer.total_limit,
            "stores": sorted(wanted),
        },
    )
    return offer


def _coupon_expiry(offer: CouponOffer, now: datetime.datetime) -> datetime.datetime:
    if offer.valid_days:
        # Counted from when it can first be used: a coupon issued before its offer starts
        # would otherwise lose those days, or expire before it was ever usable.
        start = max(now, offer.valid_from)
        return min(offer.valid_until, start + datetime.timedelta(days=offer.valid_days))
    return offer.valid_until


def coupons_issue(
    *,
    offer: CouponOffer,
    members: list[Customer],
    campaign: Campaign | None = None,
    staff: StaffMember | None = None,
    now: datetime.datetime | None = None,
) -> dict[int, Coupon]:
    """Issue one coupon of `offer` to each member; returns them by member id.

    Call inside the caller's transaction (a campaign run, a birthday batch, a hand issue).
    """
    now = _now(now)
    if not members:
        return {}
    if not offer.is_active or offer.valid_until <= now:
        raise ValidationError(_("The coupon offer %(name)s has ended.") % {"name": offer.name})
    valid_until = _coupon_expiry(offer, now)
    coupons = [
        Coupon(
            offer=offer,
            member=member,
            code=code,
            valid_until=valid_until,
            campaign=campaign,
            issued_by=staff,
        )
        for member, code in zip(members, _unused_codes(len(members)), strict=True)
    ]
    Coupon.objects.bulk_create(coupons, batch_size=BATCH)
    CouponOffer.objects.filter(pk=offer.pk).update(issued_count=F("issued_count") + len(coupons))
    return {coupon.member_id: coupon for coupon in coupons}


@transaction.atomic
def coupon_issue_by_hand(
    *, offer: CouponOffer, member: Customer, staff: StaffMember, reason: str, source_key: str = ""
) -> tuple[Coupon, bool]:
    """Issue one coupon by hand; returns (coupon, created).

    `source_key` is the form's one-time key: a repeat of the same submit answers with the
    coupon the first one issued and issues nothing.
    """
    if source_key:
        # Hand issues of one offer take turns on its row, so two copies of the same submit
        # arriving together cannot both miss the other's coupon; the unique key backs it up.
        CouponOffer.objects.select_for_update().filter(pk=offer.pk).first()
        earlier = Coupon.objects.filter(source_key=source_key).select_related("member").first()
        if earlier is not None:
            return earlier, False
    if member.is_erased or member.merged_into_id:
        raise ValidationError(_("This member can no longer receive coupons."))
    if not reason.strip():
        raise ValidationError(_("Say why the coupon is given."))
    coupon = coupons_issue(offer=offer, members=[member], staff=staff)[member.pk]
    if source_key:
        Coupon.objects.filter(pk=coupon.pk).update(source_key=source_key)
        coupon.source_key = source_key
    audit_record(
        action="coupon.issue",
        actor=staff,
        obj=coupon,
        after={"offer": offer.name, "member": member.card_number},
        reason=reason,
    )
    return coupon, True


@transaction.atomic
def coupon_void(*, coupon: Coupon, staff: StaffMember, reason: str) -> Coupon:
    if not reason.strip():
        raise ValidationError(_("Say why the coupon is voided."))
    locked = Coupon.objects.select_for_update().get(pk=coupon.pk)
    if locked.status != CouponStatus.AVAILABLE:
        raise ValidationError(_("Only an unused coupon can be voided."))
    locked.status = CouponStatus.VOID
    locked.save(update_fields=["status"])
    audit_record(action="coupon.void", actor=staff, obj=locked, reason=reason)
    return locked


def coupon_discount(*, offer: CouponOffer, amount: Decimal) -> Decimal:
    """What the offer takes off `amount` (never more than the amount itself)."""
    if offer.kind == DiscountKind.PERCENT:
        off = (amount * offer.value / Decimal(100)).quantize(CENT, rounding=ROUND_HALF_UP)
    else:
        off = offer.value
    return min(off, amount)


def _coupon_refusal(
    coupon: Coupon | None,
    offer: CouponOffer | None,
    *,
    member: Customer | None,
    store: Store,
    amount: Decimal,
    now: datetime.datetime,
) -> str | None:
    """Why the coupon cannot be used on this sale, or None. Cheap checks first."""
    if coupon is None or offer is None:
        return _("No coupon has this code.")
    if member is None:
        return _("Coupons are for members: look the member up first.")
    if coupon.member_id != member.pk:
        return _("This coupon belongs to another member.")
    if coupon.status == CouponStatus.USED:
        used = timezone.localtime(coupon.used_at, current_tenant().zone)
        return _("This coupon was already used on %(when)s.") % {"when": f"{used:%Y-%m-%d %H:%M}"}
    if coupon.status == CouponStatus.VOID:
        return _("This coupon was voided.")
    if not offer.is_active:
        return _("This coupon's offer was stopped.")
    if now < offer.valid_from:
        start = timezone.localtime(offer.valid_from, current_tenant().zone)
        return _("This coupon can be used from %(when)s.") % {"when": f"{start:%Y-%m-%d %H:%M}"}
    if now >= coupon.valid_until:
        end = timezone.localtime(coupon.valid_until, current_tenant().zone)
        return _("This coupon expired on %(when)s.") % {"when": f"{end:%Y-%m-%d %H:%M}"}
    store_ids = set(CouponOfferStore.objects.filter(offer=offer).values_list("store_id", flat=True))
    if store_ids and store.pk not in store_ids:
        return _("This coupon cannot be used in this store.")
    if amount < offer.min_spend:
        return _("This coupon needs a spend of at least ¥%(min)s.") % {"min": offer.min_spend}
    if offer.total_limit is not None and offer.used_count >= offer.total_limit:
        return _("This offer has been fully used.")
    used_by_member = Coupon.objects.filter(
        offer=offer, member=member, status=CouponStatus.USED
    ).count()
    if used_by_member >= offer.per_member_limit:
        return _("This member has already used this offer %(n)s times, the most allowed.") % {
            "n": offer.per_member_limit
        }
    return None


@transaction.atomic
def coupon_redeem(
    *,
    code: str,
    member: Customer | None,
    store: Store,
    amount: Decimal,
    sale_id: int | None,
    now: datetime.datetime | None = None,
) -> tuple[Coupon, Decimal]:
    """Use the coupon on a sale of `amount` (before the coupon); returns it and the discount.

    Called by analytics' sale_record inside the sale's transaction, so a refused coupon
    leaves no sale behind. Locks the coupon, then its offer: two counters using one coupon,
    or many members at once against an offer's total limit, wait here in turn and the later
    ones see the earlier ones' use.
    """
    now = _now(now)
    coupon = Coupon.objects.select_for_update().filter(code=code.strip().upper()).first()
    offer = (
        CouponOffer.objects.select_for_update().get(pk=coupon.offer_id)
        if coupon is not None
        else None
    )
    refusal = _coupon_refusal(coupon, offer, member=member, store=store, amount=amount, now=now)
    if refusal:
        raise CouponError(refusal)
    discount = coupon_discount(offer=offer, amount=amount)
    coupon.status = CouponStatus.USED
    coupon.used_at = now
    coupon.used_store = store
    coupon.used_sale_id = sale_id
    coupon.discount = discount
    coupon.save(update_fields=["status", "used_at", "used_store", "used_sale_id", "discount"])
    CouponOffer.objects.filter(pk=offer.pk).update(used_count=F("used_count") + 1)
    return coupon, discount


def coupons_available(*, member: Customer, now: datetime.datetime | None = None) -> QuerySet:
    return (
        Coupon.objects.filter(
            member=member, status=CouponStatus.AVAILABLE, valid_until__gt=_now(now)
        )
        .select_related("offer")
        .order_by("valid_until", "pk")
    )


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
        segment_filter(criteria, include_erased=True), merged_into__isnull=True
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
    in_store = campaign.channel == Channel.IN_STORE
    for member, address in reachable:
        coupon = coupons.get(member.pk)
        text = member_message(
            campaign.template,
            member=member,
            points=balances.get(member.pk, 0),
            coupon_code=coupon.code if coupon else "",
            store=stores.get(member.home_store_id, ""),
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


# ---------------------------------------------------------------------------------------
# The outbox and its dispatcher


def message_queue(
    *,
    member: Customer,
    text: str,
    kind: str,
    key: str | None = None,
    channel: str = Channel.SMS,
) -> Delivery | None:
    """Queue one service message (survey link, anniversary, points expiry); None if the key
    was queued before or the member has no address for the channel."""
    if member.is_erased:
        return None
    wechat = _wechat_ids([member.pk]) if channel == Channel.WECHAT else {}
    address = _address(member, channel, wechat)
    if not address:
        return None
    delivery = Delivery(
        key=key or f"{kind}:{uuid.uuid4().hex}",
        kind=kind,
        member=member,
        channel=channel,
        address=address,
        text=text,
        is_marketing=False,
        next_attempt_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            delivery.save()
    except IntegrityError:
        return None
    return delivery


def send_via_outbox(*, member: Customer, text: str, kind: str) -> None:
    """interactions' survey_sender and greeting_sender hooks."""
    message_queue(member=member, text=text, kind=kind)


def _backoff(attempts: int) -> datetime.timedelta:
    return RETRY_BASE * (2 ** max(attempts - 1, 0))


def _mark_interrupted(now: datetime.datetime) -> int:
    """Messages cut off mid-send by a crash: "unknown", never sent a second time.

    Not "failed": the provider may well have delivered it before the worker died, and a
    member must never get a message twice. Only QUEUED rows are ever sent, so these stay put.
    """
    return Delivery.objects.filter(
        status=DeliveryStatus.SENDING, next_attempt_at__lt=now - STUCK_AFTER
    ).update(
        status=DeliveryStatus.UNKNOWN,
        last_error="interrupted while sending; the provider may have it; not sent again",
    )


def delivery_send(*, delivery_id: int, now: datetime.datetime | None = None) -> str:
    """Send one queued message: claim it, call the sender outside any transaction, record.

    Returns the status it ended in, or "" when another worker had claimed it.
    """
    now = _now(now)
    claimed = Delivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.QUEUED, next_attempt_at__lte=now
    ).update(status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, next_attempt_at=now)
    if not claimed:
        return ""
    delivery = Delivery.objects.get(pk=delivery_id)
    try:
        provider_id = sender_for(delivery.channel).send(delivery)
    except Exception as caught:  # noqa: BLE001 - SendError, or a broken adapter or setting
        error = caught
        if not isinstance(caught, SendError):
            # Not let out: it would leave the row "sending" and stop the dispatcher before
            # the rest of the queue. Not retried either: the provider may have taken the
            # message before the adapter broke, and a message is never sent twice.
            logger.exception("Sender for %s failed on delivery %s", delivery.channel, delivery.pk)
            error = SendError(f"sender error: {caught!r}", retryable=False)
        if error.retryable and delivery.attempts < MAX_ATTEMPTS:
            Delivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.QUEUED,
                next_attempt_at=now + _backoff(delivery.attempts),
                last_error=str(error)[:300],
            )
            return DeliveryStatus.QUEUED
        Delivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, last_error=str(error)[:300]
        )
        return DeliveryStatus.FAILED
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENT, sent_at=timezone.now(), provider_id=provider_id[:100]
    )
    return DeliveryStatus.SENT


def _due_messages(
    now: datetime.datetime, *, ids: list[int] | None = None
) -> tuple[QuerySet[Delivery], int, int]:
    """Queued messages due now, after marking interrupted ones and holding SMS/WeChat in quiet
    hours.

    Returns (due messages, how many were marked unknown, how many were held).
    """
    unknown = _mark_interrupted(now)
    due = Delivery.objects.filter(status=DeliveryStatus.QUEUED, next_attempt_at__lte=now)
    if ids is not None:
        due = due.filter(pk__in=ids)
    held = 0
    release_at = quiet_hours_end(now, campaign_settings())
    if release_at is not None:
        held = due.filter(channel__in=QUIET_CHANNELS).update(next_attempt_at=release_at)
        due = due.exclude(channel__in=QUIET_CHANNELS)
    return due, unknown, held


def deliveries_due_batches(
    *, now: datetime.datetime | None = None, limit: int = DISPATCH_SCAN, batch_size: int = BATCH
) -> list[list[int]]:
    """Ids of due messages, oldest first, cut into batches that workers send in parallel.

    A message in two batches (a slow worker, the next beat tick) is still sent once: each
    send claims its row first. `limit` bounds one tick's work; the next tick takes the rest.
    """
    due, _failed, _held = _due_messages(_now(now))
    ids = list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
    return [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]


def deliveries_dispatch(
    *, now: datetime.datetime | None = None, limit: int = BATCH, ids: list[int] | None = None
) -> dict[str, int]:
    """Send due messages (oldest first), up to `limit`; returns counts by outcome.

    Inside quiet hours phone and WeChat messages wait for the end of them.
    """
    now = _now(now)
    result = {"sent": 0, "failed": 0, "retry": 0, "held": 0, "unknown": 0}
    due, result["unknown"], result["held"] = _due_messages(now, ids=ids)
    for delivery_id in due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit]:
        outcome = delivery_send(delivery_id=delivery_id, now=now)
        if outcome == DeliveryStatus.SENT:
            result["sent"] += 1
        elif outcome == DeliveryStatus.FAILED:
            result["failed"] += 1
        elif outcome == DeliveryStatus.QUEUED:
            result["retry"] += 1
    return result


def points_expiry_notices_queue() -> int:
    """Turn loyalty's pending expiry notices into messages, once each (key per notice)."""
    from loyalty.selectors import expiry_notices_pending

    queued = 0
    for notice in expiry_notices_pending().order_by("pk")[:BATCH]:
        member = notice.account.customer
        text = _("%(name)s, %(points)s of your points expire on %(day)s. Use them in store.") % {
            "name": member.name,
            "points": notice.points,
            "day": notice.expires_on.isoformat(),
        }
        with transaction.atomic():
            if message_queue(
                member=member,
                text=text,
                kind=DeliveryKind.POINTS_EXPIRY,
                key=f"points_expiry:{notice.pk}",
            ):
                queued += 1
            type(notice).objects.filter(pk=notice.pk).update(sent_at=timezone.now())
    return queued


# ---------------------------------------------------------------------------------------
# Birthday greetings


def birthday_days(today: datetime.date) -> list[tuple[int, int]]:
    """(month, day) pairs greeted on `today`: Feb 29 birthdays on Feb 28 in common years."""
    days = [(today.month, today.day)]
    if today.month == 2 and today.day == 28 and not calendar.isleap(today.year):
        days.append((2, 29))
    return days


def birthday_due_ids(*, today: datetime.date) -> list[int]:
    """Members to greet today not yet greeted this year (index on birth month and day)."""
    match = Q()
    for month, day in birthday_days(today):
        match |= Q(birth_month=month, birth_day=day)
    # NOT EXISTS, not NOT IN: PostgreSQL plans it as an anti join on the claim's unique index
    # instead of hashing every claim row of every year.
    greeted = BirthdayGreeting.objects.filter(member=OuterRef("pk"), year=today.year)
    return list(
        Customer.objects.filter(
            match, is_erased=False, merged_into__isnull=True, marketing_consent=True
        )
        .exclude(Exists(greeted))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def birthday_batches(
    *, now: datetime.datetime | None = None, batch_size: int = BATCH
) -> tuple[datetime.date | None, list[list[int]]]:
    """Today's (tenant's day) birthday members in batches, once the greeting time has come.

    Returns (today, batches); (None, []) when greetings are off or it is too early.
    """
    rules = campaign_settings()
    local = _local(_now(now))
    if not rules.birthday_enabled or local.time() < rules.birthday_send_time:
        return None, []
    ids = birthday_due_ids(today=local.date())
    return local.date(), [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]


def _claim_birthdays(member_ids: list[int], year: int) -> list[int]:
    """Insert the (member, year) claims; returns only the ids this call won.

    INSERT ... ON CONFLICT DO NOTHING RETURNING: two workers with the same batch each get
    back only the rows they inserted, so exactly one of them greets each member.
    """
    if not member_ids:
        return []
    table = BirthdayGreeting._meta.db_table
    tenant_id = current_tenant().pk
    now = timezone.now()
    placeholders = ", ".join(["(%s, %s, %s, %s)"] * len(member_ids))
    params: list = []
    for member_id in member_ids:
        params += [tenant_id, member_id, year, now]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (tenant_id, member_id, year, created_at) "  # noqa: S608
            f"VALUES {placeholders} ON CONFLICT (tenant_id, member_id, year) DO NOTHING "
            "RETURNING member_id",
            params,
        )
        return sorted(row[0] for row in cursor.fetchall())


def birthday_send_batch(
    *, member_ids: list[int], today: datetime.date, now: datetime.datetime | None = None
) -> int:
    """Greet one batch: claims, coupons, points and queued messages commit together, then
    the messages are sent. Returns how many members this call greeted."""
    now = _now(now)
    rules = campaign_settings()
    with transaction.atomic():
        # Consent or erasure may have changed since the batch was cut. Claimed in id order:
        # two workers inserting overlapping claims in different orders could deadlock.
        eligible = list(
            Customer.objects.filter(
                pk__in=member_ids,
                is_erased=False,
                merged_into__isnull=True,
                marketing_consent=True,
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        won = _claim_birthdays(eligible, today.year)
        if not won:
            return 0
        members = list(Customer.objects.filter(pk__in=won).order_by("pk"))
        wechat = _wechat_ids(won) if rules.birthday_channel == Channel.WECHAT else {}
        coupons = {}
        offer = rules.birthday_offer
        if offer is not None and offer.is_active and offer.valid_until > now:
            coupons = coupons_issue(offer=offer, members=members, now=now)
        if rules.birthday_points:
            from loyalty.services import points_award

            for member in members:
                points_award(
                    customer=member,
                    points=rules.birthday_points,
                    source_key=f"birthday:{today.year}:{member.pk}",
                    reason=_("Birthday gift %(year)s") % {"year": today.year},
                )
        balances = _points_balances(won)
        stores = _store_names(m.home_store_id for m in members)
        rows = []
        for member in members:
            coupon = coupons.get(member.pk)
            address = _address(member, rules.birthday_channel, wechat)
            # No phone (or WeChat id, e-mail) for the channel: the gifts still count, and the
            # outbox says why no greeting went out instead of recording one as "sent".
            reachable = bool(address) or rules.birthday_channel == Channel.IN_STORE
            rows.append(
                Delivery(
                    key=f"birthday:{today.year}:{member.pk}",
                    kind=DeliveryKind.BIRTHDAY,
                    member=member,
                    channel=rules.birthday_channel,
                    address=address,
                    text=member_message(
                        rules.birthday_template,
                        member=member,
                        points=balances.get(member.pk, 0),
                        coupon_code=coupon.code if coupon else "",
                        store=stores.get(member.home_store_id, ""),
                    ),
                    coupon=coupon,
                    is_marketing=False,
                    status=DeliveryStatus.QUEUED if reachable else DeliveryStatus.FAILED,
                    last_error="" if reachable else "no address for this channel",
                    next_attempt_at=now,
                )
            )
        # ignore_conflicts is not needed: the claims above already made these keys ours.
        Delivery.objects.bulk_create(rows, batch_size=BATCH)
    keys = [f"birthday:{today.year}:{pk}" for pk in won]
    ids = list(Delivery.objects.filter(key__in=keys).values_list("pk", flat=True))
    deliveries_dispatch(now=now, ids=ids, limit=len(ids))
    return len(won)


# ---------------------------------------------------------------------------------------
# Members merged: their coupons and messages go with them


def campaigns_merge(*, source: Customer, target: Customer) -> None:
    """Receiver of customers' merge (inside its transaction)."""
    Coupon.objects.filter(member=source).update(member=target)
    # Both records in one run: they are one person, so if either was contacted the survivor
    # counts as contacted (the holdout must only hold people who heard nothing); otherwise
    # the survivor's own row wins and the source's duplicate goes.
    contacted = (
        Delivery.objects.filter(member=source, run__isnull=False)
        .exclude(status=DeliveryStatus.HOLDOUT)
        .values("run_id")
    )
    Delivery.objects.filter(
        member=target, status=DeliveryStatus.HOLDOUT, run_id__in=contacted
    ).delete()
    target_runs = Delivery.objects.filter(member=target, run__isnull=False).values("run_id")
    Delivery.objects.filter(member=source, run_id__in=target_runs).delete()
    Delivery.objects.filter(member=source).update(member=target)
    years = BirthdayGreeting.objects.filter(member=target).values("year")
    BirthdayGreeting.objects.filter(member=source, year__in=years).delete()
    BirthdayGreeting.objects.filter(member=source).update(member=target)


def on_customer_merged(sender, *, source: Customer, target: Customer, **kwargs) -> None:
    campaigns_merge(source=source, target=target)


# --- personal data (customers' member_erased and personal_data_requested events) -------------


def member_personal_data(*, customer: Customer) -> dict:
    """The member's coupons and every message we queued or sent them."""
    return {
        "coupons": [
            {
                "code": row["code"],
                "offer": row["offer__name"],
                "status": row["status"],
                "issued_at": row["issued_at"].isoformat(),
            }
            for row in Coupon.objects.filter(member=customer)
            .order_by("issued_at", "pk")
            .values("code", "offer__name", "status", "issued_at")
        ],
        "messages": [
            {
                "queued_at": row["created_at"].isoformat(),
                "channel": row["channel"],
                "to": row["address"],
                "text": row["text"],
                "status": row["status"],
            }
            for row in Delivery.objects.filter(member=customer)
            .order_by("created_at", "pk")
            .values("created_at", "channel", "address", "text", "status")
        ],
    }


def member_messages_erase(*, customer: Customer) -> None:
    """Blank addresses and texts (they carry the name and number); nothing queued goes out."""
    Delivery.objects.filter(member=customer, status=DeliveryStatus.QUEUED).update(
        status=DeliveryStatus.FAILED, last_error="member erased"
    )
    Delivery.objects.filter(member=customer).update(address="", text="")


def on_member_erased(sender, *, customer: Customer, **kwargs) -> None:
    member_messages_erase(customer=customer)


def on_personal_data_requested(sender, *, customer: Customer, **kwargs) -> tuple[str, dict]:
    return "campaigns", member_personal_data(customer=customer)
