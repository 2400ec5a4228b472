"""Code applications: draft, submit, approve (the code issued inside the approval's
transaction) or reject, code changes, and who is told.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from stores.models import (
    ApplicationKind,
    ApplicationStatus,
    Region,
    Store,
    StoreCodeApplication,
    StoreCodeHistory,
    StoreStatus,
    StoreType,
)
from stores.services.codes import _issue_code, next_review_date
from tenancy.context import current_tenant
from tenancy.messages import message
from tenancy.models import HQ_ROLES, Role, StaffMember, Tenant
from tenancy.services import audit_record, notify

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
    title: dict | str,
    body: dict | str = "",
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
        title=message("stores.application_submitted.title", name=application.store_name),
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


# --- Four eyes --------------------------------------------------------------------------------

FOUR_EYES_SETTING = "store_code_four_eyes"


def four_eyes_required(tenant: Tenant | None = None) -> bool:
    """On unless the tenant turned it off: the submitter may not review their own application."""
    return bool((tenant or current_tenant()).setting(FOUR_EYES_SETTING, True))


def application_reviewable_by(*, application: StoreCodeApplication, reviewer: StaffMember) -> bool:
    """False when the four-eyes rule keeps this reviewer off this application (for the page)."""
    return not (four_eyes_required() and application.applicant_id == reviewer.pk)


def _require_other_reviewer(application: StoreCodeApplication, reviewer: StaffMember) -> None:
    if not application_reviewable_by(application=application, reviewer=reviewer):
        raise ValidationError(
            _(
                "You submitted this application, so another HQ colleague must approve or "
                "reject it (four-eyes rule)."
            )
        )


@transaction.atomic
def four_eyes_set(*, required: bool, actor: StaffMember) -> None:
    tenant = Tenant.objects.select_for_update().get(pk=current_tenant().pk)
    before = four_eyes_required(tenant)
    tenant.settings = {**tenant.settings, FOUR_EYES_SETTING: bool(required)}
    tenant.save(update_fields=["settings"])
    current_tenant().settings = tenant.settings
    audit_record(
        action="stores.four_eyes_set",
        actor=actor,
        obj=tenant,
        before={"required": before},
        after={"required": bool(required)},
    )


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
    _require_other_reviewer(application, reviewer)
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
        title = message(
            "stores.code_changed.title",
            old=application.previous_code,
            new=store.code,
            name=store.name,
        )
    else:
        title = message("stores.application_approved.title", code=store.code, name=store.name)
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
        store=store,
        code=code,
        reason_message=message("stores.code_reason.approved", id=application.pk),
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
        reason_message=message("stores.code_reason.changed", id=application.pk),
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
    _require_other_reviewer(application, reviewer)
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
        title=message("stores.application_returned.title", name=application.store_name),
        body=reason,
        link=_application_link(application),
    )
    return application
