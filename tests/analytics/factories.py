"""Helpers that record sales through the real service, as every entry point does."""

from __future__ import annotations

import datetime
from decimal import Decimal

import factory

from analytics.models import Product, SaleChannel
from analytics.services import LineInput, sale_record


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("sku",)

    sku = factory.Sequence(lambda n: f"SKU{n:05d}")
    name = factory.Sequence(lambda n: f"商品{n}")
    category = "饮料"


def line(sku="SKU-TEA", quantity=1, price="10.00", discount="0", name="", category="茶饮"):
    return LineInput(
        sku=sku,
        quantity=quantity,
        unit_price=Decimal(price),
        discount=Decimal(discount),
        name=name or f"商品{sku}",
        category=category,
    )


def record_sale(store, when: datetime.datetime, lines=None, **kwargs):
    kwargs.setdefault("channel", SaleChannel.COUNTER)
    sale, _created = sale_record(store=store, occurred_at=when, lines=lines or [line()], **kwargs)
    return sale
