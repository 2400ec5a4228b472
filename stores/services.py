"""Store registry services: every write and business rule of regions, types, codes,
applications, re-reviews and imports. Each writes its audit event in its own transaction."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from stores.models import (
    STORE_CODE_PATTERN,
    ApplicationDocument,
    ApplicationKind,
    ApplicationStatus,
    Region,
    ReviewStatus,
    Store,
    StoreCodeApplication,
    StoreCodeCounter,
    StoreCodeHistory,
    StoreReview,
    StoreStatus,
    StoreType,
)
from tenancy import tabular
from tenancy.context import current_tenant
from tenancy.dates import add_months, tenant_today
from tenancy.models import HQ_ROLES, Role, StaffMember, Tenant
from tenancy.services import audit_record, notify

REVIEW_MONTHS_SETTING = "store_review_months"
DEFAULT_REVIEW_MONTHS = 12

_CODE_RE = re.compile(STORE_CODE_PATTERN)


# --- Codes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedCode:
    region: str
    store_type: str
    sequence: int


def store_code_format(*, region_code: str, type_code: str, sequence: int) -> str:
    """BJ-ZY-001: three digits at least, growing to four after 999 (BJ-ZY-1000)."""
    if sequence < 1:
        raise ValueError("sequences start at 1")
    return f"{region_code}-{type_code}-{sequence:03d}"


def store_code_parse(code: str) -> ParsedCode:
    match = _CODE_RE.match(code or "")
    if match is None or int(match.group("seq")) < 1:
        raise ValidationError(
            _("%(code)s is not a valid store code (REGION-TYPE-SEQUENCE, e.g. BJ-ZY-001)."),
            params={"code": code},
            code="invalid_code",
        )
    return ParsedCode(match.group("region"), match.group("type"), int(match.group("seq")))


def _locked_counter(*, region: Region, store_type: StoreType) -> StoreCodeCounter:
    # get_or_create first: a concurrent first use of a prefix makes one insert fail on the
    # unique (tenant, region, store_type) constraint, and get_or_create then reads the row
    # the winner committed.
    StoreCodeCounter.objects.get_or_create(region=region, store_type=store_type)
    # Lock the counter until this transaction ends: two approvals on the same prefix would
    # otherwise read the same last_sequence and issue the same code. Because the increment
    # is part of the approval's transaction, a rollback gives the number back (no gaps).
    return StoreCodeCounter.objects.select_for_update().get(region=region, store_type=store_type)


def _issue_code(*, region: Region, store_type: StoreType) -> str:
    """Take the next code of a prefix. Must run inside the caller's transaction."""
    counter = _locked_counter(region=region, store_type=store_type)
    counter.last_sequence += 1
    counter.save(update_fields=["last_sequence"])
    return store_code_format(
        region_code=region.code, type_code=store_type.code, sequence=counter.last_sequence
    )


def store_code_search(*, query: str):
    """Stores whose current or former code, or name, contains `query`."""
    from django.db.models import Q

    query = query.strip()
    former = StoreCodeHistory.objects.filter(code__icontains=query).values("store_id")
    return Store.objects.filter(
        Q(code__icontains=query) | Q(name__icontains=query) | Q(pk__in=former)
    )


# --- Dates ----------------------------------------------------------------------------------


def review_interval_months(tenant: Tenant | None = None) -> int:
    tenant = tenant or current_tenant()
    try:
        months = int(tenant.setting(REVIEW_MONTHS_SETTING, DEFAULT_REVIEW_MONTHS))
    except (TypeError, ValueError):
        return DEFAULT_REVIEW_MONTHS
    return months if months > 0 else DEFAULT_REVIEW_MONTHS


def next_review_date(*, after: datetime.date | None = None) -> datetime.date:
    return add_months(after or tenant_today(), review_interval_months())


@transaction.atomic
def review_interval_set(*, months: int, actor: StaffMember) -> None:
    if not 1 <= months <= 60:
        raise ValidationError(_("The review interval must be between 1 and 60 months."))
    tenant = Tenant.objects.select_for_update().get(pk=current_tenant().pk)
    before = review_interval_months(tenant)
    tenant.settings = {**tenant.settings, REVIEW_MONTHS_SETTING: months}
    tenant.save(update_fields=["settings"])
    current_tenant().settings = tenant.settings
    audit_record(
        action="stores.review_interval_set",
        actor=actor,
        obj=tenant,
        before={"months": before},
        after={"months": months},
    )


