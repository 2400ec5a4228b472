"""PostgreSQL row-level security: the database's own lock on every tenant table.

The application filters by tenant in the ORM (TenantScopedManager). RLS is the second lock:
a forgotten filter, a raw query or a third-party widget still cannot read or write another
tenant's rows. SQLite has no RLS; there only the ORM lock holds.
"""

from __future__ import annotations

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.migrations.operations.base import Operation

# NULLIF: a reset setting is '' and ''::bigint would make every query fail instead of
# returning nothing.
CURRENT_TENANT_SQL = "NULLIF(current_setting('app.tenant_id', true), '')::bigint"
CURRENT_USER_SQL = "NULLIF(current_setting('app.user_id', true), '')::bigint"
POLICY_NAME = "tenant_isolation"


class EnableTenantRLS(Operation):
    """Migration operation: enable and force RLS on a tenant table, with the tenant policy.

    `extra_read_condition` widens what may be read (never what may be written), for the one
    table that must be read before a tenant is known: a user's own staff membership.
    """

    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str, extra_read_condition: str = ""):
        self.model_name = model_name
        self.extra_read_condition = extra_read_condition

    def state_forwards(self, app_label, state):
        pass

    def deconstruct(self):
        kwargs = {"model_name": self.model_name}
        if self.extra_read_condition:
            kwargs["extra_read_condition"] = self.extra_read_condition
        return (self.__class__.__qualname__, [], kwargs)

    def describe(self):
        return f"Enable row-level security on {self.model_name}"

    @property
    def migration_name_fragment(self):
        return f"rls_{self.model_name.lower()}"

    def _table(self, app_label, state) -> str:
        return state.apps.get_model(app_label, self.model_name)._meta.db_table

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        table = schema_editor.quote_name(self._table(app_label, to_state))
        using = f"tenant_id = {CURRENT_TENANT_SQL}"
        if self.extra_read_condition:
            using = f"({using}) OR ({self.extra_read_condition})"
        schema_editor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        schema_editor.execute(
            f"CREATE POLICY {POLICY_NAME} ON {table} USING ({using}) "
            f"WITH CHECK (tenant_id = {CURRENT_TENANT_SQL})"
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        table = schema_editor.quote_name(self._table(app_label, from_state))
        schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}")
        schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


def tenant_scoped_models():
    from tenancy.models import TenantScopedModel

    return [m for m in apps.get_models() if issubclass(m, TenantScopedModel)]


def ensure_tenant_foreign_keys(using: str = "default", **kwargs) -> None:
    """Make every foreign key between two tenant tables carry tenant_id (post_migrate).

    A plain foreign key bypasses RLS: tenant A's row could point at tenant B's. The composite
    key (tenant_id, x_id) -> (tenant_id, id) makes the database refuse that. Idempotent.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    from tenancy.models import TenantScopedModel

    tables = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        cursor.execute("SELECT conname FROM pg_constraint")
        existing = {row[0] for row in cursor.fetchall()}
        targets_done: set[str] = set()
        for model in tenant_scoped_models():
            for field in model._meta.concrete_fields:
                target = getattr(field, "related_model", None)
                if not field.many_to_one and not field.one_to_one:
                    continue
                if target is None or not issubclass(target, TenantScopedModel):
                    continue
                source_table = model._meta.db_table
                target_table = target._meta.db_table
                if source_table not in tables or target_table not in tables:
                    continue  # an app migrated back to zero has no tables to constrain
                unique_name = f"{target_table[:40]}_tenant_pk_uniq"
                if unique_name not in existing and target_table not in targets_done:
                    cursor.execute(
                        f'ALTER TABLE "{target_table}" ADD CONSTRAINT "{unique_name}" '
                        f"UNIQUE (tenant_id, id)"
                    )
                    existing.add(unique_name)
                targets_done.add(target_table)
                fk_name = f"{source_table[:30]}_{field.column[:20]}_tenant_fk"
                if fk_name in existing:
                    continue
                # Django emulates on_delete itself (children go first, SET_NULL nulls the
                # column, and MATCH SIMPLE skips rows with a null column), so plain NO ACTION
                # deferred to commit is enough here.
                cursor.execute(
                    f'ALTER TABLE "{source_table}" ADD CONSTRAINT "{fk_name}" '
                    f'FOREIGN KEY (tenant_id, "{field.column}") '
                    f'REFERENCES "{target_table}" (tenant_id, id) DEFERRABLE INITIALLY DEFERRED'
                )
                existing.add(fk_name)


def check_role_cannot_bypass_rls(sender, connection, **kwargs) -> None:
    """Refuse to work through a role for which RLS would silently not apply."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
    if row is None or row[0] or row[1]:
        raise ImproperlyConfigured(
            "The database role is a superuser or has BYPASSRLS, so row-level security would "
            "not isolate tenants. Connect as the application or owner role instead."
        )
