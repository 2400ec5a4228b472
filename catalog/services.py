"""Catalogue writes and the rules the counter and the POS API price against.

Lines that reach a sale are checked here against the catalogue: the browser only proposes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from catalog.barcodes import normalise_barcode
from catalog.models import Product, StorePrice
from stores.models import Store
from tenancy.context import current_tenant
from tenancy.models import Role, StaffMember
from tenancy.services import audit_record

# Tenant settings (Tenant.settings keys).
# Lines whose code is not in the catalogue may be typed by hand at the counter (name and price
# typed). On by default so that a tenant without a catalogue keeps selling.
FREE_LINES_SETTING = "catalog_free_lines"
# The POS API refuses SKUs that are not in the catalogue (error code "unknown_sku").
POS_REQUIRES_CATALOG_SETTING = "catalog_pos_requires_sku"
# Who may sell a catalogue product at another price than the catalogue's.
PRICE_CHANGE_ROLES = frozenset({Role.HQ_ADMIN, Role.HQ_STAFF, Role.STORE_MANAGER})


class SaleLineLike(Protocol):
    sku: str
    quantity: int
    unit_price: Decimal | None
    name: str
    category: str


def _snapshot(product: Product) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "barcode": product.barcode,
        "name": product.name,
        "category": product.category,
        "unit": product.unit,
        "list_price": str(product.list_price),
        "is_active": product.is_active,
    }


@transaction.atomic
def product_save(*, product: Product, actor: StaffMember) -> Product:
    """Create or update a catalogue product (already validated by its form), audited."""
    before = None
    if product.pk:
        before = _snapshot(Product.objects.get(pk=product.pk))
    product.save()
    audit_record(
        action="catalog.product_update" if before else "catalog.product_create",
        actor=actor,
        obj=product,
        before=before,
        after=_snapshot(product),
    )
    return product


@transaction.atomic
def store_price_set(
    *, product: Product, store: Store, price: Decimal | None, actor: StaffMember
) -> StorePrice | None:
    """Set a store's own price for a product; None removes it (the list price applies)."""
    existing = StorePrice.objects.filter(product=product, store=store).first()
    before = {"price": str(existing.price)} if existing else None
    if price is None:
        if existing:
            existing.delete()
        row = None
    else:
        row, _created = StorePrice.objects.update_or_create(
            product=product, store=store, defaults={"price": price}
        )
    audit_record(
        action="catalog.store_price",
        actor=actor,
        obj=product,
        before=before,
        after={"store": store.code, "price": None if price is None else str(price)},
    )
    return row


# --- Lookups ---------------------------------------------------------------------------------


def product_for_code(code: str) -> Product | None:
    """The active product whose SKU or barcode is `code` (a scan or a typed code)."""
    code = (code or "").strip()
    if not code or len(code) > 40 or not code.isprintable():
        return None
    query = Q(sku=code)
    if code.isascii() and code.isdigit():
        query |= Q(barcode=normalise_barcode(code))
    matches = list(Product.objects.active().filter(query).order_by("pk")[:2])
    # A SKU match wins over a barcode match if a SKU happens to look like another's barcode.
    matches.sort(key=lambda p: p.sku != code)
    return matches[0] if matches else None


def price_at(*, product: Product, store: Store) -> Decimal:
    """What the product costs at the store: the store's own price, else the list price."""
    own = (
        StorePrice.objects.filter(product=product, store=store)
        .values_list("price", flat=True)
        .first()
    )
    return product.list_price if own is None else own


def free_lines_allowed() -> bool:
    return bool(current_tenant().setting(FREE_LINES_SETTING, True))


def pos_requires_catalog() -> bool:
    return bool(current_tenant().setting(POS_REQUIRES_CATALOG_SETTING, False))


def unknown_skus(skus: list[str]) -> list[str]:
    """Those of `skus` that are not active products of the catalogue (for the POS API)."""
    wanted = {s.strip() for s in skus if s and s.strip()}
    known = set(Product.objects.active().filter(sku__in=wanted).values_list("sku", flat=True))
    return sorted(wanted - known)


# --- The counter -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceChange:
    sku: str
    catalogue_price: Decimal
    sold_at: Decimal


