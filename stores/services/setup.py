"""Regions and store types: codes in use are never deleted or changed, only deactivated."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from stores.models import (
    Region,
    Store,
    StoreCodeApplication,
    StoreCodeCounter,
    StoreType,
)
from tenancy.models import StaffMember
from tenancy.services import audit_record

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
