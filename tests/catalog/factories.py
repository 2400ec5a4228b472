from __future__ import annotations

from decimal import Decimal

import factory

from catalog.barcodes import check_digit
from catalog.models import Product, StorePrice


def ean13(n: int) -> str:
    body = f"690999{n:06d}"
    return body + str(check_digit(body))


class CatalogProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("sku",)

    sku = factory.Sequence(lambda n: f"CAT{n:05d}")
    barcode = factory.Sequence(ean13)
    name = factory.Sequence(lambda n: f"目录商品{n}")
    category = "饮料"
    unit = "瓶"
    list_price = Decimal("10.00")


class StorePriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StorePrice

    product = factory.SubFactory(CatalogProductFactory)
    price = Decimal("8.00")
