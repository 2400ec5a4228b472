"""Tenancy services: the audit trail that every other service writes to."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import models

from tenancy.context import current_ip
from tenancy.models import AuditEvent, StaffMember


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
        object_repr=str(obj)[:200] if obj is not None else "",
        before=before,
        after=after,
        reason=reason,
        ip_address=current_ip(),
    )
