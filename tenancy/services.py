"""Tenancy services: the audit trail that every other service writes to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import models, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tenancy.cache import tenant_cache_key
from tenancy.context import current_ip
from tenancy.messages import is_message
from tenancy.models import (
    STORE_ROLES,
    AuditEvent,
    Notification,
    NotificationSetting,
    StaffMember,
    Tenant,
)


def audit_record(
    *,
    action: str,
    actor: StaffMember | AbstractBaseUser | None = None,
    obj: models.Model | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    """Append one audit event. Call it inside the service's own transaction."""
    user = actor.user if isinstance(actor, StaffMember) else actor
    label = ""
    if isinstance(actor, StaffMember):
        label = f"{actor.display_name} ({actor.user.get_username()})"
    elif user is not None:
        label = user.get_username()
    return AuditEvent.objects.create(
        actor=user,
        actor_label=label[:150],
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        # A model that holds personal data names itself without it (Customer: 王** (card)).
        object_repr=str(getattr(obj, "audit_label", obj))[:200] if obj is not None else "",
        before=before,
        after=after,
        reason=reason,
        ip_address=current_ip(),
    )


def _store_models():
    # Store assignments live in the stores app, which builds on tenancy; look them up lazily.
    from django.apps import apps

    return apps.get_model("stores", "Store"), apps.get_model("stores", "StoreAssignment")


def _staff_snapshot(staff: StaffMember) -> dict[str, Any]:
    return {
        "display_name": staff.display_name,
        "role": staff.role,
        "phone": staff.phone,
        "is_active": staff.is_active,
        "stores": sorted(staff.store_assignments.values_list("store__code", flat=True)),
    }


def _assign_stores(staff: StaffMember, stores) -> None:
    _store, store_assignment = _store_models()
    wanted = {store.pk for store in stores} if staff.role in STORE_ROLES else set()
    staff.store_assignments.exclude(store_id__in=wanted).delete()
    have = set(staff.store_assignments.values_list("store_id", flat=True))
    store_assignment.objects.bulk_create(
        [store_assignment(staff=staff, store_id=store_id) for store_id in sorted(wanted - have)]
    )


def _check_store_roles(role: str, stores) -> None:
    if role in STORE_ROLES and not stores:
        raise ValidationError(
            {"stores": _("Store managers and clerks must work for at least one store.")}
        )


@transaction.atomic
def staff_create(
    *,
    actor: StaffMember,
    username: str,
    password: str,
    display_name: str,
    role: str,
    stores=(),
    phone: str = "",
) -> StaffMember:
    """A new person who signs in for this tenant, with a role and (for store roles) stores."""
    user_model = get_user_model()
    if user_model.objects.filter(username__iexact=username).exists():
        # User names are global (Django's auth User), so "already taken" would tell an HQ
        # admin that another company has this person. One message for every clash, ours or
        # theirs, and a name in our own namespace to try instead.
        raise ValidationError({"username": _unusable_username_message(actor.tenant, username)})
    _check_store_roles(role, stores)
    user = user_model(username=username)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    staff = StaffMember.objects.create(user=user, display_name=display_name, role=role, phone=phone)
    _assign_stores(staff, stores)
    audit_record(action="staff.create", actor=actor, obj=staff, after=_staff_snapshot(staff))
    return staff


def _unusable_username_message(tenant, username: str) -> str:
    prefix = f"{tenant.slug}."
    if username.lower().startswith(prefix):
        return _("This user name cannot be used; choose another.")
    return _("This user name cannot be used; choose another, for example %(suggestion)s.") % {
        "suggestion": prefix + username
    }


@transaction.atomic
def staff_update(
    *,
    actor: StaffMember,
    staff: StaffMember,
    display_name: str,
    role: str,
    stores=(),
    phone: str = "",
    is_active: bool = True,
) -> StaffMember:
    if staff.pk == actor.pk and (role != staff.role or not is_active):
        raise ValidationError(_("You cannot change your own role or deactivate yourself."))
    _check_store_roles(role, stores)
    before = _staff_snapshot(staff)
    staff.display_name = display_name
    staff.role = role
    staff.phone = phone
    staff.is_active = is_active
    staff.save()
    _assign_stores(staff, stores)
    staff.__dict__.pop("store_ids", None)
    audit_record(
        action="staff.update", actor=actor, obj=staff, before=before, after=_staff_snapshot(staff)
    )
    return staff


