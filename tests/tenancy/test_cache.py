import pytest
from django.core.cache import cache

from tenancy.cache import tenant_cache_key
from tenancy.context import NoTenantSelected, tenant_context
from tests.factories import TenantFactory


@pytest.mark.django_db
def test_the_same_key_of_two_tenants_holds_two_values():
    a = TenantFactory(slug="a")
    b = TenantFactory(slug="b")
    with tenant_context(a):
        cache.set(tenant_cache_key("dashboard", 7), "A")
    with tenant_context(b):
        assert cache.get(tenant_cache_key("dashboard", 7)) is None
        cache.set(tenant_cache_key("dashboard", 7), "B")
    with tenant_context(a):
        assert cache.get(tenant_cache_key("dashboard", 7)) == "A"


def test_a_key_without_a_tenant_is_refused():
    with pytest.raises(NoTenantSelected):
        tenant_cache_key("x")
