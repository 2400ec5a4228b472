"""What loyalty tells a data-subject request."""

from __future__ import annotations

from customers.models import Customer
from loyalty.models import (
    PointsAccount,
)

# --- personal data (customers' personal_data_requested event) --------------------------------


def member_personal_data(*, customer: Customer) -> dict:
    """The member's points account and every ledger entry, for a data-subject request."""
    account = PointsAccount.objects.filter(customer=customer).select_related("tier").first()
    if account is None:
        return {"balance": 0, "tier": None, "entries": []}
    return {
        "balance": account.balance,
        "tier": account.tier.name if account.tier else None,
        "entries": [
            {"at": row["occurred_at"].isoformat(), "points": row["points"], "reason": row["reason"]}
            for row in account.entries.order_by("occurred_at", "pk").values(
                "occurred_at", "points", "reason"
            )
        ],
    }


def on_personal_data_requested(sender, *, customer: Customer, **kwargs) -> tuple[str, dict]:
    return "points", member_personal_data(customer=customer)
