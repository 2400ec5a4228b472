"""What analytics does when members merge."""

from __future__ import annotations

from django.db import transaction

from analytics.models import (
    Sale,
)
from customers.models import Customer
from tenancy.services import audit_record

# --- Members -------------------------------------------------------------------------------


@transaction.atomic
def sales_move_member(*, source: Customer, target: Customer) -> int:
    """Give a merged-away member's sales to the member they were merged into.

    Called inside the members app's merge transaction, so either both happen or neither.
    The purchase figures and RFM segment on the target are rewritten by the next nightly run.
    """
    if source.pk == target.pk:
        return 0
    moved = Sale.objects.filter(member=source).update(member=target)
    if moved:
        audit_record(
            action="sale.member_moved",
            obj=target,
            before={"member": source.pk},
            after={"member": target.pk, "sales": moved},
        )
    return moved
