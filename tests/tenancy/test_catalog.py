"""The database itself enforces isolation: every tenant table has RLS, enabled and forced."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper

from tenancy.models import TenantScopedModel
from tenancy.rls import tenant_scoped_models

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

# Tables that belong to no tenant: framework tables, sign-in throttling, the tenants list.
GLOBAL_TABLE_PREFIXES = ("django_", "auth_", "axes_")
GLOBAL_TABLES = {"tenancy_tenant"}


def tables_with_columns():
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   EXISTS (SELECT 1 FROM pg_attribute a
                           WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                             AND NOT a.attisdropped),
                   EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
            """
        )
        return cursor.fetchall()


def test_every_table_with_tenant_id_has_rls_enabled_forced_and_a_policy():
    rows = tables_with_columns()
    assert rows
    missing = [
        name
        for name, enabled, forced, has_tenant, has_policy in rows
        if has_tenant and not (enabled and forced and has_policy)
    ]
    assert not missing, f"tables without enabled+forced RLS: {missing}"


def test_every_other_table_is_a_known_global_table():
    stray = [
        name
        for name, _e, _f, has_tenant, _p in tables_with_columns()
        if not has_tenant
        and name not in GLOBAL_TABLES
        and not name.startswith(GLOBAL_TABLE_PREFIXES)
    ]
    assert not stray, f"tables without tenant_id (tenant data must carry it): {stray}"


def test_every_tenant_model_table_is_covered():
    tables = {name for name, *_ in tables_with_columns()}
    for model in tenant_scoped_models():
        assert model._meta.db_table in tables
        assert issubclass(model, TenantScopedModel)


def test_unique_constraints_and_lookup_indexes_start_with_tenant():
    for model in tenant_scoped_models():
        for field in model._meta.concrete_fields:
            if field.unique and not field.primary_key:
                # One-to-one to a global table (a staff member's user) is global by nature.
                assert field.one_to_one and not issubclass(
                    field.related_model, TenantScopedModel
                ), f"{model._meta.label}.{field.name} is unique across tenants"
        for constraint in model._meta.constraints:
            fields = getattr(constraint, "fields", ())
            if fields:
                assert fields[0] == "tenant", f"{constraint.name} does not start with tenant"
        for index in model._meta.indexes:
            first = index.fields[0] if index.fields else None
            assert first in ("tenant", "-tenant") or index.fields == [], (
                f"{index.name} on {model._meta.label} does not start with tenant"
            )


def test_roles_cannot_bypass_rls():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles "
            "WHERE rolname IN (current_user, %s)",
            [settings.DATABASE_APP_ROLE],
        )
        roles = {name: (superuser, bypass) for name, superuser, bypass in cursor.fetchall()}
    assert settings.DATABASE_APP_ROLE in roles, "the application role does not exist"
    for name, (superuser, bypass) in roles.items():
        assert superuser is False and bypass is False, name


def test_a_superuser_connection_is_refused():
    params = dict(
        settings.DATABASES["default"], USER="postgres", NAME=connection.settings_dict["NAME"]
    )
    wrapper = DatabaseWrapper(params, alias="superuser_probe")
    try:
        with pytest.raises(ImproperlyConfigured, match="BYPASSRLS"):
            wrapper.ensure_connection()
    finally:
        wrapper.close()


def test_foreign_keys_between_tenant_tables_carry_the_tenant():
    with connection.cursor() as cursor:
        cursor.execute("SELECT conname FROM pg_constraint WHERE conname LIKE %s", ["%_tenant_fk"])
        names = {row[0] for row in cursor.fetchall()}
    expected = 0
    for model in tenant_scoped_models():
        for field in model._meta.concrete_fields:
            target = getattr(field, "related_model", None)
            if (
                (field.many_to_one or field.one_to_one)
                and target
                and issubclass(target, TenantScopedModel)
            ):
                expected += 1
                name = f"{model._meta.db_table[:30]}_{field.column[:20]}_tenant_fk"
                assert name in names, name
    assert expected > 0
