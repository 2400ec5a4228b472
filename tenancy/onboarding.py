"""The onboarding checklist of a new staff member, ticked by the real actions.

Steps and what ticks them:
- read the guide: opening a manual page (tenancy.views.help_manual);
- look up a member: opening a member's page (customers.views.profile calls
  `onboarding_step_done`; the live lookup itself is a query-counted hot path, kept write-free);
- enrol a member: the `customer.enrolled` audit event written by customers.services, with the
  staff member as actor;
- record a sale: the `sale.record` audit event written by analytics.services.sale_record.

The last two listen to the audit log (a `post_save` receiver on AuditEvent, connected in
TenancyConfig.ready()), so tenancy needs no import of the apps above it, and a bulk write that
writes no per-row audit event (member or sale imports, the POS API) ticks nothing: the
checklist is about a person's own counter work.

Practice (a design choice, documented in docs/onboarding.md): the "practice" enrolment and
sale are the new staff member's first real ones, done with their manager beside them. No
practice rows are created, so nothing has to be kept out of reports, campaigns or exports.
People who want to try the system without a customer use the demo tenant (`seed_demo`).

Each tick is one INSERT at most per person and step: a done step is remembered in the cache
(after the commit), so the actions that tick cost no query once the step is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import transaction

from tenancy.cache import tenant_cache_key
from tenancy.models import AuditEvent, OnboardingStep, StaffMember

Step = OnboardingStep.Step
STEPS: tuple[str, ...] = (Step.READ_GUIDE, Step.LOOK_UP_MEMBER, Step.ENROL_MEMBER, Step.RECORD_SALE)

# Audit actions that tick a step for their actor.
ACTION_STEPS = {
    "customer.enrolled": Step.ENROL_MEMBER,
    "sale.record": Step.RECORD_SALE,
}

_CACHE_SECONDS = 30 * 24 * 3600


def _done_key(user_id: int, step: str) -> str:
    return tenant_cache_key("onboarding", user_id, step)


def onboarding_step_done(*, staff: StaffMember, step: str) -> bool:
    """Tick `step` for `staff`; True when this call ticked it (False: it was done already)."""
    if step not in STEPS:
        raise ValueError(f"unknown onboarding step {step!r}")
    key = _done_key(staff.user_id, step)
    if cache.get(key):
        return False
    # A savepoint: the caller's transaction (a sale, an enrolment) goes on after a lost race.
    _row, created = OnboardingStep.objects.get_or_create(staff=staff, step=step)
    transaction.on_commit(lambda: cache.set(key, True, _CACHE_SECONDS))
    return created


def tick_from_audit_event(sender, instance: AuditEvent, created: bool, **kwargs) -> None:
    """post_save receiver on AuditEvent: an enrolment or a sale by a staff member ticks."""
    step = ACTION_STEPS.get(instance.action)
    if not created or step is None or instance.actor_id is None:
        return
    if cache.get(_done_key(instance.actor_id, step)):
        return
    staff = StaffMember.objects.filter(user_id=instance.actor_id).first()
    if staff is not None:
        onboarding_step_done(staff=staff, step=step)


def connect_signals() -> None:
    from django.db.models.signals import post_save

    post_save.connect(tick_from_audit_event, sender=AuditEvent, dispatch_uid="onboarding_tick")


@dataclass(frozen=True)
class ChecklistItem:
    step: str
    label: str
    done_at: datetime | None


@dataclass(frozen=True)
class Checklist:
    staff: StaffMember
    items: tuple[ChecklistItem, ...]

    @property
    def done(self) -> int:
        return sum(1 for item in self.items if item.done_at is not None)

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def complete(self) -> bool:
        return self.done == self.total

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total)


def _checklist(staff: StaffMember, done: dict[str, datetime]) -> Checklist:
    labels = dict(Step.choices)
    return Checklist(
        staff=staff,
        items=tuple(ChecklistItem(step, labels[step], done.get(step)) for step in STEPS),
    )


def checklist_for(staff: StaffMember) -> Checklist:
    done = dict(OnboardingStep.objects.filter(staff=staff).values_list("step", "done_at"))
    return _checklist(staff, done)


def team_of(viewer: StaffMember):
    """The staff whose checklists `viewer` may read: HQ everyone, a manager their stores'."""
    staff = StaffMember.objects.filter(is_active=True).select_related("user")
    if not viewer.is_hq:
        staff = staff.filter(store_assignments__store_id__in=viewer.store_ids).distinct()
    return staff.order_by("display_name", "pk")


def checklists_for_team(viewer: StaffMember) -> list[Checklist]:
    members = list(team_of(viewer))
    done: dict[int, dict[str, datetime]] = {member.pk: {} for member in members}
    for staff_id, step, done_at in OnboardingStep.objects.filter(
        staff_id__in=done.keys()
    ).values_list("staff_id", "step", "done_at"):
        done[staff_id][step] = done_at
    return [_checklist(member, done[member.pk]) for member in members]
