"""Two tenants with mirrored data: under tenant A nothing of tenant B is ever visible.

The data comes from every app's demo seeder, so a new tenant model is covered as soon as its
app seeds it, and `test_every_tenant_model_has_mirrored_rows` fails until it does.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection, models, transaction
from django.db.utils import DatabaseError
from django.test import Client
from django.urls import reverse

from tenancy import demo
from tenancy.context import NoTenantSelected, set_database_tenant, tenant_context
from tenancy.models import Role, StaffMember, TenantScopedModel
from tenancy.rls import tenant_scoped_models
from tests.conftest import ON_POSTGRES
from tests.tenancy.test_role_matrix import ALL_PATTERNS

CANARY = "ZZB-canary"
NAME_FIELDS = ("name", "display_name", "title", "object_repr", "actor_label")


def seed_everything(tenant):
    from importlib import import_module

    with tenant_context(tenant):
        for config in apps.get_app_configs():
            try:
                module = import_module(f"{config.name}.demo")
            except ModuleNotFoundError:
                continue
            module.seed(tenant, quick=True)


@pytest.fixture
def mirrored(db):
    tenant_a, tenant_b = demo.ensure_tenants()
    seed_everything(tenant_a)
    seed_everything(tenant_b)
    # Mark B's visible names so a page that leaks them can be caught by its text.
    with tenant_context(tenant_b):
        for model in tenant_scoped_models():
            for field_name in NAME_FIELDS:
                try:
                    field = model._meta.get_field(field_name)
                except Exception:  # noqa: S112 - the model has no such field
                    continue
                if isinstance(field, models.CharField):
                    model.objects.update(
                        **{field_name: models.functions.Concat(models.Value(CANARY), "pk")}
                    )
    return tenant_a, tenant_b


def rows_of(model, tenant) -> set:
    """Primary keys of a tenant's rows, read as that tenant (RLS hides them otherwise)."""
    with tenant_context(tenant):
        return set(model.objects.values_list("pk", flat=True))


def test_every_tenant_model_has_mirrored_rows(mirrored):
    tenant_a, tenant_b = mirrored
    empty = [
        model._meta.label
        for model in tenant_scoped_models()
        for tenant in (tenant_a, tenant_b)
        if not rows_of(model, tenant)
    ]
    assert not empty, f"demo seeders leave these tenant models empty: {sorted(set(empty))}"


def test_orm_reads_under_a_see_nothing_of_b(mirrored):
    tenant_a, tenant_b = mirrored
    for model in tenant_scoped_models():
        theirs = rows_of(model, tenant_b)
        assert theirs, model
        with tenant_context(tenant_a):
            ours = model.unscoped.filter(tenant=tenant_a).count()
            assert model.objects.count() == ours, model
            assert model.objects.aggregate(n=models.Count("pk"))["n"] == ours, model
            assert not model.objects.filter(pk__in=theirs).exists(), model
            assert not set(model.objects.values_list("pk", flat=True)) & theirs, model
            exists = models.Exists(model.objects.filter(pk=models.OuterRef("pk")))
            assert not model.unscoped.filter(pk__in=theirs).filter(exists).exists(), model


def test_many_to_many_under_a_see_nothing_of_b(mirrored):
    tenant_a, tenant_b = mirrored
    checked = 0
    with tenant_context(tenant_a):
        for model in tenant_scoped_models():
            for field in model._meta.many_to_many:
                for obj in model.objects.all()[:20]:
                    related = getattr(obj, field.name).all()
                    assert not related.filter(tenant=tenant_b).exists()
                    assert all(row.tenant_id == tenant_a.pk for row in related)
                    checked += 1
    assert checked > 0


def test_no_tenant_selected_raises_in_the_orm(mirrored):
    for model in tenant_scoped_models():
        with pytest.raises(NoTenantSelected):
            model.objects.count()


def test_saving_a_row_of_another_tenant_is_refused(mirrored):
    tenant_a, tenant_b = mirrored
    with tenant_context(tenant_b):
        staff_b = StaffMember.objects.first()
    with tenant_context(tenant_a), pytest.raises(ValueError):
        staff_b.save()


def test_admin_changelists_show_only_a(mirrored):
    tenant_a, tenant_b = mirrored
    with tenant_context(tenant_a):
        admin_user = StaffMember.objects.get(role=Role.HQ_ADMIN).user
    client = Client()
    client.force_login(admin_user)
    checked = 0
    for model, _model_admin in admin.site._registry.items():
        if not issubclass(model, TenantScopedModel):
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = client.get(url)
        assert response.status_code == 200, url
        shown = {obj.tenant_id for obj in response.context["cl"].result_list}
        assert shown <= {tenant_a.pk}, url
        assert CANARY not in response.content.decode(), url
        checked += 1
    assert checked > 0


def test_pages_under_a_show_nothing_of_b(mirrored):
    tenant_a, tenant_b = mirrored
    with tenant_context(tenant_a):
        admin_user = StaffMember.objects.get(role=Role.HQ_ADMIN).user
    client = Client()
    client.force_login(admin_user)
    pages = 0
    for _route, name, pattern in ALL_PATTERNS:
        if pattern.pattern.regex.groups:
            continue
        response = client.get(reverse(name))
        if response.status_code != 200 or response.get("Content-Type", "").startswith(
            "application/octet"
        ):
            continue
        assert CANARY not in response.content.decode(), name
        pages += 1
    assert pages > 0


@pytest.mark.postgres
def test_raw_sql_under_a_sees_only_a(mirrored):
    tenant_a, tenant_b = mirrored
    with tenant_context(tenant_a), connection.cursor() as cursor:
        for model in tenant_scoped_models():
            cursor.execute(f'SELECT DISTINCT tenant_id FROM "{model._meta.db_table}"')  # noqa: S608
            assert {row[0] for row in cursor.fetchall()} == {tenant_a.pk}, model


@pytest.mark.postgres
def test_raw_sql_without_a_tenant_sees_nothing(mirrored):
    set_database_tenant(None)
    with connection.cursor() as cursor:
        for model in tenant_scoped_models():
            cursor.execute(f'SELECT count(*) FROM "{model._meta.db_table}"')  # noqa: S608
            assert cursor.fetchone()[0] == 0, model


@pytest.mark.postgres
def test_insert_carrying_b_tenant_id_is_refused_by_rls(mirrored):
    tenant_a, tenant_b = mirrored
    with tenant_context(tenant_a):
        for model in tenant_scoped_models():
            table = model._meta.db_table
            columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
            values = ", ".join(
                "%s" if column == "tenant_id" else f'"{column}"' for column in columns
            )
            sql = (
                f'INSERT INTO "{table}" ({", ".join(chr(34) + c + chr(34) for c in columns)}) '  # noqa: S608
                f'SELECT {values} FROM "{table}" LIMIT 1'
            )
            with pytest.raises(DatabaseError, match="row-level security"):
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(sql, [tenant_b.pk])


@pytest.mark.postgres
def test_a_connection_reused_after_a_request_keeps_nothing_of_it(mirrored):
    tenant_a, _ = mirrored
    with tenant_context(tenant_a):
        user = StaffMember.objects.get(role=Role.HQ_ADMIN).user
    client = Client()
    client.force_login(user)
    assert client.get(reverse("home")).status_code == 200
    # Same thread, same (persistent) connection as the request just served.
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.tenant_id', true)")
        assert cursor.fetchone()[0] in ("", None)
        cursor.execute('SELECT count(*) FROM "stores_store"')
        assert cursor.fetchone()[0] == 0
    assert ON_POSTGRES
