"""Personal data under PIPL: the retention policy and the register of personal-data requests.

Retention (PIPL art. 47: delete once the purpose is met): a tenant may anonymise members with
no purchase and no visit for N years. The preview page and the nightly job read the same
selector (`retention_candidates`), and the job anonymises through `customer_erase`, so the
member row stays (sales, points history and aggregates keep their numbers) while the person
becomes anonymous. Off by default.

Requests (PIPL art. 44-50, answered within 15 working days by default, counted on the
tenant's working calendar: public holidays off, make-up days worked, tenancy.calendar): who
asked for what, when it is due, who owns it, and the evidence it was answered (the audit
event of the export handed over or of the erase).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import time

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.activity import activity_sources
from customers.models import (
    Customer,
    DataRequest,
    RequestChannel,
    RequestKind,
    RequestStatus,
)
from customers.services import customer_erase, customer_personal_data
from tenancy.calendar import add_working_days
from tenancy.context import current_tenant
from tenancy.dates import add_months, tenant_today
from tenancy.models import HQ_ROLES, AuditEvent, Role, StaffMember, Tenant
from tenancy.services import audit_record, notify

RETENTION_YEARS_SETTING = "privacy_retention_years"  # 0 or missing: off
REQUEST_DAYS_SETTING = "privacy_request_working_days"
REMINDER_DAYS_SETTING = "privacy_request_reminder_days"
DEFAULT_REQUEST_DAYS = 15
DEFAULT_REMINDER_DAYS = 3
RETENTION_BATCH = 200
# One nightly run stops after this, well inside the task's time limit (customers.tasks).
RETENTION_MAX_SECONDS = 50 * 60

logger = logging.getLogger(__name__)


# Settings -------------------------------------------------------------------------------


def retention_years(tenant: Tenant | None = None) -> int:
    return int((tenant or current_tenant()).setting(RETENTION_YEARS_SETTING) or 0)


def request_working_days(tenant: Tenant | None = None) -> int:
    return int((tenant or current_tenant()).setting(REQUEST_DAYS_SETTING) or DEFAULT_REQUEST_DAYS)


def reminder_working_days(tenant: Tenant | None = None) -> int:
    value = (tenant or current_tenant()).setting(REMINDER_DAYS_SETTING)
    return DEFAULT_REMINDER_DAYS if value is None else int(value)


@transaction.atomic
def privacy_settings_update(
    *, actor: StaffMember, retention_years: int, request_days: int, reminder_days: int
) -> None:
    """The tenant's privacy settings; only an HQ administrator changes them (audited)."""
    if actor.role != Role.HQ_ADMIN:
        raise PermissionDenied
    if retention_years < 0 or request_days < 1 or reminder_days < 0:
        raise ValidationError(_("Enter zero or a positive number."))
    # Locked: Tenant.settings is one JSON document that other settings pages write too.
    tenant = Tenant.objects.select_for_update().get(pk=current_tenant().pk)
    keys = (RETENTION_YEARS_SETTING, REQUEST_DAYS_SETTING, REMINDER_DAYS_SETTING)
    before = {key: tenant.settings.get(key) for key in keys}
    after = dict(zip(keys, (retention_years, request_days, reminder_days), strict=True))
    tenant.settings.update(after)
    tenant.save(update_fields=["settings"])
    current_tenant().settings.update(after)
    audit_record(action="privacy.settings", actor=actor, obj=tenant, before=before, after=after)


# Retention ------------------------------------------------------------------------------


def retention_cutoff(*, now: datetime.datetime | None = None) -> datetime.datetime | None:
    """Members with no activity since this instant are due for anonymising; None when off."""
    years = retention_years()
    if not years:
        return None
    return add_months(now or timezone.now(), -12 * years)


