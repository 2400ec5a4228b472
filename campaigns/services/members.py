"""What campaigns does when members merge or are erased, and what it tells a data-subject
request.
"""

from __future__ import annotations

from campaigns.models import (
    BirthdayGreeting,
    Coupon,
    Delivery,
    DeliveryStatus,
)
from customers.models import Customer

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