# --- Regions and store types ----------------------------------------------------------------


def _in_use(obj: Region | StoreType) -> bool:
    if isinstance(obj, Region):
        return (
            Store.objects.filter(region=obj).exists()
            or StoreCodeApplication.objects.filter(region=obj).exists()
            or Region.objects.filter(parent=obj).exists()
            or StoreCodeCounter.objects.filter(region=obj).exists()
        )
    return (
        Store.objects.filter(store_type=obj).exists()
        or StoreCodeApplication.objects.filter(store_type=obj).exists()
        or StoreCodeCounter.objects.filter(store_type=obj).exists()
    )


def _snapshot(obj: Region | StoreType) -> dict:
    data = {"code": obj.code, "name": obj.name, "is_active": obj.is_active}
    if isinstance(obj, Region):
        data["parent"] = obj.parent.code if obj.parent_id else None
    return data


def _label(obj: Region | StoreType) -> str:
    return "region" if isinstance(obj, Region) else "store_type"


@transaction.atomic
def setup_entry_save(
    *, obj: Region | StoreType, actor: StaffMember, previous_code: str | None = None
) -> Region | StoreType:
    """Create or update a region or store type (already validated by its form).

    A code that stores already carry cannot change: their codes would no longer match.
    """
    creating = obj.pk is None
    before = None
    if not creating:
        stored = type(obj).objects.select_for_update().get(pk=obj.pk)
        before = _snapshot(stored)
        if stored.code != obj.code and _in_use(stored):
            raise ValidationError(_("This code is in use and cannot be changed."))
    obj.full_clean()
    obj.save()
    audit_record(
        action=f"stores.{_label(obj)}_{'create' if creating else 'update'}",
        actor=actor,
        obj=obj,
        before=before,
        after=_snapshot(obj),
    )
    return obj


@transaction.atomic
def setup_entry_delete(*, obj: Region | StoreType, actor: StaffMember) -> None:
    """Delete an unused region or type; one in use can only be deactivated."""
    obj = type(obj).objects.select_for_update().get(pk=obj.pk)
    if _in_use(obj):
        raise ValidationError(
            _("%(code)s is in use and cannot be deleted; deactivate it instead."),
            params={"code": obj.code},
        )
    audit_record(action=f"stores.{_label(obj)}_delete", actor=actor, obj=obj, before=_snapshot(obj))
    obj.delete()


# --- Applications ---------------------------------------------------------------------------

APPLICATION_FIELDS = (
    "store_name",
    "region",
    "store_type",
    "address",
    "contact_name",
    "contact_phone",
    "planned_opening_on",
    "reason",
)


def _application_snapshot(application: StoreCodeApplication) -> dict:
    return {
        "kind": application.kind,
        "status": application.status,
        "store_name": application.store_name,
        "region": application.region.code,
        "store_type": application.store_type.code,
        "store": application.store.code if application.store_id else None,
    }


def _check_active(region: Region, store_type: StoreType) -> None:
    if not region.is_active:
        raise ValidationError(_("Region %(code)s is deactivated."), params={"code": region.code})
    if not store_type.is_active:
        raise ValidationError(
            _("Store type %(code)s is deactivated."), params={"code": store_type.code}
        )


# --- Who hears about store codes -------------------------------------------------------------

CODE_RECIPIENTS_SETTING = "store_code_recipients"


def store_code_hq_recipients(tenant: Tenant | None = None) -> list[StaffMember]:
    """The HQ people told about every store-code event: those chosen on the setup page, or
    every HQ administrator while nobody was chosen."""
    tenant = tenant or current_tenant()
    chosen = tenant.setting(CODE_RECIPIENTS_SETTING) or []
    staff = StaffMember.objects.filter(is_active=True).select_related("user")
    if chosen:
        return list(staff.filter(pk__in=chosen, role__in=HQ_ROLES))
    return list(staff.filter(role=Role.HQ_ADMIN))


