"""Role-matrix samples for the catalogue pages: products belong to the tenant, not a store."""

from __future__ import annotations

from tests.catalog.factories import CatalogProductFactory
from tests.url_samples import register


def _product(store):
    return {"product_id": CatalogProductFactory(sku="MATRIX-1").pk}


register("catalog:product_edit", _product, store_scoped=False)
register("catalog:store_price", _product, store_scoped=False, ok_status=405)
