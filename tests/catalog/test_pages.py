"""The catalogue pages and the counter's scan field, through the Django test client."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from analytics.models import Sale
from catalog.models import Product, StorePrice
from catalog.services import FREE_LINES_SETTING
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.catalog.factories import CatalogProductFactory, StorePriceFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def product_data(**overrides):
    data = {
        "sku": "TEA-9",
        "barcode": "036000291452",
        "name": "乌龙茶",
        "category": "茶叶",
        "unit": "盒",
        "list_price": "58.00",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_hq_creates_and_edits_a_product_and_sets_a_store_price(world, client_for):
    client = client_for(world.staff_a[Role.HQ_STAFF])
    response = client.post(reverse("catalog:product_create"), product_data())
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        product = Product.objects.get(sku="TEA-9")
        # UPC-A is kept as its EAN-13 form.
        assert product.barcode == "0036000291452"
    response = client.post(
        reverse("catalog:product_edit", args=[product.pk]), product_data(list_price="60.00")
    )
    assert response.status_code == 302
    response = client.post(
        reverse("catalog:store_price", args=[product.pk]),
        {"store": world.store_a2.pk, "price": "55.00"},
    )
    assert response.status_code == 302
    page = client.get(reverse("catalog:product_edit", args=[product.pk])).content.decode()
    assert "55.00" in page and world.store_a2.code in page
    listing = client.get(reverse("catalog:product_list"), {"q": "乌龙"}).content.decode()
    assert "TEA-9" in listing
    with tenant_context(world.tenant_a):
        product.refresh_from_db()
        assert product.list_price == Decimal("60.00")
        assert StorePrice.objects.get(product=product).price == Decimal("55.00")
        assert AuditEvent.objects.filter(action__startswith="catalog.").count() == 3


@pytest.mark.parametrize(
    "barcode",
    ["6901234567890", "69012345678", "69012345678A2", "1" * 40, "６９０１２３４５６７８９２"],
)
def test_a_bad_barcode_is_a_form_error(world, client_for, barcode):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    response = client.post(reverse("catalog:product_create"), product_data(barcode=barcode))
    assert response.status_code == 200
    assert response.context["form"].errors["barcode"]


def test_a_duplicate_sku_or_barcode_is_a_form_error_not_a_crash(world, client_for):
    with tenant_context(world.tenant_a):
        CatalogProductFactory(sku="TEA-9", barcode="6901234567892")
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    response = client.post(reverse("catalog:product_create"), product_data(barcode="6901234567892"))
    assert set(response.context["form"].errors) == {"sku", "barcode"}
    # The same SKU in another tenant is fine.
    other = client_for(world.staff_b[Role.HQ_ADMIN])
    assert other.post(reverse("catalog:product_create"), product_data()).status_code == 302


def test_store_staff_cannot_use_the_catalogue_pages(world, client_for):
    for role in (Role.STORE_MANAGER, Role.CLERK):
        client = client_for(world.staff_a[role])
        assert client.get(reverse("catalog:product_list")).status_code == 403
        assert client.post(reverse("catalog:product_create"), product_data()).status_code == 403


# --- The counter ---------------------------------------------------------------------------


def counter_data(store, *, scan="", lines=(), token=None):
    data = {
        "store": store.pk,
        "scan": scan,
        "member": "",
        "lines-TOTAL_FORMS": "5",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "50",
        "token": token or uuid.uuid4().hex,
    }
    for index in range(5):
        values = lines[index] if index < len(lines) else {}
        for key in ("sku", "name", "category", "unit_price", "discount"):
            data[f"lines-{index}-{key}"] = values.get(key, "")
        data[f"lines-{index}-quantity"] = values.get("quantity", "1")
    return data


def shown_lines(response) -> list[tuple]:
    formset = response.context["lines"]
    return [
        (f.initial.get("sku"), f.initial.get("quantity"), f.initial.get("unit_price"))
        for f in formset.forms
        if f.initial.get("sku")
    ]


@pytest.fixture
def tea(world):
    with tenant_context(world.tenant_a):
        product = CatalogProductFactory(
            sku="TEA-1", barcode="6901234567892", name="绿茶", list_price=Decimal("12.00")
        )
        StorePriceFactory(product=product, store=world.store_a1, price=Decimal("11.00"))
    return product


def test_a_scan_adds_a_line_and_a_second_scan_raises_its_quantity(world, client_for, tea):
    client = client_for(world.staff_a[Role.CLERK])
    url = reverse("analytics:counter_sale")
    first = client.post(url, counter_data(world.store_a1, scan="6901234567892"))
    assert first.status_code == 200
    assert shown_lines(first) == [("TEA-1", 1, Decimal("11.00"))]
    assert first.context["form"]["scan"].value() == ""
    again = client.post(
        url,
        counter_data(
            world.store_a1,
            scan="TEA-1",
            lines=[{"sku": "TEA-1", "name": "绿茶", "quantity": "1", "unit_price": "11.00"}],
        ),
    )
    assert shown_lines(again) == [("TEA-1", 2, Decimal("11.00"))]
    with tenant_context(world.tenant_a):
        assert not Sale.objects.exists()


def test_an_unknown_scan_is_refused_when_free_lines_are_off(world, client_for, tea):
    world.tenant_a.settings[FREE_LINES_SETTING] = False
    world.tenant_a.save()
    client = client_for(world.staff_a[Role.CLERK])
    response = client.post(
        reverse("analytics:counter_sale"), counter_data(world.store_a1, scan="NOPE-1")
    )
    assert response.status_code == 200
    assert response.context["form"].errors["scan"]


def test_recording_takes_the_catalogue_price_and_refuses_a_clerks_price(world, client_for, tea):
    client = client_for(world.staff_a[Role.CLERK])
    url = reverse("analytics:counter_sale")
    cheap = [{"sku": "TEA-1", "name": "改名", "quantity": "2", "unit_price": "1.00"}]
    response = client.post(url, counter_data(world.store_a1, lines=cheap))
    assert response.status_code == 200
    assert "11.00" in " ".join(response.context["form"].non_field_errors())
    with tenant_context(world.tenant_a):
        assert not Sale.objects.exists()
    fair = [{"sku": "TEA-1", "name": "改名", "quantity": "2", "unit_price": ""}]
    response = client.post(url, counter_data(world.store_a1, lines=fair))
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        sale = Sale.objects.get()
        assert sale.total == Decimal("22.00")
        assert sale.lines.get().product.name == "绿茶"


@pytest.mark.parametrize("scan", ["A\x00B", "9" * 41, "\u202e123"])
def test_a_hostile_scan_is_a_form_error(world, client_for, tea, scan):
    client = client_for(world.staff_a[Role.CLERK])
    response = client.post(
        reverse("analytics:counter_sale"), counter_data(world.store_a1, scan=scan)
    )
    assert response.status_code == 200
    assert response.context["form"].errors["scan"]


def test_the_hq_admin_switches_the_catalogue_rules(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    page = client.get(reverse("catalog:settings"))
    assert page.context["form"].initial == {"free_lines": True, "pos_requires_sku": False}
    response = client.post(reverse("catalog:settings"), {"pos_requires_sku": "on"})
    assert response.status_code == 302
    world.tenant_a.refresh_from_db()
    assert world.tenant_a.settings[FREE_LINES_SETTING] is False
    assert world.tenant_a.settings["catalog_pos_requires_sku"] is True
    with tenant_context(world.tenant_a):
        assert AuditEvent.objects.filter(action="catalog.settings").exists()
    hq_staff = client_for(world.staff_a[Role.HQ_STAFF])
    assert hq_staff.post(reverse("catalog:settings"), {}).status_code == 403


def test_a_manager_changes_a_price_at_the_counter_and_it_is_audited(world, client_for, tea):
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    lines = [{"sku": "6901234567892", "quantity": "1", "unit_price": "9.00"}]
    response = client.post(
        reverse("analytics:counter_sale"), counter_data(world.store_a1, lines=lines)
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        sale = Sale.objects.get()
        assert sale.total == Decimal("9.00")
        assert sale.lines.get().product.sku == "TEA-1"
        event = AuditEvent.objects.get(action="catalog.price_change")
        assert (event.object_id, event.before["price"], event.after["price"]) == (
            str(sale.pk),
            "11.00",
            "9.00",
        )