@transaction.atomic
def store_code_recipients_set(*, staff_ids: list[int], actor: StaffMember) -> None:
    tenant = Tenant.objects.select_for_update().get(pk=current_tenant().pk)
    valid = sorted(
        StaffMember.objects.filter(pk__in=staff_ids, role__in=HQ_ROLES).values_list("pk", flat=True)
    )
    before = tenant.setting(CODE_RECIPIENTS_SETTING) or []
    tenant.settings = {**tenant.settings, CODE_RECIPIENTS_SETTING: valid}
    tenant.save(update_fields=["settings"])
    current_tenant().settings = tenant.settings
    audit_record(
        action="stores.code_recipients_set",
        actor=actor,
        obj=tenant,
        before={"staff": before},
        after={"staff": valid},
    )


def _store_managers(store: Store | None) -> list[StaffMember]:
    if store is None:
        return []
    return list(
        StaffMember.objects.filter(
            is_active=True, role=Role.STORE_MANAGER, store_assignments__store=store
        ).select_related("user")
    )


def _tell(
    recipients: Iterable[StaffMember],
    *,
    actor: StaffMember | None,
    kind: str,
    title: str,
    body: str = "",
    link: str = "",
) -> None:
    """One inbox item (and an e-mail copy where asked for) to each recipient but the actor."""
    people = [staff for staff in recipients if actor is None or staff.pk != actor.pk]
    notify(recipients=people, kind=kind, title=title, body=body, link=link)


def _application_link(application: StoreCodeApplication) -> str:
    return reverse("stores:application_detail", args=[application.pk])


@transaction.atomic
def application_create(
    *,
    applicant: StaffMember,
    kind: str = ApplicationKind.NEW_STORE,
    store: Store | None = None,
    **fields,
) -> StoreCodeApplication:
    """Save a draft: a new-store application, or a code change for `store`."""
    if kind == ApplicationKind.CODE_CHANGE:
        if store is None:
            raise ValueError("a code change names its store")
        if store.status == StoreStatus.CLOSED:
            raise ValidationError(_("A closed store's code cannot change."))
        if (fields["region"].pk, fields["store_type"].pk) == (store.region_id, store.store_type_id):
            raise ValidationError(_("Choose a different region or store type."))
        fields.setdefault("store_name", store.name)
    _check_active(fields["region"], fields["store_type"])
    application = StoreCodeApplication(applicant=applicant, kind=kind, store=store, **fields)
    if store is not None:
        application.previous_code = store.code
    application.save()
    audit_record(
        action="stores.application_create",
        actor=applicant,
        obj=application,
        after=_application_snapshot(application),
        reason=application.reason,
    )
    return application


def _locked(application: StoreCodeApplication) -> StoreCodeApplication:
    # Lock the application: two reviewers clicking at once must not both approve it (two
    # stores, two codes) or approve what the other just rejected.
    return StoreCodeApplication.objects.select_for_update().get(pk=application.pk)


@transaction.atomic
def application_update(
    *, application: StoreCodeApplication, actor: StaffMember, **fields
) -> StoreCodeApplication:
    application = _locked(application)
    if not application.is_editable:
        raise ValidationError(_("A submitted application is read-only."))
    before = _application_snapshot(application)
    for name, value in fields.items():
        if name not in APPLICATION_FIELDS:
            raise ValueError(f"{name} cannot be set on an application")
        setattr(application, name, value)
    if application.kind == ApplicationKind.CODE_CHANGE and (
        application.region_id,
        application.store_type_id,
    ) == (application.store.region_id, application.store.store_type_id):
        raise ValidationError(_("Choose a different region or store type."))
    _check_active(application.region, application.store_type)
    application.save()
    audit_record(
        action="stores.application_update",
        actor=actor,
        obj=application,
        before=before,
        after=_application_snapshot(application),
    )
    return application