@transaction.atomic
def staff_set_password(*, actor: StaffMember, staff: StaffMember, password: str) -> None:
    validate_password(password, staff.user)
    staff.user.set_password(password)
    staff.user.save(update_fields=["password"])
    audit_record(action="staff.password_reset", actor=actor, obj=staff)


@transaction.atomic
def tenant_update(*, actor: StaffMember, tenant: Tenant, name: str, time_zone: str) -> Tenant:
    before = {"name": tenant.name, "time_zone": tenant.time_zone}
    tenant.name = name
    tenant.time_zone = time_zone
    tenant.full_clean()
    tenant.save(update_fields=["name", "time_zone"])
    audit_record(
        action="tenant.update",
        actor=actor,
        before=before,
        after={"name": tenant.name, "time_zone": tenant.time_zone},
    )
    return tenant


@transaction.atomic
def notify(
    *,
    recipients: Iterable[StaffMember],
    kind: str,
    title: dict | str,
    body: dict | str = "",
    link: str = "",
) -> list[Notification]:
    """Put one notification in each active recipient's inbox (each person at most once).

    `title` and `body` are messages (tenancy.messages.message(key, **params)), rendered in the
    reader's language when read; plain text is kept as it is (a tenant's own words).

    Those who asked for e-mail copies get one after the commit, so a slow mail server never
    holds the caller's transaction open and a rolled-back event sends nothing.
    """
    people = {staff.pk: staff for staff in recipients if staff is not None and staff.is_active}
    if not people:
        return []
    created = Notification.objects.bulk_create(
        [
            Notification(recipient_id=pk, kind=kind, link=link, **_text_fields(title, body))
            for pk in sorted(people)
        ]
    )
    wanted = set(
        NotificationSetting.objects.filter(staff_id__in=people, email_copy=True).values_list(
            "staff_id", flat=True
        )
    )
    _forget_unread(list(people))
    to_mail = [n for n in created if n.recipient_id in wanted and people[n.recipient_id].user.email]
    if to_mail:
        transaction.on_commit(
            lambda: _send_copies([(n.pk, people[n.recipient_id]) for n in to_mail])
        )
    return created


def _text_fields(title: dict | str, body: dict | str) -> dict:
    fields = {}
    if is_message(title):
        fields["title_message"] = title
    else:
        fields["title"] = str(title)[:200]
    if is_message(body):
        fields["body_message"] = body
    else:
        fields["body"] = str(body)
    return fields


def _send_copies(items: list[tuple[int, StaffMember]]) -> None:
    # Staff have no language of their own: an e-mail copy is written in the site's language.
    with translation.override(settings.LANGUAGE_CODE):
        for pk, staff in items:
            _send_copy(pk, staff)


def _send_copy(pk: int, staff: StaffMember) -> None:
    notification = Notification.objects.get(pk=pk)
    send_mail(
        subject=notification.title_text,
        message="\n\n".join(part for part in (notification.body_text, notification.link) if part),
        from_email=None,
        recipient_list=[staff.user.email],
        fail_silently=True,
    )
    Notification.objects.filter(pk=pk).update(emailed=True)


def notification_mark_read(*, staff: StaffMember, pk: int | None = None) -> int:
    """Mark one (or, without pk, every) unread notification of `staff` read; returns how many.

    The conditional update only touches the person's own unread rows, so someone else's id
    changes nothing and a repeat is harmless.
    """
    unread = Notification.objects.filter(recipient=staff, read_at__isnull=True)
    if pk is not None:
        unread = unread.filter(pk=pk)
    changed = unread.update(read_at=timezone.now())
    _forget_unread([staff.pk])
    return changed


def unread_cache_key(staff_id: int) -> str:
    return tenant_cache_key("notifications", "unread", staff_id)


def _forget_unread(staff_ids: list[int]) -> None:
    """Drop the cached unread counts once the change is committed (and visible)."""
    keys = [unread_cache_key(pk) for pk in staff_ids]
    transaction.on_commit(lambda: cache.delete_many(keys))


@transaction.atomic
def notification_setting_update(*, staff: StaffMember, email_copy: bool) -> NotificationSetting:
    setting, _created = NotificationSetting.objects.update_or_create(
        staff=staff, defaults={"email_copy": email_copy}
    )
    return setting