def retention_candidates(*, now: datetime.datetime | None = None) -> QuerySet[Customer]:
    """The one selector of who the retention policy anonymises: the preview page counts and
    lists these, the nightly job erases exactly these.

    Inactive = enrolled before the cutoff, no purchase since, and no activity since in any
    source an app above registered (customers.activity: visits, contacts). Members with an
    unfinished personal-data request are held until it is answered.
    """
    cutoff = retention_cutoff(now=now)
    if cutoff is None:
        return Customer.objects.none()
    rows = (
        Customer.objects.active()
        .filter(created_at__lt=cutoff)
        .filter(Q(last_purchase_at__isnull=True) | Q(last_purchase_at__lt=cutoff))
        .exclude(pk__in=DataRequest.objects.unfinished().values("customer_id"))
    )
    for members_active_since in activity_sources().values():
        rows = rows.exclude(pk__in=members_active_since(cutoff))
    return rows.order_by("id")


def retention_run(
    *,
    now: datetime.datetime | None = None,
    batch_size: int = RETENTION_BATCH,
    max_seconds: float | None = None,
) -> int:
    """Anonymise every member the policy selects, in batches; returns how many.

    Each member is erased in its own transaction, checked again under the row lock: a member
    who bought something since the batch was read is left alone. A repeat, or a run racing
    another, finds nobody left (erased members are not selected), so it is idempotent.

    `max_seconds` bounds one run (the nightly task stops before its time limit): members
    not reached are still selected the next night. Measured about 14 queries per member.
    """
    now = now or timezone.now()
    cutoff = retention_cutoff(now=now)
    if cutoff is None:
        return 0
    years = retention_years()
    reason = _("Retention policy: no purchase or visit since %(day)s (%(years)s years)") % {
        "day": cutoff.astimezone(current_tenant().zone).date().isoformat(),
        "years": years,
    }
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    erased, last_pk, stopped = 0, 0, False
    while not stopped:
        batch = list(
            retention_candidates(now=now)
            .filter(pk__gt=last_pk)
            .values_list("pk", flat=True)[:batch_size]
        )
        if not batch:
            break
        last_pk = batch[-1]
        for pk in batch:
            if deadline is not None and time.monotonic() >= deadline:
                stopped = True
                logger.warning("Retention run stopped at its time budget; the rest runs next")
                break
            with transaction.atomic():
                # Lock the row and re-check it is still a candidate: a sale or visit
                # recorded since the batch was read keeps the member.
                customer = (
                    retention_candidates(now=now).select_for_update(of=("self",)).filter(pk=pk)
                ).first()
                if customer is None:
                    continue
                customer_erase(customer=customer, staff=None, reason=reason)
                erased += 1
    if erased:
        with transaction.atomic():
            audit_record(
                action="customer.retention_run",
                after={
                    "erased": erased,
                    "years": years,
                    "cutoff": cutoff.isoformat(),
                    "complete": not stopped,
                },
                reason=reason,
            )
    return erased


# Requests -------------------------------------------------------------------------------


def request_due_on(received_on: datetime.date) -> datetime.date:
    return add_working_days(received_on, request_working_days())


def request_url(data_request: DataRequest) -> str:
    return reverse("customers:request_detail", args=[data_request.pk])


def _check_hq(staff: StaffMember) -> None:
    if staff.role not in HQ_ROLES:
        raise PermissionDenied


def _check_owner(owner: StaffMember | None) -> None:
    if owner is not None and (owner.role not in HQ_ROLES or not owner.is_active):
        raise ValidationError(_("The owner must be an active HQ staff member."))