@transaction.atomic
def application_submit(
    *, application: StoreCodeApplication, actor: StaffMember
) -> StoreCodeApplication:
    application = _locked(application)
    if not application.is_editable:
        raise ValidationError(_("This application has already been submitted."))
    _check_active(application.region, application.store_type)
    if application.kind == ApplicationKind.NEW_STORE and not application.documents.exists():
        raise ValidationError(_("Attach at least one qualification document before submitting."))
    resubmission = application.status == ApplicationStatus.REJECTED
    application.status = ApplicationStatus.SUBMITTED
    application.submitted_at = timezone.now()
    application.save(update_fields=["status", "submitted_at"])
    audit_record(
        action="stores.application_resubmit" if resubmission else "stores.application_submit",
        actor=actor,
        obj=application,
        after=_application_snapshot(application),
        reason=application.reason,
    )
    _tell(
        store_code_hq_recipients(),
        actor=actor,
        kind="stores.application_submitted",
        title=_("Store code application to review: %(name)s") % {"name": application.store_name},
        body=application.reason,
        link=_application_link(application),
    )
    return application


def _require_submitted(application: StoreCodeApplication) -> None:
    if application.status != ApplicationStatus.SUBMITTED:
        raise ValidationError(
            _("Only a submitted application can be reviewed; this one is %(status)s."),
            params={"status": application.get_status_display()},
        )


def _require_hq(reviewer: StaffMember) -> None:
    # The views already allow only HQ roles; this keeps the rule when called from elsewhere.
    if not reviewer.is_hq:
        raise ValidationError(_("Only HQ may review store code applications."))


@transaction.atomic
def application_approve(
    *, application: StoreCodeApplication, reviewer: StaffMember, note: str = ""
) -> Store:
    """Approve: create the store (or re-code it) with the next code of its prefix.

    Everything happens in this one transaction: if anything fails, the counter is not moved,
    so no number is consumed.
    """
    _require_hq(reviewer)
    application = _locked(application)
    _require_submitted(application)
    _check_active(application.region, application.store_type)
    if application.kind == ApplicationKind.NEW_STORE:
        store = _create_store(application=application, reviewer=reviewer)
    else:
        store = _change_code(application=application, reviewer=reviewer)
    application.status = ApplicationStatus.APPROVED
    application.reviewed_by = reviewer
    application.reviewed_at = timezone.now()
    application.review_note = note
    application.issued_code = store.code
    application.store = store
    application.save()
    audit_record(
        action="stores.application_approve",
        actor=reviewer,
        obj=application,
        after={**_application_snapshot(application), "issued_code": store.code},
        reason=note,
    )
    if application.kind == ApplicationKind.CODE_CHANGE:
        title = _("Store code changed: %(old)s → %(new)s (%(name)s)") % {
            "old": application.previous_code,
            "new": store.code,
            "name": store.name,
        }
    else:
        title = _("Store code application approved: %(code)s %(name)s") % {
            "code": store.code,
            "name": store.name,
        }
    _tell(
        [application.applicant, *_store_managers(store), *store_code_hq_recipients()],
        actor=reviewer,
        kind="stores.application_approved",
        title=title,
        body=note,
        link=_application_link(application),
    )
    return store


def _create_store(*, application: StoreCodeApplication, reviewer: StaffMember) -> Store:
    code = _issue_code(region=application.region, store_type=application.store_type)
    store = Store.objects.create(
        code=code,
        name=application.store_name,
        region=application.region,
        store_type=application.store_type,
        status=StoreStatus.PREPARING,
        address=application.address,
        phone=application.contact_phone,
        next_review_on=next_review_date(),
    )
    StoreCodeHistory.objects.create(
        store=store, code=code, reason=_("Approved application #%(id)s") % {"id": application.pk}
    )
    audit_record(
        action="stores.store_create",
        actor=reviewer,
        obj=store,
        after={"code": code, "name": store.name, "status": store.status},
        reason=application.reason,
    )
    return store


