"""POS API tokens: created per store, stored hashed, revoked."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.models import (
    StoreApiToken,
)
from stores.models import Store, StoreStatus
from tenancy.context import current_tenant
from tenancy.models import StaffMember, Tenant
from tenancy.services import audit_record

# --- Store API tokens ------------------------------------------------------------------------


def _hash_secret(secret: str) -> str:
    # The secret is 32 random bytes, so a fast hash is enough: there is nothing to brute-force
    # the way there is with a password.
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, store: Store, name: str, actor: StaffMember) -> tuple[StoreApiToken, str]:
    """Create a POS token for `store`; the plain token is returned once and never stored."""
    if store.status == StoreStatus.CLOSED:
        raise ValidationError(_("This store is closed and cannot record sales."))
    key = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = StoreApiToken.objects.create(
        store=store,
        name=name.strip() or store.code,
        key=key,
        secret_hash=_hash_secret(secret),
        created_by=actor,
    )
    audit_record(action="api_token.create", actor=actor, obj=token, after={"store": store.code})
    return token, f"{store.tenant_id}.{key}.{secret}"


@transaction.atomic
def api_token_revoke(*, token: StoreApiToken, actor: StaffMember) -> StoreApiToken:
    updated = StoreApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor
    )
    if updated:
        audit_record(action="api_token.revoke", actor=actor, obj=token)
    token.refresh_from_db()
    return token


def api_token_tenant(raw: str) -> Tenant | None:
    """The tenant named by a token's prefix; checked for real by api_token_check."""
    tenant_id, _sep, _rest = (raw or "").partition(".")
    if not tenant_id.isdigit():
        return None
    return Tenant.objects.filter(pk=int(tenant_id), is_active=True).first()


def api_token_check(raw: str) -> StoreApiToken | None:
    """The live token matching `raw`, inside the tenant context the caller selected."""
    parts = (raw or "").split(".")
    if len(parts) != 3:
        return None
    tenant_id, key, secret = parts
    tenant = current_tenant()
    if str(tenant.pk) != tenant_id:
        return None
    token = (
        StoreApiToken.objects.select_related("store", "store__tenant")
        .filter(key=key, revoked_at__isnull=True)
        .first()
    )
    # Compare even when no token was found, so timing tells nothing about which keys exist.
    expected = token.secret_hash if token else _hash_secret("no-such-token")
    if not hmac.compare_digest(expected, _hash_secret(secret)) or token is None:
        return None
    StoreApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token
