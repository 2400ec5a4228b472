"""Sales leads and their follow-ups, won (against a real sale) or lost."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from interactions import hooks
from interactions.models import (
    Lead,
    LeadFollowUp,
    LeadStatus,
)
from interactions.services.contacts import _check_store
from stores.models import Store
from tenancy.messages import message
from tenancy.models import StaffMember
from tenancy.services import audit_record, notify

# ---------------------------------------------------------------------------------------
# Sales leads and follow-ups


def _check_lead_open(lead: Lead) -> None:
    if lead.status != LeadStatus.OPEN:
        raise ValidationError(_("This lead is already closed."))


@transaction.atomic
def lead_create(
    *,
    staff: StaffMember,
    member: Customer,
    store: Store,
    product: str,
    budget: Decimal | None = None,
    next_step: str = "",
    follow_up_on: datetime.date | None = None,
) -> Lead:
    """Record a member's buying intent; the clerk who records it follows it up."""
    _check_store(staff, store)
    lead = Lead.objects.create(
        member=member,
        store=store,
        owner=staff,
        product=product.strip(),
        budget=budget,
        next_step=next_step.strip(),
        follow_up_on=follow_up_on,
    )
    audit_record(action="lead.create", actor=staff, obj=lead, after={"product": lead.product})
    return lead


def _locked_lead(lead: Lead) -> Lead:
    # Lock the lead: a follow-up saved while someone else closes it must see the close.
    return Lead.objects.select_for_update().get(pk=lead.pk)


@transaction.atomic
def lead_follow_up(
    *,
    staff: StaffMember,
    lead: Lead,
    note: str,
    next_step: str = "",
    follow_up_on: datetime.date | None = None,
) -> LeadFollowUp:
    locked = _locked_lead(lead)
    _check_lead_open(locked)
    follow_up = LeadFollowUp.objects.create(
        lead=locked, staff=staff, note=note.strip(), due_on=locked.follow_up_on
    )
    locked.next_step = next_step.strip()
    locked.follow_up_on = follow_up_on
    locked.save(update_fields=["next_step", "follow_up_on"])
    audit_record(
        action="lead.follow_up",
        actor=staff,
        obj=locked,
        after={
            "follow_up": follow_up.pk,
            "next_step": locked.next_step,
            "follow_up_on": follow_up_on.isoformat() if follow_up_on else None,
        },
    )
    return follow_up


@transaction.atomic
def lead_win(*, staff: StaffMember, lead: Lead, sale_reference: str) -> Lead:
    """Close a lead as won, with the sale that won it (checked by the sales app if present)."""
    locked = _locked_lead(lead)
    _check_lead_open(locked)
    reference = sale_reference.strip()
    if not reference:
        raise ValidationError({"sale_reference": _("Give the sale that won this lead.")})
    check = hooks.get("sale_reference_check")
    if check is not None:
        problem = check(member=locked.member, reference=reference)
        if problem:
            raise ValidationError({"sale_reference": problem})
    locked.status = LeadStatus.WON
    locked.sale_reference = reference
    locked.closed_at = timezone.now()
    locked.save(update_fields=["status", "sale_reference", "closed_at"])
    audit_record(action="lead.won", actor=staff, obj=locked, after={"sale": reference})
    return locked


@transaction.atomic
def lead_lose(*, staff: StaffMember, lead: Lead, reason: str) -> Lead:
    locked = _locked_lead(lead)
    _check_lead_open(locked)
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the lead was lost.")})
    locked.status = LeadStatus.LOST
    locked.lost_reason = reason.strip()
    locked.closed_at = timezone.now()
    locked.save(update_fields=["status", "lost_reason", "closed_at"])
    audit_record(action="lead.lost", actor=staff, obj=locked, after={"reason": locked.lost_reason})
    return locked


REMINDER_HOUR = 8


def leads_remind_due(*, today: datetime.date | None = None) -> int:
    """Tell each owner about their open leads due today or earlier, once per follow-up day.

    Idempotent: the reminder for a lead's follow-up day is claimed with a conditional update
    of `reminded_for`; a second run the same day finds nothing to claim.
    """
    if today is None:
        from tenancy.context import current_tenant

        local_now = timezone.localtime(timezone.now(), current_tenant().zone)
        if local_now.hour < REMINDER_HOUR:
            return 0  # beat runs hourly; people hear of the day's follow-ups in the morning
        today = local_now.date()
    due = Lead.objects.filter(
        status=LeadStatus.OPEN, follow_up_on__lte=today, owner__isnull=False
    ).exclude(reminded_for=F("follow_up_on"))
    by_owner: dict[int, list[Lead]] = {}
    for lead in due.select_related("owner", "member"):
        claimed = (
            Lead.objects.filter(pk=lead.pk)
            .exclude(reminded_for=F("follow_up_on"))
            .update(reminded_for=F("follow_up_on"))
        )
        if claimed:
            by_owner.setdefault(lead.owner_id, []).append(lead)
    for leads in by_owner.values():
        owner = leads[0].owner
        notify(
            recipients=[owner],
            kind="lead.follow_up_due",
            title=message("lead.follow_up_due.title", count=len(leads)),
            body="、".join(f"{lead.member.name}：{lead.product}" for lead in leads[:10]),
            link=reverse("interactions:lead_today"),
        )
    return sum(len(leads) for leads in by_owner.values())