def _change_code(*, application: StoreCodeApplication, reviewer: StaffMember) -> Store:
    # Lock the store: a concurrent close or second code change must wait for this one.
    store = Store.objects.select_for_update().get(pk=application.store_id)
    if store.status == StoreStatus.CLOSED:
        raise ValidationError(_("A closed store's code cannot change."))
    if store.code != application.previous_code:
        raise ValidationError(
            _("The store's code changed since this request was made; ask for a new request.")
        )
    old_code = store.code
    new_code = _issue_code(region=application.region, store_type=application.store_type)
    now = timezone.now()
    retired = StoreCodeHistory.objects.filter(store=store, code=old_code).update(retired_at=now)
    if not retired:
        # A store created before code records existed: record its old code now, so that it
        # stays searchable and can never be issued again.
        StoreCodeHistory.objects.create(store=store, code=old_code, retired_at=now)
    StoreCodeHistory.objects.create(
        store=store,
        code=new_code,
        reason=_("Code change, application #%(id)s") % {"id": application.pk},
    )
    store.code = new_code
    store.region = application.region
    store.store_type = application.store_type
    store.save(update_fields=["code", "region", "store_type"])
    audit_record(
        action="stores.store_code_change",
        actor=reviewer,
        obj=store,
        before={"code": old_code},
        after={"code": new_code},
        reason=application.reason,
    )
    return store


@transaction.atomic
def application_reject(
    *, application: StoreCodeApplication, reviewer: StaffMember, reason: str
) -> StoreCodeApplication:
    """Send the application back to the applicant with a reason; no number is consumed."""
    _require_hq(reviewer)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("A rejection needs a reason."))
    application = _locked(application)
    _require_submitted(application)
    application.status = ApplicationStatus.REJECTED
    application.reviewed_by = reviewer
    application.reviewed_at = timezone.now()
    application.review_note = reason
    application.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    audit_record(
        action="stores.application_reject",
        actor=reviewer,
        obj=application,
        after=_application_snapshot(application),
        reason=reason,
    )
    _tell(
        [application.applicant, *store_code_hq_recipients()],
        actor=reviewer,
        kind="stores.application_rejected",
        title=_("Store code application returned: %(name)s") % {"name": application.store_name},
        body=reason,
        link=_application_link(application),
    )
    return application


# --- Qualification documents ----------------------------------------------------------------

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
# Extension -> (content type, the file's first bytes). The content is checked too: a renamed
# executable is not a PDF.
DOCUMENT_TYPES = {
    ".pdf": ("application/pdf", (b"%PDF-",)),
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
}


def document_check(upload: UploadedFile) -> str:
    """Size and type of an upload; returns its content type or raises ValidationError."""
    from pathlib import PurePath

    if upload.size > MAX_DOCUMENT_BYTES:
        raise ValidationError(_("A document may be at most 5 MB."))
    if upload.size == 0:
        raise ValidationError(_("The file is empty."))
    extension = PurePath(upload.name or "").suffix.lower()
    if extension not in DOCUMENT_TYPES:
        raise ValidationError(_("Upload a PDF, JPG or PNG file."))
    content_type, signatures = DOCUMENT_TYPES[extension]
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    if not any(head.startswith(signature) for signature in signatures):
        raise ValidationError(_("The file's content does not match its type."))
    return content_type


@transaction.atomic
def document_add(
    *, application: StoreCodeApplication, upload: UploadedFile, actor: StaffMember
) -> ApplicationDocument:
    content_type = document_check(upload)
    application = _locked(application)
    if not application.is_editable:
        raise ValidationError(_("A submitted application is read-only."))
    document = ApplicationDocument(
        application=application,
        original_name=(upload.name or "")[-200:],
        content_type=content_type,
        size=upload.size,
        uploaded_by=actor,
    )
    document.tenant = current_tenant()
    document.file.save(upload.name, upload, save=False)
    document.save()
    audit_record(
        action="stores.document_add",
        actor=actor,
        obj=application,
        after={"document": document.original_name, "size": document.size},
    )
    return document


# --- Store status ---------------------------------------------------------------------------