@transaction.atomic
def data_request_create(
    *,
    staff: StaffMember,
    customer: Customer,
    kind: str,
    channel: str,
    received_on: datetime.date,
    owner: StaffMember | None = None,
    note: str = "",
) -> DataRequest:
    _check_hq(staff)
    _check_owner(owner)
    if kind not in RequestKind.values or channel not in RequestChannel.values:
        raise ValidationError(_("Choose the kind of request and how it was received."))
    if received_on > tenant_today():
        raise ValidationError(_("The received date cannot be in the future."))
    data_request = DataRequest.objects.create(
        kind=kind,
        customer=customer,
        channel=channel,
        received_on=received_on,
        due_on=request_due_on(received_on),
        owner=owner,
        note=note.strip(),
        created_by=staff,
    )
    audit_record(
        action="data_request.created",
        actor=staff,
        obj=data_request,
        after={
            "kind": kind,
            "customer": customer.pk,
            "received_on": received_on,
            "due_on": data_request.due_on,
        },
    )
    if owner is not None and owner.pk != staff.pk:
        _notify_assigned(data_request)
    return data_request


def _notify_assigned(data_request: DataRequest) -> None:
    notify(
        recipients=[data_request.owner],
        kind="data_request.assigned",
        title=_("Personal-data request #%(number)s is yours, due %(due)s")
        % {"number": data_request.pk, "due": data_request.due_on.isoformat()},
        link=request_url(data_request),
    )


@transaction.atomic
def data_request_update(
    *,
    data_request: DataRequest,
    staff: StaffMember,
    status: str,
    owner: StaffMember | None,
    note: str,
) -> DataRequest:
    """Change status, owner or note. Refusing needs a note saying why; an access or deletion
    request is done only with its evidence (run the export or erase from the request page)."""
    _check_hq(staff)
    _check_owner(owner)
    data_request = DataRequest.objects.select_for_update().get(pk=data_request.pk)
    if status not in RequestStatus.values:
        raise ValidationError(_("Choose a status."))
    note = (note or "").strip()
    if status == RequestStatus.REFUSED and not note:
        raise ValidationError(_("Say in the note why the request is refused."))
    if (
        status == RequestStatus.DONE
        and data_request.kind in (RequestKind.ACCESS, RequestKind.DELETION)
        and data_request.evidence_id is None
    ):
        raise ValidationError(
            _("Run the export or the erase from this page first: it attaches the evidence.")
        )
    before = {
        "status": data_request.status,
        "owner": data_request.owner_id,
        "note": data_request.note,
    }
    owner_changed = owner is not None and owner.pk != data_request.owner_id
    data_request.status = status
    data_request.owner = owner
    data_request.note = note
    data_request.closed_at = (
        None if data_request.is_open else (data_request.closed_at or timezone.now())
    )
    data_request.save()
    audit_record(
        action="data_request.updated",
        actor=staff,
        obj=data_request,
        before=before,
        after={"status": status, "owner": data_request.owner_id, "note": note},
    )
    if owner_changed and owner.pk != staff.pk:
        _notify_assigned(data_request)
    return data_request


def _latest_event(*, action: str, customer: Customer, staff: StaffMember | None) -> AuditEvent:
    # The service just wrote this event in the caller's transaction; the newest one of this
    # action about this member by this person is it.
    return AuditEvent.objects.filter(
        action=action,
        object_type=Customer._meta.label_lower,
        object_id=str(customer.pk),
        actor=staff.user if staff else None,
    ).latest("id")


def _check_runnable(data_request: DataRequest, kind: str) -> None:
    if data_request.kind != kind:
        raise ValidationError(_("This action does not answer this kind of request."))
    if not data_request.is_open:
        raise ValidationError(_("This request is closed."))


@transaction.atomic
def data_request_export(*, data_request: DataRequest, staff: StaffMember) -> bytes:
    """Answer an access request: the member's data file through the audited personal-data
    export, with that audit event and the file's SHA-256 attached as evidence. The file
    itself goes to the member, not into the register (no second copy of their data)."""
    _check_hq(staff)
    data_request = DataRequest.objects.select_for_update().get(pk=data_request.pk)
    _check_runnable(data_request, RequestKind.ACCESS)
    customer = data_request.customer
    data = customer_personal_data(customer=customer, staff=staff)
    content = personal_data_file(data)
    data_request.evidence = _latest_event(
        action="customer.personal_data_exported", customer=customer, staff=staff
    )
    data_request.evidence_sha256 = hashlib.sha256(content).hexdigest()
    if data_request.status == RequestStatus.OPEN:
        data_request.status = RequestStatus.IN_PROGRESS
    data_request.save()
    audit_record(
        action="data_request.exported",
        actor=staff,
        obj=data_request,
        after={"evidence": data_request.evidence_id, "sha256": data_request.evidence_sha256},
    )
    return content


