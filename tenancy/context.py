"""The current tenant of this request, task or command.

Held in a ContextVar so that threads and Celery tasks start with none: they must say which
tenant they work for. On PostgreSQL the same tenant is written to the session setting
`app.tenant_id` that the row-level security policies read (see tenancy/rls.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from django.db import connections

if TYPE_CHECKING:
    from tenancy.models import Tenant

_current_tenant: ContextVar[Tenant | None] = ContextVar("current_tenant", default=None)
_current_ip: ContextVar[str | None] = ContextVar("current_ip", default=None)


class NoTenantSelected(RuntimeError):
    """Raised when tenant-owned data is queried with no tenant selected."""


def current_tenant() -> Tenant:
    tenant = _current_tenant.get()
    if tenant is None:
        raise NoTenantSelected(
            "No tenant is selected. Wrap the work in tenant_context(tenant) or use the "
            "explicit `unscoped` manager for deliberate cross-tenant work."
        )
    return tenant


def current_tenant_or_none() -> Tenant | None:
    return _current_tenant.get()


def current_ip() -> str | None:
    return _current_ip.get()


def set_database_tenant(tenant_id: int | None, *, user_id: int | None = None, using="default"):
    """Write the tenant (and optionally the signed-in user) to the PostgreSQL session.

    Session-level (not transaction-local) on purpose: middleware runs outside any request
    transaction, and a SET LOCAL would be gone before the view's first query.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('app.tenant_id', %s, false), set_config('app.user_id', %s, false)",
            ["" if tenant_id is None else str(tenant_id), "" if user_id is None else str(user_id)],
        )


@contextmanager
def tenant_context(tenant: Tenant, *, ip: str | None = None) -> Iterator[Tenant]:
    """Work as `tenant` until the block ends, then restore whatever was selected before."""
    tenant_token = _current_tenant.set(tenant)
    ip_token = _current_ip.set(ip) if ip is not None else None
    set_database_tenant(tenant.pk)
    try:
        yield tenant
    finally:
        _current_tenant.reset(tenant_token)
        if ip_token is not None:
            _current_ip.reset(ip_token)
        previous = _current_tenant.get()
        set_database_tenant(previous.pk if previous else None)


def reapply_on_new_connection(sender, connection, **kwargs) -> None:
    """A connection opened mid-context (after a drop or health check) gets the tenant too."""
    tenant = _current_tenant.get()
    if tenant is not None and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('app.tenant_id', %s, false)", [str(tenant.pk)])