@transaction.atomic
def store_set_status(*, store: Store, status: str, actor: StaffMember, reason: str) -> Store:
    """Move a store between 筹备/营业/停业/闭店. Closing is final; the code stays with it."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Give a reason for the status change."))
    store = Store.objects.select_for_update().get(pk=store.pk)
    if store.status == StoreStatus.CLOSED:
        raise ValidationError(_("A closed store cannot be reopened."))
    if status not in StoreStatus.values:
        raise ValidationError(_("Unknown status."))
    before = store.status
    store.status = status
    fields = ["status"]
    if status == StoreStatus.OPEN and store.opened_on is None:
        store.opened_on = tenant_today()
        fields.append("opened_on")
    if status == StoreStatus.CLOSED:
        store.next_review_on = None
        fields.append("next_review_on")
    store.save(update_fields=fields)
    audit_record(
        action="stores.store_status",
        actor=actor,
        obj=store,
        before={"status": before},
        after={"status": status},
        reason=reason,
    )
    return store


# --- Periodic re-review ---------------------------------------------------------------------


@transaction.atomic
def reviews_mark_due(*, today: datetime.date | None = None) -> int:
    """Record a due review for every store whose next review date has come (nightly job).

    Idempotent: at most one review per store and due date (unique constraint), so a re-run
    or two overlapping runs add nothing.
    """
    today = today or tenant_today()
    due_stores = list(
        Store.objects.exclude(status=StoreStatus.CLOSED)
        .filter(next_review_on__lte=today)
        .values_list("pk", "next_review_on")
    )
    existing = set(
        StoreReview.objects.filter(store_id__in=[pk for pk, _ in due_stores]).values_list(
            "store_id", "due_on"
        )
    )
    new = [
        StoreReview(store_id=pk, due_on=due_on)
        for pk, due_on in due_stores
        if (pk, due_on) not in existing
    ]
    created = StoreReview.objects.bulk_create(new, ignore_conflicts=True)
    if created:
        audit_record(
            action="stores.reviews_due",
            after={"stores": len(created), "date": today.isoformat()},
        )
        _tell_reviews_due([review.store_id for review in created])
    return len(created)


def _tell_reviews_due(store_ids: list[int]) -> None:
    """HQ hears once how many stores are due; each store's managers hear about their store."""
    queue = reverse("stores:review_queue")
    _tell(
        store_code_hq_recipients(),
        actor=None,
        kind="stores.reviews_due",
        title=_("%(count)d stores are due for their periodic re-review")
        % {"count": len(store_ids)},
        link=queue,
    )
    for store in Store.objects.filter(pk__in=store_ids).order_by("code"):
        _tell(
            _store_managers(store),
            actor=None,
            kind="stores.reviews_due",
            title=_("Your store %(code)s %(name)s is due for its periodic re-review")
            % {"code": store.code, "name": store.name},
            link=reverse("stores:store_detail", args=[store.pk]),
        )


@transaction.atomic
def review_record(
    *, review: StoreReview, reviewer: StaffMember, outcome: str, note: str = ""
) -> StoreReview:
    """Record a re-review's outcome: confirmed, needs change, or close the store."""
    _require_hq(reviewer)
    if outcome not in (ReviewStatus.CONFIRMED, ReviewStatus.NEEDS_CHANGE, ReviewStatus.CLOSED):
        raise ValidationError(_("Choose an outcome."))
    note = (note or "").strip()
    if outcome != ReviewStatus.CONFIRMED and not note:
        raise ValidationError(_("Explain the outcome in a note."))
    # Lock the review so that two reviewers cannot both record an outcome.
    review = StoreReview.objects.select_for_update().get(pk=review.pk)
    if review.status != ReviewStatus.DUE:
        raise ValidationError(_("This review has already been recorded."))
    store = Store.objects.select_for_update().get(pk=review.store_id)
    review.status = outcome
    review.note = note
    review.reviewed_by = reviewer
    review.reviewed_at = timezone.now()
    review.save(update_fields=["status", "note", "reviewed_by", "reviewed_at"])
    before = {"status": store.status, "next_review_on": store.next_review_on}
    if outcome == ReviewStatus.CLOSED:
        store.status = StoreStatus.CLOSED
        store.next_review_on = None
    else:
        store.next_review_on = next_review_date(after=max(review.due_on, tenant_today()))
    store.save(update_fields=["status", "next_review_on"])
    audit_record(
        action=f"stores.review_{outcome}",
        actor=reviewer,
        obj=store,
        before=before,
        after={"status": store.status, "next_review_on": store.next_review_on},
        reason=note,
    )
    return review


# --- Import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportProblem:
    """One refused cell, in the shared import error format (tenancy.tabular.cell_error)."""

    line: int
    message: str
    column: str = ""
    value: str = ""

    def as_error(self) -> dict:
        return tabular.cell_error(self.line, self.column, self.value, self.message)


@dataclass
class ImportOutcome:
    problems: list[ImportProblem]
    created: int = 0


