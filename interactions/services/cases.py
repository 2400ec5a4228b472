"""Service cases: open, assign, comment, attach, move through their states, escalate when
overdue.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from interactions import hooks
from interactions.models import (
    TRANSITIONS,
    CaseAttachment,
    CaseCategory,
    CaseComment,
    CaseStatus,
    Escalation,
    ServiceCase,
)
from interactions.services.contacts import _check_store
from stores.models import Store
from tenancy.messages import is_message, message
from tenancy.models import HQ_ROLES, Role, StaffMember
from tenancy.services import audit_record, notify

# ---------------------------------------------------------------------------------------
# Service cases


def case_url(case: ServiceCase) -> str:
    return reverse("interactions:case_detail", kwargs={"pk": case.pk})


def store_managers(store: Store):
    return StaffMember.objects.filter(
        role=Role.STORE_MANAGER, is_active=True, store_assignments__store=store
    ).select_related("user")


def hq_staff():
    return StaffMember.objects.filter(role__in=HQ_ROLES, is_active=True).select_related("user")


def _check_assignee(case_store: Store, assignee: StaffMember | None) -> None:
    if assignee is not None and not (
        assignee.is_active and assignee.can_access_store(case_store.pk)
    ):
        raise ValidationError({"assignee": _("The assignee does not work for this store.")})


def _subject(case: ServiceCase) -> str | dict:
    """The case's subject as a message parameter: a stored message stays one."""
    return case.subject_message or case.subject


def _notify_assigned(case: ServiceCase, actor: StaffMember | None) -> None:
    if case.assignee_id and case.assignee_id != getattr(actor, "pk", None):
        notify(
            recipients=[case.assignee],
            kind="case.assigned",
            title=message("case.assigned.title", number=case.pk, subject=_subject(case)),
            body=message(
                "case.assigned.body",
                due=timezone.localtime(case.due_at).strftime("%Y-%m-%d %H:%M"),
            ),
            link=case_url(case),
        )


@transaction.atomic
def case_open(
    *,
    actor: StaffMember | None,
    member: Customer,
    store: Store,
    category: CaseCategory,
    subject: str | dict,
    description: str = "",
    priority: str = "normal",
    assignee: StaffMember | None = None,
) -> ServiceCase:
    """Open a case; it is due after the category's service level (set by HQ)."""
    _check_store(actor, store)
    _check_assignee(store, assignee)
    if not category.is_active:
        raise ValidationError({"category": _("This category is no longer in use.")})
    case = ServiceCase.objects.create(
        member=member,
        store=store,
        category=category,
        **(
            {"subject_message": subject}
            if is_message(subject)
            else {"subject": str(subject).strip()}
        ),
        description=description.strip(),
        priority=priority,
        assignee=assignee,
        opened_by=actor,
        due_at=timezone.now() + datetime.timedelta(hours=category.sla_hours),
    )
    audit_record(
        action="case.open",
        actor=actor,
        obj=case,
        after={"store": store.code, "category": category.name, "priority": priority},
    )
    _notify_assigned(case, actor)
    return case


def _locked(case: ServiceCase) -> ServiceCase:
    # Lock the case row: two people changing the status at once must not both pass the
    # transition check against the same old status.
    return ServiceCase.objects.select_for_update().get(pk=case.pk)


@transaction.atomic
def case_transition(*, actor: StaffMember, case: ServiceCase, status: str) -> ServiceCase:
    """Move a case along new -> in progress -> waiting -> resolved -> closed, nothing else."""
    locked = _locked(case)
    if status not in TRANSITIONS[locked.status]:
        raise ValidationError(
            _("A case that is “%(current)s” cannot become “%(target)s”.")
            % {
                "current": CaseStatus(locked.status).label,
                "target": CaseStatus(status).label if status in CaseStatus.values else status,
            }
        )
    before = locked.status
    now = timezone.now()
    locked.status = status
    if status == CaseStatus.RESOLVED:
        locked.resolved_at = now
    elif status == CaseStatus.CLOSED:
        locked.closed_at = now
    elif before == CaseStatus.RESOLVED:
        locked.resolved_at = None  # reopened
    locked.save(update_fields=["status", "resolved_at", "closed_at", "updated_at"])
    audit_record(
        action="case.transition",
        actor=actor,
        obj=locked,
        before={"status": before},
        after={"status": status},
    )
    if status == CaseStatus.RESOLVED:
        hooks.case_resolved.send(sender=ServiceCase, case=locked)
    return locked


