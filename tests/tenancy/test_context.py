import pytest
from django.db import connection

from stores.models import Region
from tenancy.context import NoTenantSelected, current_tenant, tenant_context
from tests.conftest import ON_POSTGRES
from tests.factories import RegionFactory, TenantFactory


@pytest.mark.django_db
def test_scoped_manager_raises_without_a_tenant():
    with pytest.raises(NoTenantSelected):
        list(Region.objects.all())


@pytest.mark.django_db
def test_tenant_context_nests_and_restores():
    a = TenantFactory(slug="a")
    b = TenantFactory(slug="b")
    with tenant_context(a):
        with tenant_context(b):
            assert current_tenant() == b
        assert current_tenant() == a
        if ON_POSTGRES:
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('app.tenant_id', true)")
                assert cursor.fetchone()[0] == str(a.pk)
    with pytest.raises(NoTenantSelected):
        current_tenant()


@pytest.mark.django_db
def test_new_rows_take_the_current_tenant_and_bulk_create_too():
    a = TenantFactory(slug="a")
    with tenant_context(a):
        region = RegionFactory(code="SH")
        bulk = Region.objects.bulk_create([Region(code="GZ", name="广州")])
        assert Region.unscoped.get(pk=bulk[0].pk).tenant_id == a.pk
    assert region.tenant_id == a.pk


@pytest.mark.django_db
def test_bulk_create_refuses_rows_of_another_tenant():
    a = TenantFactory(slug="a")
    b = TenantFactory(slug="b")
    with tenant_context(a), pytest.raises(ValueError):
        Region.objects.bulk_create([Region(code="GZ", name="广州", tenant=b)])


@pytest.mark.django_db
def test_a_new_thread_starts_without_a_tenant():
    import threading

    seen = []
    a = TenantFactory(slug="a")

    def work():
        try:
            current_tenant()
            seen.append("tenant")
        except NoTenantSelected:
            seen.append("none")

    with tenant_context(a):
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    assert seen == ["none"]