IMPORT_COLUMNS = ("code", "name", "region", "store_type")


def _cell(row: dict, key: str) -> str:
    value = row.get(key)
    return "" if value is None else str(value).strip()


def stores_import_validate(*, rows: Iterable[dict]) -> list[ImportProblem]:
    """Check every row of an import; each problem names its line (the header is line 1)."""
    from stores.resources import STATUS_BY_TEXT

    problems: list[ImportProblem] = []
    regions = {r.code: r for r in Region.objects.all()}
    types = {t.code: t for t in StoreType.objects.all()}
    taken = set(StoreCodeHistory.objects.values_list("code", flat=True)) | set(
        Store.objects.values_list("code", flat=True)
    )
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        # The row number as Excel shows it when the reader gave one (blank rows skipped).
        line = int(row.get("_row") or index + 2)
        code, name = _cell(row, "code"), _cell(row, "name")
        region_code, type_code = _cell(row, "region"), _cell(row, "store_type")
        status = _cell(row, "status")

        def problem(message: str, column: str, value: str, line=line) -> None:
            problems.append(ImportProblem(line, message, column, value))

        if not name:
            problem(_("the store name is missing"), "name", name)
        if region_code not in regions:
            problem(_("unknown region “%(code)s”") % {"code": region_code}, "region", region_code)
        if type_code not in types:
            problem(
                _("unknown store type “%(code)s”") % {"code": type_code}, "store_type", type_code
            )
        if status and status not in STATUS_BY_TEXT:
            problem(_("unknown status “%(status)s”") % {"status": status}, "status", status)
        try:
            parsed = store_code_parse(code)
        except ValidationError:
            problem(_("malformed store code “%(code)s”") % {"code": code}, "code", code)
            continue
        if (parsed.region, parsed.store_type) != (region_code, type_code):
            problem(
                _("code %(code)s does not match region %(region)s and type %(type)s")
                % {"code": code, "region": region_code, "type": type_code},
                "code",
                code,
            )
        if code in seen:
            problem(
                _("duplicate store code %(code)s (also on line %(other)s)")
                % {"code": code, "other": seen[code]},
                "code",
                code,
            )
        elif code in taken:
            problem(_("store code %(code)s already exists") % {"code": code}, "code", code)
        seen.setdefault(code, line)
    return problems


@transaction.atomic
def stores_import(*, dataset, actor: StaffMember) -> ImportOutcome:
    """Import existing stores with their codes: all rows or none.

    The file is validated as a whole first; with any problem nothing is written. Then the
    rows are saved through the import-export resource and each prefix's counter is moved
    past the highest imported sequence, so the next approval cannot collide.
    """
    from stores.resources import StoreImportResource

    rows = list(dataset.dict)
    # Lock the counters of the file's prefixes before reading what exists: an approval
    # running meanwhile would otherwise issue a code this file also brings. Always in the
    # same (code) order, so two imports cannot deadlock; an approval locks only one.
    regions = {r.code: r for r in Region.objects.all()}
    types = {t.code: t for t in StoreType.objects.all()}
    prefixes = {(_cell(row, "region"), _cell(row, "store_type")) for row in rows}
    counters = {
        (r, t): _locked_counter(region=regions[r], store_type=types[t])
        for r, t in sorted(prefixes)
        if r in regions and t in types
    }
    problems = stores_import_validate(rows=rows)
    if not rows:
        problems.append(ImportProblem(1, _("the file has no rows")))
    if problems:
        # Nothing at all is written, not even a counter row created for a new prefix.
        transaction.set_rollback(True)
        return ImportOutcome(problems=problems)
    resource = StoreImportResource(next_review_on=next_review_date())
    result = resource.import_data(dataset, dry_run=False, raise_errors=True, use_transactions=False)
    highest: dict[tuple[str, str], int] = {}
    for row in rows:
        parsed = store_code_parse(_cell(row, "code"))
        key = (parsed.region, parsed.store_type)
        highest[key] = max(highest.get(key, 0), parsed.sequence)
    for prefix, sequence in sorted(highest.items()):
        counter = counters[prefix]
        if counter.last_sequence < sequence:
            counter.last_sequence = sequence
            counter.save(update_fields=["last_sequence"])
    created = result.totals.get("new", 0)
    audit_record(
        action="stores.import",
        actor=actor,
        after={
            "stores": created,
            "counters": {f"{r}-{t}": s for (r, t), s in sorted(highest.items())},
        },
    )
    return ImportOutcome(problems=[], created=created)


