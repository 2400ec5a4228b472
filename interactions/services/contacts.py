"""The contact log and case categories (HQ sets each category's service level)."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from interactions.models import (
    CaseCategory,
    Interaction,
)
from stores.models import Store
from tenancy.models import StaffMember
from tenancy.services import audit_record

# ---------------------------------------------------------------------------------------
# Contact log


def _check_store(staff: StaffMember | None, store: Store) -> None:
    if staff is not None and not staff.can_access_store(store.pk):
        raise ValidationError({"store": _("You do not work for this store.")})


@transaction.atomic
def interaction_record(
    *,
    staff: StaffMember,
    member: Customer,
    store: Store,
    channel: str,
    text: str = "",
    occurred_at: datetime.datetime | None = None,
) -> Interaction:
    """Log one contact with a member, at a store the staff member works for."""
    _check_store(staff, store)
    if member.is_erased:
        raise ValidationError(_("This member has been erased."))
    interaction = Interaction.objects.create(
        member=member,
        store=store,
        staff=staff,
        channel=channel,
        text=text.strip(),
        occurred_at=occurred_at or timezone.now(),
    )
    audit_record(
        action="interaction.record",
        actor=staff,
        obj=member,
        after={"interaction": interaction.pk, "channel": channel, "store": store.code},
    )
    return interaction


# ---------------------------------------------------------------------------------------
# Case categories (HQ sets the service level)


@transaction.atomic
def case_category_save(
    *,
    actor: StaffMember,
    name: str,
    kind: str,
    sla_hours: int,
    is_active: bool = True,
    category: CaseCategory | None = None,
) -> CaseCategory:
    if CaseCategory.objects.filter(name=name).exclude(pk=getattr(category, "pk", None)).exists():
        raise ValidationError({"name": _("A category with this name already exists.")})
    before = None
    if category is None:
        category = CaseCategory()
    else:
        before = {"name": category.name, "kind": category.kind, "sla_hours": category.sla_hours}
    category.name = name
    category.kind = kind
    category.sla_hours = sla_hours
    category.is_active = is_active
    category.save()
    audit_record(
        action="case_category.save",
        actor=actor,
        obj=category,
        before=before,
        after={"name": name, "kind": kind, "sla_hours": sla_hours, "is_active": is_active},
    )
    return category