def scan_add(*, lines: list[dict], code: str, store: Store) -> list[dict]:
    """The counter's lines after scanning (or typing) `code` once.

    A code already on a line adds one to its quantity; a catalogue product is added with its
    name and its price at this store; an unknown code adds a line to type by hand when the
    tenant allows free lines and is refused otherwise. `lines` are dicts with the keys sku,
    name, category, quantity, unit_price, discount (the counter form's line fields).
    """
    code = (code or "").strip()
    if not code:
        return lines
    product = product_for_code(code)
    sku = product.sku if product else code
    if len(sku) > 40 or not sku.isprintable():
        raise ValidationError(_("This is not a barcode or SKU."), code="invalid")
    lines = [dict(line) for line in lines]
    for line in lines:
        if (line.get("sku") or "").strip() == sku:
            line["quantity"] = (line.get("quantity") or 0) + 1
            return lines
    if product is not None:
        lines.append(
            {
                "sku": product.sku,
                "name": product.name,
                "category": product.category,
                "quantity": 1,
                "unit_price": price_at(product=product, store=store),
                "discount": None,
            }
        )
        return lines
    if not free_lines_allowed():
        raise ValidationError(
            _("No product in the catalogue has the code %(code)s.") % {"code": code},
            code="unknown_code",
        )
    lines.append(
        {
            "sku": sku,
            "name": "",
            "category": "",
            "quantity": 1,
            "unit_price": None,
            "discount": None,
        }
    )
    return lines


def sale_lines_check(
    *, lines: list, store: Store, staff: StaffMember | None
) -> tuple[list, list[PriceChange]]:
    """Lines as the catalogue prices them, never as the browser sent them.

    Each line's code (SKU or barcode) is looked up: a catalogue product takes its SKU, name,
    category and its price at this store; a different price is a price change, allowed only
    to PRICE_CHANGE_ROLES and returned so the caller audits it with the sale. A code that is
    not in the catalogue stays a hand-typed line if the tenant allows free lines. `lines` are
    frozen dataclasses (analytics.services.LineInput); changed copies are returned.
    """
    checked, changes = [], []
    for index, line in enumerate(lines, start=1):
        product = product_for_code(line.sku)
        if product is None:
            if not free_lines_allowed():
                raise ValidationError(
                    _("Line %(line)s: no product in the catalogue has the code %(code)s.")
                    % {"line": index, "code": line.sku},
                    code="unknown_code",
                )
            checked.append(line)
            continue
        price = price_at(product=product, store=store)
        sold_at = price if line.unit_price is None else line.unit_price
        if sold_at != price:
            if staff is None or staff.role not in PRICE_CHANGE_ROLES:
                raise ValidationError(
                    _(
                        "Line %(line)s: %(name)s costs ¥%(price)s here; only a store manager "
                        "may change the price."
                    )
                    % {"line": index, "name": product.name, "price": price},
                    code="price_change_denied",
                )
            changes.append(PriceChange(sku=product.sku, catalogue_price=price, sold_at=sold_at))
        checked.append(
            replace(
                line,
                sku=product.sku,
                name=product.name,
                category=product.category,
                unit_price=sold_at,
            )
        )
    return checked, changes


def price_changes_audit(*, sale, changes: list[PriceChange], staff: StaffMember) -> None:
    """One audit event per line sold at another price than the catalogue's."""
    for change in changes:
        audit_record(
            action="catalog.price_change",
            actor=staff,
            obj=sale,
            before={"sku": change.sku, "price": str(change.catalogue_price)},
            after={"sku": change.sku, "price": str(change.sold_at)},
        )


@transaction.atomic
def catalog_settings_update(
    *, free_lines: bool, pos_requires_sku: bool, actor: StaffMember
) -> None:
    """The tenant's two catalogue switches (FREE_LINES_SETTING, POS_REQUIRES_CATALOG_SETTING)."""
    from tenancy.models import Tenant

    # Locked: Tenant.settings is one JSON document that other settings pages write too.
    tenant = Tenant.objects.select_for_update().get(pk=current_tenant().pk)
    before = {
        FREE_LINES_SETTING: free_lines_allowed(),
        POS_REQUIRES_CATALOG_SETTING: pos_requires_catalog(),
    }
    after = {FREE_LINES_SETTING: free_lines, POS_REQUIRES_CATALOG_SETTING: pos_requires_sku}
    tenant.settings.update(after)
    tenant.save(update_fields=["settings"])
    current_tenant().settings.update(after)
    audit_record(action="catalog.settings", actor=actor, obj=tenant, before=before, after=after)
