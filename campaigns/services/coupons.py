"""Coupon offers and coupons: issue, check, use, void; limits held by locking the coupon, then
its offer.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import (
    Campaign,
    Coupon,
    CouponOffer,
    CouponOfferStore,
    CouponStatus,
    DiscountKind,
)
from campaigns.services.common import BATCH, CENT, CODE_ALPHABET, CODE_LENGTH, CouponError, _now
from customers.models import Customer
from stores.models import Store
from tenancy.context import current_tenant
from tenancy.models import StaffMember
from tenancy.services import audit_record

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
