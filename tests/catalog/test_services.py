"""Catalogue rules: price at a store, scanning, price changes and unknown codes."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from analytics.services import LineInput, counter_sale_record
from catalog.services import (
    FREE_LINES_SETTING,
    price_at,
    product_for_code,
    sale_lines_check,
    scan_add,
)
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.catalog.factories import CatalogProductFactory, StorePriceFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def tea(world):
    with tenant_context(world.tenant_a):
        product = CatalogProductFactory(
            sku="TEA-1", barcode="6901234567892", name="绿茶", list_price=Decimal("12.00")
        )
        StorePriceFactory(product=product, store=world.store_a2, price=Decimal("9.90"))
    return product


def test_the_store_price_wins_over_the_list_price(world, tea):
    with tenant_context(world.tenant_a):
        assert price_at(product=tea, store=world.store_a1) == Decimal("12.00")
        assert price_at(product=tea, store=world.store_a2) == Decimal("9.90")


def test_a_product_is_found_by_sku_or_barcode_and_only_in_its_tenant(world, tea):
    with tenant_context(world.tenant_a):
        assert product_for_code("TEA-1") == tea
        assert product_for_code(" 6901234567892 ") == tea
        assert product_for_code("nope") is None
        tea.is_active = False
        tea.save()
        assert product_for_code("TEA-1") is None
    with tenant_context(world.tenant_b):
        assert product_for_code("TEA-1") is None


def test_scanning_adds_the_line_at_the_store_price_and_a_repeat_adds_one(world, tea):
    with tenant_context(world.tenant_a):
        lines = scan_add(lines=[], code="6901234567892", store=world.store_a2)
        assert lines == [
            {
                "sku": "TEA-1",
                "name": "绿茶",
                "category": "饮料",
                "quantity": 1,
                "unit_price": Decimal("9.90"),
                "discount": None,
            }
        ]
        lines = scan_add(lines=lines, code="TEA-1", store=world.store_a2)
        lines = scan_add(lines=lines, code="6901234567892", store=world.store_a2)
        assert len(lines) == 1
        assert lines[0]["quantity"] == 3


def test_an_unknown_code_gives_a_free_line_only_when_the_tenant_allows_it(world, tea):
    tenant = world.tenant_a
    with tenant_context(tenant):
        lines = scan_add(lines=[], code="HAND-1", store=world.store_a1)
        assert lines[0]["sku"] == "HAND-1"
        assert lines[0]["name"] == "" and lines[0]["unit_price"] is None
        tenant.settings[FREE_LINES_SETTING] = False
        tenant.save()
        with pytest.raises(ValidationError) as refused:
            scan_add(lines=[], code="HAND-1", store=world.store_a1)
        assert refused.value.code == "unknown_code"
        with pytest.raises(ValidationError):
            sale_lines_check(
                lines=[LineInput(sku="HAND-1", quantity=1, unit_price=Decimal("5"), name="x")],
                store=world.store_a1,
                staff=world.staff_a[Role.CLERK],
            )


def test_lines_take_the_catalogue_name_and_price_whatever_the_browser_sent(world, tea):
    with tenant_context(world.tenant_a):
        sent = LineInput(sku="6901234567892", quantity=2, unit_price=None, name="假名")
        checked, changes = sale_lines_check(
            lines=[sent], store=world.store_a2, staff=world.staff_a[Role.CLERK]
        )
    assert checked == [
        dataclasses.replace(
            sent, sku="TEA-1", name="绿茶", category="饮料", unit_price=Decimal("9.90")
        )
    ]
    assert changes == []


def test_a_clerk_cannot_change_a_price(world, tea):
    with tenant_context(world.tenant_a):
        with pytest.raises(ValidationError) as refused:
            sale_lines_check(
                lines=[LineInput(sku="TEA-1", quantity=1, unit_price=Decimal("1.00"))],
                store=world.store_a1,
                staff=world.staff_a[Role.CLERK],
            )
    assert refused.value.code == "price_change_denied"


def test_a_managers_price_change_is_recorded_and_audited_with_the_sale(world, tea):
    manager = world.staff_a[Role.STORE_MANAGER]
    with tenant_context(world.tenant_a):
        sale, created = counter_sale_record(
            store=world.store_a1,
            occurred_at=timezone.now(),
            lines=[LineInput(sku="TEA-1", quantity=2, unit_price=Decimal("10.00"))],
            staff=manager,
            external_id="counter:price-change",
        )
        assert created
        assert sale.total == Decimal("20.00")
        event = AuditEvent.objects.get(action="catalog.price_change")
        assert event.object_id == str(sale.pk)
        assert event.before == {"sku": "TEA-1", "price": "12.00"}
        assert event.after == {"sku": "TEA-1", "price": "10.00"}
        assert event.actor == manager.user
