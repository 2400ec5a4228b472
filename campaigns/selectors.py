"""Reads for campaign pages: the report, the outbox, a member's coupons and messages."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.http import HttpRequest

from campaigns import effect
from campaigns.models import Campaign, Coupon, CouponStatus, Delivery, DeliveryStatus
from campaigns.services import coupons_available
from campaigns.services.runs import _matching
from customers.models import Customer


def campaign_report(*, campaign: Campaign) -> dict:
    """Sent, failed, excluded, coupons redeemed, and the effect against the holdout group."""
    runs = list(campaign.runs.order_by("started_at"))
    by_status = dict(
        Delivery.objects.filter(campaign=campaign)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    coupons = Coupon.objects.filter(campaign=campaign).aggregate(
        issued=Count("pk"),
        redeemed=Count("pk", filter=Q(status=CouponStatus.USED)),
        discount=Sum("discount", filter=Q(status=CouponStatus.USED)),
    )
    totals = {
        "matched": sum(r.matched for r in runs),
        "targeted": sum(r.targeted for r in runs),
        "holdout": sum(r.holdout for r in runs),
        "excluded_consent": sum(r.excluded_consent for r in runs),
        "excluded_erased": sum(r.excluded_erased for r in runs),
        "excluded_cap": sum(r.excluded_cap for r in runs),
        "excluded_no_address": sum(r.excluded_no_address for r in runs),
        "held_quiet": sum(r.held_quiet for r in runs),
        "excluded": sum(r.excluded for r in runs),
    }
    measured = effect.measure(campaign=campaign)
    uplift = None
    if measured:
        for group in measured.values():
            members = group["members"]
            group["per_member"] = (
                (group["revenue"] / members).quantize(Decimal("0.01")) if members else None
            )
            group["conversion"] = (
                (Decimal(group["buyers"]) * 100 / members).quantize(Decimal("0.1"))
                if members
                else None
            )
        targeted, holdout = measured.get("targeted"), measured.get("holdout")
        if targeted and holdout and holdout["members"] and targeted["members"]:
            uplift = {
                "revenue_per_member": targeted["per_member"] - holdout["per_member"],
                "conversion_points": targeted["conversion"] - holdout["conversion"],
                "percent": (
                    (
                        (targeted["per_member"] - holdout["per_member"])
                        * 100
                        / holdout["per_member"]
                    ).quantize(Decimal("0.1"))
                    if holdout["per_member"]
                    else None
                ),
            }
    return {
        "runs": runs,
        "totals": totals,
        "sent": by_status.get(DeliveryStatus.SENT, 0),
        "failed": by_status.get(DeliveryStatus.FAILED, 0),
        "unknown": by_status.get(DeliveryStatus.UNKNOWN, 0),
        "queued": by_status.get(DeliveryStatus.QUEUED, 0)
        + by_status.get(DeliveryStatus.SENDING, 0),
        "coupons_issued": coupons["issued"],
        "coupons_redeemed": coupons["redeemed"],
        "coupon_discount": coupons["discount"] or Decimal("0.00"),
        "effect": measured,
        "uplift": uplift,
    }


def first_audience_member(*, criteria: dict, store_ids: list[int]) -> Customer | None:
    """A member the audience would reach (not erased, consenting), for the message preview."""
    return (
        _matching(criteria, store_ids)
        .filter(is_erased=False, marketing_consent=True)
        .select_related("home_store")
        .order_by("pk")
        .first()
    )


def outbox(*, member: Customer | None = None) -> QuerySet[Delivery]:
    rows = Delivery.objects.select_related("member", "campaign").exclude(
        status=DeliveryStatus.HOLDOUT
    )
    if member is not None:
        rows = rows.filter(member=member)
    return rows.order_by("-created_at", "-pk")


def coupons_panel_context(request: HttpRequest, customer: Customer) -> dict:
    """The member profile's coupons section (customers.profile)."""
    from tenancy.models import HQ_ROLES, Role

    return {
        "coupons": list(coupons_available(member=customer).select_related("campaign")[:20]),
        # The campaign behind a coupon links to its page for those who may open it.
        "campaign_links": request.staff.role in HQ_ROLES | {Role.STORE_MANAGER},
    }


def messages_timeline(*, member: Customer, limit: int) -> list[dict]:
    """Campaign and service messages on the member timeline (interactions' seam)."""
    rows = (
        Delivery.objects.filter(member=member)
        .exclude(status=DeliveryStatus.HOLDOUT)
        .order_by("-created_at", "-pk")[:limit]
    )
    return [
        {
            "at": row.sent_at or row.created_at,
            "title": f"{row.get_kind_display()} · {row.get_channel_display()} · "
            f"{row.get_status_display()}",
            "detail": row.text[:120],
        }
        for row in rows
    ]