# --- A checked file waits for the confirm ----------------------------------------------------

UPLOAD_SALT = "stores.import-upload"
UPLOAD_MAX_AGE = datetime.timedelta(days=1)


def _upload_folder(tenant_id: int) -> str:
    return f"imports/stores/{tenant_id}/"


def store_upload_keep(*, content: bytes, name: str, staff: StaffMember) -> str:
    """Keep a checked file until its uploader confirms; returns the signed token the confirm
    form carries (it names the file, the tenant and the person, and expires in a day)."""
    import os
    import uuid

    from django.core import signing
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    extension = os.path.splitext(name)[1].lower()[:6]
    path = default_storage.save(
        f"{_upload_folder(current_tenant().pk)}{uuid.uuid4().hex}{extension}", ContentFile(content)
    )
    return signing.dumps(
        {"p": path, "n": name[:200], "t": current_tenant().pk, "s": staff.pk}, salt=UPLOAD_SALT
    )


def store_upload_open(*, token: str, staff: StaffMember) -> tuple[str, str, bytes]:
    """(path, original name, content) of a kept file; ValidationError when the token is not
    this person's, has expired, or the file is gone."""
    from django.core import signing
    from django.core.files.storage import default_storage

    gone = ValidationError(_("This check has expired; upload the file again."))
    try:
        data = signing.loads(token, salt=UPLOAD_SALT, max_age=UPLOAD_MAX_AGE)
    except signing.BadSignature as error:
        raise gone from error
    path = str(data.get("p", ""))
    if (
        data.get("t") != current_tenant().pk
        or data.get("s") != staff.pk
        or not path.startswith(_upload_folder(current_tenant().pk))
        or not default_storage.exists(path)
    ):
        raise gone
    with default_storage.open(path, "rb") as handle:
        return path, str(data.get("n", "")), handle.read()


def store_upload_discard(path: str) -> None:
    from django.core.files.storage import default_storage

    default_storage.delete(path)


def store_uploads_sweep(*, now: datetime.datetime | None = None) -> int:
    """Delete kept files nobody confirmed within a day (hourly through beat)."""
    from django.core.files.storage import default_storage

    now = now or timezone.now()
    folder = _upload_folder(current_tenant().pk)
    try:
        _dirs, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return 0
    removed = 0
    for name in files:
        if now - default_storage.get_modified_time(folder + name) > UPLOAD_MAX_AGE:
            default_storage.delete(folder + name)
            removed += 1
    return removed


@transaction.atomic
def counters_sync_with_stores() -> None:
    """Bring code records in line with stores made outside the counters (old data, demo,
    bulk loads): every current code gets its history row, and every prefix's counter moves
    past the highest sequence in use, so the next approval cannot collide. Idempotent."""
    regions = {r.code: r for r in Region.objects.all()}
    types = {t.code: t for t in StoreType.objects.all()}
    recorded = set(StoreCodeHistory.objects.values_list("code", flat=True))
    highest: dict[tuple[str, str], int] = {}
    for store in Store.objects.exclude(code__in=recorded):
        StoreCodeHistory.objects.create(store=store, code=store.code)
    for code in StoreCodeHistory.objects.values_list("code", flat=True):
        try:
            parsed = store_code_parse(code)
        except ValidationError:
            continue
        key = (parsed.region, parsed.store_type)
        highest[key] = max(highest.get(key, 0), parsed.sequence)
    for (region_code, type_code), sequence in sorted(highest.items()):
        if region_code not in regions or type_code not in types:
            continue
        counter = _locked_counter(region=regions[region_code], store_type=types[type_code])
        if counter.last_sequence < sequence:
            counter.last_sequence = sequence
            counter.save(update_fields=["last_sequence"])


def stores_export_audit(*, actor: StaffMember, file_format: str, count: int) -> None:
    audit_record(
        action="stores.export", actor=actor, after={"format": file_format, "stores": count}
    )
