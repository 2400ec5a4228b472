"""How analytics joins in with the members app without customers importing analytics."""

from __future__ import annotations

from django.http import HttpRequest

from analytics.selectors import member_recent_purchases
from analytics.services import sales_move_member


def move_sales_on_merge(sender, *, source, target, **kwargs) -> None:
    """customers.signals.customer_merged: runs inside the merge transaction."""
    sales_move_member(source=source, target=target)


def recent_purchases_panel(request: HttpRequest, customer) -> dict:
    return {"purchases": member_recent_purchases(member=customer, staff=request.staff)}
