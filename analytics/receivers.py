"""How analytics joins in with the members app without customers importing analytics."""

from __future__ import annotations

from django.http import HttpRequest

from analytics.selectors import member_purchase_totals, member_recent_purchases
from analytics.services import sales_move_member


def move_sales_on_merge(sender, *, source, target, **kwargs) -> None:
    """customers.hooks.member_merged: runs inside the merge transaction."""
    sales_move_member(source=source, target=target)


def recent_purchases_panel(request: HttpRequest, customer) -> dict:
    return {
        "purchases": member_recent_purchases(member=customer, staff=request.staff),
        "totals": member_purchase_totals(member=customer),
    }


def recommendations_panel(request: HttpRequest, customer) -> dict:
    from analytics.recommendations import WINDOW_DAYS, member_next_products

    return {"next_products": member_next_products(member=customer), "window_days": WINDOW_DAYS}


def personal_data_requested(sender, *, customer, **kwargs) -> tuple[str, list]:
    """customers.hooks.personal_data_requested: the member's purchases and refunds."""
    from analytics.models import Sale

    return "purchases", [
        {
            "at": row["occurred_at"].isoformat(),
            "store": row["store__code"],
            "total": str(row["total"]),
            "points_earned": row["points_earned"],
        }
        for row in Sale.objects.filter(member=customer)
        .order_by("occurred_at", "pk")
        .values("occurred_at", "store__code", "total", "points_earned")
    ]


def sale_reference_check(*, member, reference: str) -> str | None:
    """interactions hook: is `reference` (a sale number, "#123", or a POS sale id) a purchase
    of `member`? An error message for the lead form, or None."""
    from django.db.models import Q
    from django.utils.translation import gettext as _

    from analytics.models import Sale

    reference = reference.strip()
    number = reference.removeprefix("#")
    match = Q(external_id=reference)
    if number.isdigit() and len(number) <= 18:  # beyond that it cannot be a sale id
        match |= Q(pk=int(number))
    sales = list(Sale.objects.filter(match, refund_of__isnull=True).only("pk", "member_id")[:5])
    if not sales:
        return _("No sale has this number.")
    if all(sale.member_id != member.pk for sale in sales):
        return _("This sale was not made by this member.")
    return None
