"""Catalogue import (preview, then confirm; GBK and UTF-16; Chinese or English headers) and
export through the shared file pipeline."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import Product
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.catalog.factories import CatalogProductFactory

pytestmark = pytest.mark.django_db

CHINESE = (
    "商品编码,条码,商品名称,类别,单位,标价,启用\n"
    "TEA-1,6901234567892,绿茶,茶叶,盒,12.50,是\n"
    "DRK-1,,矿泉水,饮料,瓶,2.5,否\n"
)
ENGLISH = "SKU\tbarcode\tname\tprice\r\nTEA-1\t\t绿茶 新包装\t13\r\n"


def upload(client, text: str, encoding: str, name: str):
    file = SimpleUploadedFile(name, text.encode(encoding))
    return client.post(reverse("catalog:product_import"), {"file": file})


def test_a_gbk_file_is_previewed_then_imported_on_confirm(world, client_for):
    client = client_for(world.staff_a[Role.HQ_STAFF])
    preview = upload(client, CHINESE, "gbk", "products.csv")
    assert preview.status_code == 200
    assert preview.context["count"] == 2 and not preview.context["problems"]
    with tenant_context(world.tenant_a):
        assert not Product.objects.exists()
    done = client.post(reverse("catalog:product_import"), {"confirm": "1"})
    assert done.status_code == 302
    with tenant_context(world.tenant_a):
        tea = Product.objects.get(sku="TEA-1")
        assert (tea.name, tea.list_price, tea.unit) == ("绿茶", Decimal("12.50"), "盒")
        assert not Product.objects.get(sku="DRK-1").is_active
        assert AuditEvent.objects.filter(action="catalog.import").exists()


def test_a_utf16_file_with_english_headers_updates_an_existing_sku(world, client_for):
    with tenant_context(world.tenant_a):
        CatalogProductFactory(sku="TEA-1", barcode="6901234567892", name="绿茶")
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    preview = upload(client, ENGLISH, "utf-16", "products.txt")
    assert preview.context["count"] == 1 and not preview.context["problems"]
    client.post(reverse("catalog:product_import"), {"confirm": "1"})
    with tenant_context(world.tenant_a):
        tea = Product.objects.get(sku="TEA-1")
        assert (tea.name, tea.list_price) == ("绿茶 新包装", Decimal("13.00"))


def test_bad_rows_are_listed_and_nothing_is_written(world, client_for):
    bad = (
        "商品编码,条码,商品名称,标价\n"
        "A-1,6901234567890,错校验位,1\n"
        "A-1,,重复,1\n"
        ",,,abc\n"
        "B-1,,负价,-1\n"
    )
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    preview = upload(client, bad, "utf-8", "bad.csv")
    problems = {(p["row"], p["column"]) for p in preview.context["problems"]}
    assert {(2, "条码"), (3, "商品编码"), (4, "商品编码"), (4, "商品名称"), (4, "标价")} <= problems
    assert (5, "标价") in problems
    response = client.post(reverse("catalog:product_import"), {"confirm": "1"})
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        assert not Product.objects.exists()


def test_an_unreadable_file_is_a_message_not_a_crash(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    response = upload(client, "x", "utf-8", "products.pdf")
    assert response.status_code == 200
    assert response.context["problems"]


def test_export_reads_back_and_escapes_formulas(world, client_for):
    with tenant_context(world.tenant_a):
        CatalogProductFactory(sku="F-1", barcode="", name="=HYPERLINK(1)")
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    response = client.get(reverse("catalog:product_export"), {"format": "csv"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["商品编码", "条码", "商品名称"]
    assert rows[1][2] == "'=HYPERLINK(1)"
    assert client.get(reverse("catalog:product_export"), {"format": "xlsx"}).status_code == 200
    with tenant_context(world.tenant_a):
        assert AuditEvent.objects.filter(action="catalog.export").count() == 2
