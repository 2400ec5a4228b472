"""Catalogue import and export through the shared file pipeline (tenancy.tabular): the same
reader (UTF-8, GBK, UTF-16, XLSX), header mapping (Chinese canonical headers, English
aliases), error format and cell escaping as the member, store and sales imports.

An import is checked whole first (a preview, nothing written) and then written all or
nothing: a row's SKU that exists is updated, a new one is created.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from catalog.barcodes import is_valid_barcode, normalise_barcode
from catalog.models import Product
from tenancy import tabular
from tenancy.models import StaffMember
from tenancy.services import audit_record

MAX_ROWS = 5000
COLUMNS = (
    tabular.Column("sku", "商品编码", ("SKU", "货号", "编码")),
    tabular.Column("barcode", "条码", ("barcode", "EAN", "条形码", "UPC")),
    tabular.Column("name", "商品名称", ("name", "品名", "名称")),
    tabular.Column("category", "类别", ("category", "分类", "品类")),
    tabular.Column("unit", "单位", ("unit",)),
    tabular.Column("list_price", "标价", ("list price", "price", "零售价", "售价")),
    tabular.Column("is_active", "启用", ("active", "是否启用")),
)
HEADERS = [column.label for column in COLUMNS]
_YES = {"", "1", "是", "y", "yes", "true", "启用", "在售"}
_NO = {"0", "否", "n", "no", "false", "停用", "下架"}


def products_file_check(content: bytes, filename: str) -> tuple[list[dict], list[dict]]:
    """(rows ready to write, problems) of an uploaded file; raises TableUnreadable."""
    table = tabular.read_table(content, filename, max_rows=MAX_ROWS)
    mapping = tabular.map_headers(table.headers, COLUMNS)
    problems: list[dict] = []
    for key in ("sku", "name", "list_price"):
        if key not in mapping.index:
            label = next(c.label for c in COLUMNS if c.key == key)
            problems.append(tabular.cell_error(1, label, "", _("This column is missing.")))
    if problems:
        return [], problems
    rows, seen = [], {}
    seen_barcodes: dict[str, int] = {}
    for line, cells in table.rows:

        def text(key: str, cells=cells) -> str:
            return tabular.cell_text(tabular.value_at(cells, mapping, key)).strip()

        def refuse(key: str, value: Any, message: str, line=line) -> None:
            label = next(c.label for c in COLUMNS if c.key == key)
            problems.append(tabular.cell_error(line, label, value, message))

        row = {key: text(key) for key in ("sku", "barcode", "name", "category", "unit")}
        limits = {"sku": 40, "name": 100, "category": 50, "unit": 10}
        for key, limit in limits.items():
            if len(row[key]) > limit or not row[key].isprintable():
                refuse(key, row[key][:50], _("Too long or not plain text."))
        if not row["sku"]:
            refuse("sku", "", _("The SKU is missing."))
        elif row["sku"] in seen:
            refuse(
                "sku", row["sku"], _("This SKU is also on row %(row)s.") % {"row": seen[row["sku"]]}
            )
        seen.setdefault(row["sku"], line)
        if not row["name"]:
            refuse("name", "", _("The product name is missing."))
        if row["barcode"]:
            if not is_valid_barcode(row["barcode"]):
                refuse(
                    "barcode",
                    row["barcode"][:20],
                    _("Not an EAN-13, UPC-A or EAN-8 barcode with a correct check digit."),
                )
            else:
                row["barcode"] = normalise_barcode(row["barcode"])
                if row["barcode"] in seen_barcodes:
                    refuse(
                        "barcode",
                        row["barcode"],
                        _("This barcode is also on row %(row)s.")
                        % {"row": seen_barcodes[row["barcode"]]},
                    )
                seen_barcodes.setdefault(row["barcode"], line)
        price_text = text("list_price").replace("¥", "").replace(",", "")
        try:
            price = Decimal(price_text)
            if (
                not price.is_finite()
                or price < 0
                or price > Decimal("9999999.99")
                or price != price.quantize(Decimal("0.01"))
            ):
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            refuse("list_price", price_text[:20], _('Enter a price such as "12.50".'))
            price = None
        row["list_price"] = None if price is None else str(price.quantize(Decimal("0.01")))
        active = text("is_active").lower()
        if active not in _YES | _NO:
            refuse("is_active", active[:20], _("Write 是 or 否."))
        row["is_active"] = active not in _NO
        row["_row"] = line
        rows.append(row)
    # A barcode may not belong to another SKU already in the catalogue.
    owners = dict(
        Product.objects.filter(barcode__in=list(seen_barcodes)).values_list("barcode", "sku")
    )
    for row in rows:
        owner = owners.get(row["barcode"])
        if owner and owner != row["sku"]:
            refuse_line = row["_row"]
            problems.append(
                tabular.cell_error(
                    refuse_line,
                    "条码",
                    row["barcode"],
                    _("Product %(sku)s already has this barcode.") % {"sku": owner},
                )
            )
    return rows, problems


@transaction.atomic
def products_import(*, rows: list[dict], actor: StaffMember) -> tuple[int, int]:
    """Write checked rows all or nothing: (created, updated). Audited once."""
    existing = {p.sku: p for p in Product.objects.filter(sku__in=[r["sku"] for r in rows])}
    created = updated = 0
    for row in rows:
        fields = {key: row[key] for key in ("barcode", "name", "category", "unit", "is_active")}
        fields["list_price"] = Decimal(row["list_price"])
        product = existing.get(row["sku"])
        if product is None:
            Product.objects.create(sku=row["sku"], **fields)
            created += 1
        else:
            for key, value in fields.items():
                setattr(product, key, value)
            product.save()
            updated += 1
    audit_record(
        action="catalog.import", actor=actor, after={"created": created, "updated": updated}
    )
    return created, updated


def products_export(*, file_format: str, actor: StaffMember) -> tuple[bytes, str]:
    """Every product as a file the import reads back; audited."""
    rows = [
        [
            p.sku,
            p.barcode,
            p.name,
            p.category,
            p.unit,
            str(p.list_price),
            "是" if p.is_active else "否",
        ]
        for p in Product.objects.order_by("sku")
    ]
    audit_record(
        action="catalog.export", actor=actor, after={"format": file_format, "count": len(rows)}
    )
    return tabular.table_bytes(HEADERS, rows, file_format=file_format)


def check_error(error: ValidationError) -> list[dict]:
    return [tabular.cell_error(None, "", "", message) for message in error.messages]
