"""The slow movers include active catalogue products that did not sell at all."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from analytics.aggregation import daily_stats_compute
from analytics.selectors import Period, product_rankings
from analytics.services import local_day
from tenancy.context import tenant_context
from tests.analytics.factories import line, record_sale
from tests.catalog.factories import CatalogProductFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def test_never_sold_active_products_lead_the_slow_movers(world):
    tenant = world.tenant_a
    with tenant_context(tenant):
        CatalogProductFactory(sku="SOLD-1")
        CatalogProductFactory(sku="NEVER-1", name="没卖过")
        CatalogProductFactory(sku="GONE-1", is_active=False)
        day = local_day(timezone.now(), tenant) - datetime.timedelta(days=1)
        noon = datetime.datetime.combine(day, datetime.time(12), tenant.zone)
        record_sale(world.store_a1, noon, lines=[line("SOLD-1", 1, "10.00")])
        record_sale(world.store_a1, noon, lines=[line("OFF-CATALOGUE", 5, "10.00")])
        daily_stats_compute(day=day)

        top, slow = product_rankings([world.store_a1.pk], Period(day, day), limit=10)

    assert [(p["product__sku"], p["quantity"]) for p in slow] == [
        ("NEVER-1", 0),
        ("SOLD-1", 1),
        ("OFF-CATALOGUE", 5),
    ]
    assert slow[0]["product__name"] == "没卖过"
    assert "NEVER-1" not in {p["product__sku"] for p in top}
