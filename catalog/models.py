"""The tenant's product catalogue and per-store prices.

Sales keep their own product rows (analytics.Product, written as sales arrive); the
catalogue is what the counter scans against and what a sale line's price is checked against.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog.barcodes import is_valid_barcode, normalise_barcode
from stores.models import Store
from tenancy.models import TenantScopedManager, TenantScopedModel, TenantScopedQuerySet

MONEY = {"max_digits": 14, "decimal_places": 2}


def validate_barcode(value: str) -> None:
    if value and not is_valid_barcode(value):
        raise ValidationError(
            _("Enter an EAN-13, UPC-A or EAN-8 barcode with a correct check digit."),
            code="barcode",
        )


class ProductQuerySet(TenantScopedQuerySet):
    def active(self):
        return self.filter(is_active=True)


class Product(TenantScopedModel):
    sku = models.CharField(_("SKU"), max_length=40)
    barcode = models.CharField(
        _("barcode"), max_length=13, blank=True, validators=[validate_barcode]
    )
    name = models.CharField(_("product name"), max_length=100)
    category = models.CharField(_("category"), max_length=50, blank=True)
    unit = models.CharField(_("unit"), max_length=10, blank=True, default="")
    list_price = models.DecimalField(_("list price"), validators=[MinValueValidator(0)], **MONEY)
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = TenantScopedManager.from_queryset(ProductQuerySet)()
    unscoped = models.Manager()

    class Meta:
        verbose_name = _("catalogue product")
        verbose_name_plural = _("catalogue products")
        ordering = ["sku"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sku"], name="catalog_sku_per_tenant"),
            models.UniqueConstraint(
                fields=["tenant", "barcode"],
                condition=~models.Q(barcode=""),
                name="catalog_barcode_per_tenant",
            ),
            models.CheckConstraint(
                condition=models.Q(list_price__gte=0), name="catalog_list_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"

    def save(self, *args, **kwargs) -> None:
        self.barcode = normalise_barcode(self.barcode or "")
        super().save(*args, **kwargs)


class StorePrice(TenantScopedModel):
    """A store's own price for one product; it wins over the list price at that store."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="store_prices", verbose_name=_("product")
    )
    store = models.ForeignKey(
        Store, on_delete=models.CASCADE, related_name="+", verbose_name=_("store")
    )
    price = models.DecimalField(_("store price"), validators=[MinValueValidator(0)], **MONEY)

    class Meta:
        verbose_name = _("store price")
        verbose_name_plural = _("store prices")
        ordering = ["store__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "product", "store"], name="catalog_store_price_once"
            ),
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="catalog_store_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product.sku} @ {self.store.code}: {self.price}"