def personal_data_file(data: dict) -> bytes:
    """The member's data as the JSON file the profile page's export also downloads."""
    return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")


@transaction.atomic
def data_request_erase(*, data_request: DataRequest, staff: StaffMember) -> DataRequest:
    """Answer a deletion request through `customer_erase`; its event is the evidence and the
    request is done."""
    _check_hq(staff)
    data_request = DataRequest.objects.select_for_update().get(pk=data_request.pk)
    _check_runnable(data_request, RequestKind.DELETION)
    customer = customer_erase(
        customer=data_request.customer,
        staff=staff,
        reason=_("Personal-data request #%(number)s") % {"number": data_request.pk},
    )
    data_request.evidence = _latest_event(action="customer.erased", customer=customer, staff=staff)
    data_request.status = RequestStatus.DONE
    data_request.closed_at = timezone.now()
    data_request.save()
    audit_record(
        action="data_request.erased",
        actor=staff,
        obj=data_request,
        after={"evidence": data_request.evidence_id},
    )
    return data_request


# Reminders ------------------------------------------------------------------------------


def _hq_admins() -> list[StaffMember]:
    return list(StaffMember.objects.filter(role=Role.HQ_ADMIN, is_active=True))


def data_requests_remind(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """The inbox: remind each owner some working days before the due date, and flag overdue
    requests to the owner and the HQ administrators.

    Idempotent: each reminder is claimed with a conditional update (reminded_at /
    overdue_flagged_at still empty), so a repeated or concurrent run notifies nobody twice.
    Requests without an owner go to the HQ administrators.
    """
    now = now or timezone.now()
    today = tenant_today()
    horizon = add_working_days(today, reminder_working_days())
    counts = {"due_soon": 0, "overdue": 0}
    due_soon = DataRequest.objects.unfinished().filter(
        reminded_at__isnull=True, due_on__gte=today, due_on__lte=horizon
    )
    for data_request in due_soon.select_related("owner", "customer").iterator(chunk_size=200):
        with transaction.atomic():
            if not DataRequest.objects.filter(pk=data_request.pk, reminded_at__isnull=True).update(
                reminded_at=now
            ):
                continue  # another run got there first
            notify(
                recipients=[data_request.owner] if data_request.owner else _hq_admins(),
                kind="data_request.due_soon",
                title=_("Personal-data request #%(number)s is due on %(due)s")
                % {"number": data_request.pk, "due": data_request.due_on.isoformat()},
                body=data_request.get_kind_display(),
                link=request_url(data_request),
            )
            counts["due_soon"] += 1
    overdue = DataRequest.objects.overdue(today).filter(overdue_flagged_at__isnull=True)
    for data_request in overdue.select_related("owner").iterator(chunk_size=200):
        with transaction.atomic():
            if not DataRequest.objects.filter(
                pk=data_request.pk, overdue_flagged_at__isnull=True
            ).update(overdue_flagged_at=now):
                continue
            notify(
                recipients=[data_request.owner, *_hq_admins()],
                kind="data_request.overdue",
                title=_("Personal-data request #%(number)s is overdue (due %(due)s)")
                % {"number": data_request.pk, "due": data_request.due_on.isoformat()},
                body=data_request.get_kind_display(),
                link=request_url(data_request),
            )
            audit_record(action="data_request.overdue", obj=data_request, reason="overdue")
            counts["overdue"] += 1
    return counts
