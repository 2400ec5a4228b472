"""A clerk scans three items (one twice) into the counter sale and records it, in a browser."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from analytics.models import Sale
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.catalog.factories import CatalogProductFactory, StorePriceFactory
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def catalogue(world):
    with tenant_context(world.tenant_a):
        tea = CatalogProductFactory(
            sku="TEA-1",
            barcode="6901234567892",
            name="茉莉花茶 250g",
            category="茶叶",
            list_price=Decimal("12.00"),
        )
        StorePriceFactory(product=tea, store=world.store_a1, price=Decimal("11.00"))
        CatalogProductFactory(
            sku="DRK-1", barcode="96385074", name="矿泉水 550ml", list_price=Decimal("2.50")
        )
        CatalogProductFactory(
            sku="SNK-1", barcode="", name="薯片", category="零食", list_price=Decimal("8.50")
        )


def scan(page, code: str) -> None:
    """What a scanner does: type the code into the focused field, then Enter."""
    field = page.get_by_label("扫码或输入条码、商品编码")
    expect(field).to_be_focused()
    field.press_sequentially(code)
    field.press("Enter")
    page.wait_for_load_state()


@pytest.mark.parametrize("width", [1366, 768])
def test_clerk_scans_three_items_one_twice_and_records_the_sale(
    world, page, sign_in, catalogue, width
):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(world.staff_a[Role.CLERK])
    page.goto("/analytics/sales/new/")
    scan(page, "6901234567892")
    expect(page.locator("#id_lines-0-sku")).to_have_value("TEA-1")
    scan(page, "96385074")
    expect(page.locator("#id_lines-1-sku")).to_have_value("DRK-1")
    scan(page, "6901234567892")
    expect(page.locator("#id_lines-0-quantity")).to_have_value("2")
    scan(page, "SNK-1")
    expect(page.locator("#id_lines-2-name")).to_have_value("薯片")
    expect(page.locator("#id_lines-0-unit_price")).to_have_value("11.00")
    expect(page.locator("#id_lines-1-quantity")).to_have_value("1")
    expect(page.locator("#id_lines-3-sku")).to_have_value("")
    screenshot(page, f"catalog-counter-scanned-{width}")
    if width <= 768:
        assert page.evaluate("document.documentElement.scrollWidth") <= width

    page.get_by_role("button", name="记录销售").click()
    page.wait_for_url("**/analytics/sales/*/")
    screenshot(page, f"catalog-counter-recorded-{width}")
    with tenant_context(world.tenant_a):
        sale = Sale.objects.get()
        assert sale.total == Decimal("33.00")
        assert sorted(sale.lines.values_list("product__sku", "quantity")) == [
            ("DRK-1", 1),
            ("SNK-1", 1),
            ("TEA-1", 2),
        ]
