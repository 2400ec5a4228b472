"""The current tenant of this request, task or command.

Held in a ContextVar so that threads and Celery tasks start with none: they must say which
tenant they work for. On PostgreSQL the row-level security policies read the settings
`app.tenant_id` and `app.user_id` (see tenancy/rls.py). They travel with every statement as
transaction-local settings (`tenant_settings_wrapper`), never as session settings: behind
PgBouncer in transaction mode each transaction may run on another server connection, and a
session setting made by one client would be seen by the next (docs/scaling.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenancy.models import Tenant

_current_tenant: ContextVar[Tenant | None] = ContextVar("current_tenant", default=None)
_current_ip: ContextVar[str | None] = ContextVar("current_ip", default=None)
# What the database sees for this context: (tenant id, user id) as text, "" for none. Every
# row statement carries it, so "nothing selected" also clears what an earlier statement of the
# same transaction selected.
NOTHING_SELECTED = ("", "")
_database_settings: ContextVar[tuple[str, str]] = ContextVar(
    "database_settings", default=NOTHING_SELECTED
)


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
    """Select the tenant (and optionally the signed-in user) that the database sees from now
    on in this context; None for both selects nothing. Carried by every statement."""
    _database_settings.set(
        (
            "" if tenant_id is None else str(int(tenant_id)),
            "" if user_id is None else str(int(user_id)),
        )
    )


@contextmanager
def database_user(user_id: int) -> Iterator[None]:
    """Let the database see only `user_id` (no tenant) inside the block, then restore what
    this context selected before (a signed-in request's membership lookup)."""
    token = _database_settings.set(("", str(int(user_id))))
    try:
        yield
    finally:
        _database_settings.reset(token)


@contextmanager
def tenant_context(tenant: Tenant, *, ip: str | None = None) -> Iterator[Tenant]:
    """Work as `tenant` until the block ends, then restore whatever was selected before."""
    tenant_token = _current_tenant.set(tenant)
    settings_token = _database_settings.set((str(int(tenant.pk)), ""))
    ip_token = _current_ip.set(ip) if ip is not None else None
    try:
        yield tenant
    finally:
        _current_tenant.reset(tenant_token)
        _database_settings.reset(settings_token)
        if ip_token is not None:
            _current_ip.reset(ip_token)


# Statements that read or write rows; DDL and commands such as CREATE DATABASE or VACUUM run
# as they are (they cannot share a transaction, and row-level security does not apply).
_ROW_STATEMENT = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH|MERGE)\b", re.IGNORECASE)
_SET_LOCAL = (
    "SELECT set_config('app.tenant_id', '{tenant}', true), "
    "set_config('app.user_id', '{user}', true); "
)


def tenant_settings_wrapper(execute, sql, params, many, context):
    """Send this context's tenant with the statement, as transaction-local settings.

    Prefixed in the same query string, so an autocommit statement and its setting are one
    implicit transaction, and inside a transaction every statement re-asserts it: no round
    trip is added, and nothing is left on the server connection for another client. The
    values are integers rendered here, never user input.
    """
    settings = _database_settings.get()
    if not _ROW_STATEMENT.match(sql):
        return execute(sql, params, many, context)
    prefix = _SET_LOCAL.format(tenant=settings[0], user=settings[1])
    raw_cursor = getattr(context["cursor"], "cursor", None)
    if getattr(raw_cursor, "name", None):
        # A server-side cursor (QuerySet.iterator()) wraps the query in DECLARE, which takes
        # one statement: set the values just before it instead. Outside a transaction the
        # cursor is WITH HOLD and runs now, so a session value is set and cleared around it
        # (server-side cursors are off behind PgBouncer: DISABLE_SERVER_SIDE_CURSORS).
        connection = context["connection"]
        local = not connection.get_autocommit()
        with connection.connection.cursor() as setter:
            setter.execute(prefix if local else prefix.replace("true)", "false)"))
        try:
            return execute(sql, params, many, context)
        finally:
            if not local:
                with connection.connection.cursor() as setter:
                    setter.execute(_SET_LOCAL.format(tenant="", user="").replace("true)", "false)"))
    return execute(prefix + sql, params, many, context)


_PREFIX = re.compile(
    r"^SELECT set_config\('app\.tenant_id', '\d*', true\), "
    r"set_config\('app\.user_id', '\d*', true\); "
)


def without_tenant_settings(sql: str) -> str:
    """A captured statement as the app wrote it, without the settings it travelled with
    (for EXPLAIN in benchmarks and plan tests)."""
    return _PREFIX.sub("", sql, count=1)


def install_tenant_settings(sender, connection, **kwargs) -> None:
    """connection_created: every PostgreSQL connection carries the tenant with its queries."""
    if connection.vendor != "postgresql":
        return
    if tenant_settings_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(tenant_settings_wrapper)