@transaction.atomic
def case_assign(
    *, actor: StaffMember, case: ServiceCase, assignee: StaffMember | None
) -> ServiceCase:
    locked = _locked(case)
    if not locked.is_open:
        raise ValidationError(_("Only open cases can be reassigned."))
    _check_assignee(locked.store, assignee)
    before = locked.assignee_id
    locked.assignee = assignee
    locked.save(update_fields=["assignee", "updated_at"])
    audit_record(
        action="case.assign",
        actor=actor,
        obj=locked,
        before={"assignee": before},
        after={"assignee": getattr(assignee, "pk", None)},
    )
    if before != getattr(assignee, "pk", None):
        _notify_assigned(locked, actor)
    return locked


@transaction.atomic
def case_comment_add(*, actor: StaffMember, case: ServiceCase, text: str) -> CaseComment:
    text = text.strip()
    if not text:
        raise ValidationError({"text": _("Write a comment first.")})
    comment = CaseComment.objects.create(case=case, author=actor, text=text)
    ServiceCase.objects.filter(pk=case.pk).update(updated_at=timezone.now())
    audit_record(action="case.comment", actor=actor, obj=case, after={"comment": comment.pk})
    if case.assignee_id and case.assignee_id != actor.pk:
        notify(
            recipients=[case.assignee],
            kind="case.comment",
            title=message("case.comment.title", number=case.pk),
            body=text[:200],
            link=case_url(case),
        )
    return comment


ATTACHMENT_MAX_BYTES = 5 * 1024 * 1024
# Extension -> (declared content type, the file's first bytes). The content is checked too,
# so a renamed executable is refused even when the browser calls it image/png.
ATTACHMENT_TYPES = {
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".pdf": ("application/pdf", (b"%PDF-",)),
}


@transaction.atomic
def case_attachment_add(
    *, actor: StaffMember, case: ServiceCase, upload: UploadedFile
) -> CaseAttachment:
    name = (upload.name or "").rsplit("/", 1)[-1]
    extension = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if upload.size > ATTACHMENT_MAX_BYTES:
        raise ValidationError({"file": _("Files may be at most 5 MB.")})
    if extension not in ATTACHMENT_TYPES:
        raise ValidationError({"file": _("Only JPEG, PNG and PDF files can be attached.")})
    content_type, signatures = ATTACHMENT_TYPES[extension]
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    if not any(head.startswith(signature) for signature in signatures):
        raise ValidationError({"file": _("The file's content does not match its type.")})
    attachment = CaseAttachment(
        case=case, name=name[:200], content_type=content_type, size=upload.size, uploaded_by=actor
    )
    attachment.file.save(name, upload, save=False)
    attachment.save()
    audit_record(action="case.attach", actor=actor, obj=case, after={"file": attachment.name})
    return attachment


def hq_escalation_hours(tenant) -> int:
    """How long past due a case waits at the store manager before HQ is told (tenant setting)."""
    return int(tenant.setting("cases_hq_escalation_hours", 24))


def cases_escalate_overdue(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Flag overdue open cases: first to the store's managers, then (later) to HQ.

    Idempotent: each level is claimed with a conditional update on the case row
    (escalation < level), so a repeated or concurrent run notifies nobody twice.
    """
    from tenancy.context import current_tenant

    now = now or timezone.now()
    tenant = current_tenant()
    hq_after = datetime.timedelta(hours=hq_escalation_hours(tenant))
    counts = {"store_manager": 0, "hq": 0}
    overdue = ServiceCase.objects.overdue(now).select_related("store", "assignee")
    for case in overdue.filter(escalation__lt=Escalation.HQ).iterator(chunk_size=200):
        level = Escalation.HQ if case.due_at + hq_after < now else Escalation.STORE_MANAGER
        if case.escalation >= level:
            continue
        with transaction.atomic():
            claimed = ServiceCase.objects.filter(pk=case.pk, escalation__lt=level).update(
                escalation=level, escalated_at=now
            )
            if not claimed:
                continue  # another run got there first
            if level == Escalation.HQ:
                recipients = hq_staff()
                title_key = "case.escalated.title"
                counts["hq"] += 1
            else:
                recipients = [*store_managers(case.store), case.assignee]
                title_key = "case.overdue.title"
                counts["store_manager"] += 1
            notify(
                recipients=recipients,
                kind="case.overdue",
                title=message(title_key, number=case.pk, subject=_subject(case)),
                body=message(
                    "case.overdue.body",
                    store=case.store.code,
                    due=timezone.localtime(case.due_at, tenant.zone).strftime("%Y-%m-%d %H:%M"),
                ),
                link=case_url(case),
            )
            audit_record(
                action="case.escalate", obj=case, after={"level": int(level)}, reason="overdue"
            )
    return counts
