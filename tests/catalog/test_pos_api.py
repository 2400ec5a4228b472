"""The POS API checks SKUs against the catalogue when the tenant turns that on."""

from __future__ import annotations

import pytest

from analytics.models import Sale
from catalog.services import POS_REQUIRES_CATALOG_SETTING
from tenancy.context import tenant_context
from tests.analytics.test_api import payload, post, token_a1  # noqa: F401 - fixture
from tests.catalog.factories import CatalogProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(world):
    with tenant_context(world.tenant_a):
        CatalogProductFactory(sku="TEA-1")
        CatalogProductFactory(sku="CUP-1", is_active=False)


def test_unknown_skus_are_accepted_while_the_setting_is_off(world, token_a1, catalogue):  # noqa: F811
    assert post(token_a1, payload()).status_code == 201


def test_unknown_or_inactive_skus_are_refused_with_a_stable_code(world, token_a1, catalogue):  # noqa: F811
    world.tenant_a.settings[POS_REQUIRES_CATALOG_SETTING] = True
    world.tenant_a.save()
    response = post(token_a1, payload())
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "lines[1].sku",
            "code": "unknown_sku",
            "message": response.json()["errors"][0]["message"],
        }
    ]
    with tenant_context(world.tenant_a):
        assert not Sale.objects.exists()
    only_known = payload(lines=[{"sku": "TEA-1", "name": "绿茶", "quantity": 1, "unit_price": 5}])
    assert post(token_a1, only_known).status_code == 201
