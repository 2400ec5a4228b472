"""A day's POS export as CSV or XLSX: read, check every line, write all or nothing.

One row per sale line; rows sharing a sale id are one sale. Columns (English or Chinese
headers): sale_id/小票号, time/时间, member/会员, sku/商品编码, name/商品名称,
category/品类, quantity/数量, unit_price/单价, discount/折扣, refund_of/原小票号.
"""

from __future__ import annotations

import datetime
from collections import OrderedDict
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from analytics.models import Sale, SaleChannel, SaleImport
from analytics.services import LineInput, sale_record
from customers.models import Customer
from tenancy import tabular
from tenancy.context import current_tenant
from tenancy.encryption import phone_index
from tenancy.messages import translatable

MAX_ROWS = 50_000
COLUMNS = {
    "sale_id": ("sale_id", "小票号"),
    "time": ("time", "时间"),
    "member": ("member", "会员"),
    "sku": ("sku", "商品编码"),
    "name": ("name", "商品名称"),
    "category": ("category", "品类"),
    "quantity": ("quantity", "数量"),
    "unit_price": ("unit_price", "单价"),
    "discount": ("discount", "折扣"),
    "refund_of": ("refund_of", "原小票号"),
}
REQUIRED = ("sale_id", "time", "sku", "quantity")
# The same columns for the one header mapping of every import (tenancy.tabular): the Chinese
# header is the canonical one, the English name an alias.
SALE_COLUMNS = tuple(
    tabular.Column(key, chinese, (english,)) for key, (english, chinese) in COLUMNS.items()
)
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M")


class ImportFailed(Exception):
    def __init__(self, errors: list[dict]):
        super().__init__(f"{len(errors)} errors")
        self.errors = errors


def _error(line: int, key: str, value: str, message: Any) -> dict:
    """The one error format of every import (tenancy.tabular.cell_error)."""
    return tabular.cell_error(line, COLUMNS[key][1] if key else "", value, message)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_table(upload) -> list[tuple[int, list[str]]]:
    """The file's rows as text, each with its row number as Excel shows it (header first)."""
    return read_upload(upload)[0]


def read_upload(upload) -> tuple[list[tuple[int, list[str]]], str]:
    """read_table and the encoding the reader found ("UTF-8", "GBK/GB18030", "XLSX", ...).

    Read by the one reader of tabular uploads (tenancy.tabular): UTF-8, GBK/GB18030 and
    UTF-16 text with any separator and line end, or XLSX.
    """
    table = tabular.read_table(upload.read(), getattr(upload, "name", "") or "", max_rows=MAX_ROWS)
    rows = [(1, table.headers)] + [
        (number, [_cell(value) for value in cells]) for number, cells in table.rows
    ]
    return rows, table.encoding


def header_preview(table: list[tuple[int, list[str]]]) -> list[dict]:
    """Each header of the file and the column it is read as ("" when not imported)."""
    headers = table[0][1] if table else []
    return tabular.map_headers(headers, SALE_COLUMNS).columns(headers, SALE_COLUMNS)


def parse_rows(table: list[tuple[int, list[str]]]) -> list[dict]:
    """Map the header to known columns; every row keeps its line number in the file."""
    if not table:
        raise ValidationError(_("The file is empty."))
    index = tabular.map_headers(table[0][1], SALE_COLUMNS).index
    missing = [COLUMNS[key][1] for key in REQUIRED if key not in index]
    if missing:
        raise ValidationError(
            _("Line 1: missing columns: %(columns)s.") % {"columns": "、".join(missing)}
        )
    if len(table) - 1 > MAX_ROWS:
        raise ValidationError(_("At most %(n)s rows per file.") % {"n": MAX_ROWS})
    rows = []
    for line_no, raw in table[1:]:
        if not any(cell.strip() for cell in raw):
            continue
        row = {"line": line_no}
        for key, position in index.items():
            row[key] = raw[position].strip() if position < len(raw) else ""
        rows.append(row)
    if not rows:
        raise ValidationError(_("The file has no data rows."))
    return rows


def _parse_time(value: str, zone) -> datetime.datetime | None:
    for fmt in TIME_FORMATS:
        try:
            naive = datetime.datetime.strptime(value, fmt)  # noqa: DTZ007 - made aware below
        except ValueError:
            continue
        return naive.replace(tzinfo=zone)
    return None


def _decimal(value: str, default: str | None = None) -> Decimal | None:
    if value == "" and default is not None:
        return Decimal(default)
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def check_rows(rows: list[dict]) -> list[dict]:
    """Every problem of the rows (nothing written): what the page shows before the confirm."""
    return _check(rows)[1]


def write_rows(sale_import: SaleImport) -> tuple[int, int]:
    """Check every row, then record each sale; raise ImportFailed with all reasons."""
    groups, errors = _check(sale_import.rows)
    if errors:
        raise ImportFailed(errors)
    return _write(sale_import, groups)


def _check(rows: list[dict]) -> tuple[OrderedDict, list[dict]]:
    tenant = current_tenant()
    errors: list[dict] = []
    groups: OrderedDict[str, dict] = OrderedDict()
    member_keys = {r.get("member", "") for r in rows} - {""}
    members = {}
    for customer in Customer.objects.filter(
        Q(card_number__in=member_keys) | Q(phone_hash__in=[phone_index(key) for key in member_keys])
    ):
        members[customer.card_number] = customer
        if customer.phone:
            members[customer.phone] = customer
    for row in rows:
        line = row["line"]
        problems = []
        for key in REQUIRED:
            if not row.get(key):
                problems.append(
                    (key, translatable(gettext_lazy("%(column)s is empty"), column=COLUMNS[key][1]))
                )
        occurred_at = _parse_time(row.get("time", ""), tenant.zone) if row.get("time") else None
        if row.get("time") and occurred_at is None:
            problems.append(("time", gettext_lazy("time must look like 2026-01-31 14:05")))
        quantity = None
        if row.get("quantity"):
            try:
                quantity = int(row["quantity"])
                if quantity <= 0:
                    raise ValueError
            except ValueError:
                problems.append(
                    ("quantity", gettext_lazy("quantity must be a whole number of at least 1"))
                )
        is_refund = bool(row.get("refund_of"))
        price = _decimal(row.get("unit_price", ""))
        if not is_refund and (price is None or price < 0):
            problems.append(
                ("unit_price", gettext_lazy("unit price must be a number of 0 or more"))
            )
        discount = _decimal(row.get("discount", ""), default="0")
        if discount is None or discount < 0:
            problems.append(("discount", gettext_lazy("discount must be a number of 0 or more")))
        member = None
        if row.get("member"):
            member = members.get(row["member"])
            if member is None:
                message = translatable(
                    gettext_lazy("no member with card or phone %(v)s"), v=row["member"]
                )
                problems.append(("member", message))
        group = groups.get(row.get("sale_id", ""))
        if (
            group
            and problems == []
            and (
                group["occurred_at"] != occurred_at
                or group["member"] != member
                or group["refund_of"] != row.get("refund_of", "")
            )
        ):
            message = gettext_lazy("lines of one sale must share time, member and original sale")
            problems.append(("sale_id", message))
        if problems:
            errors.extend(_error(line, key, row.get(key, ""), message) for key, message in problems)
            continue
        if group is None:
            group = groups[row["sale_id"]] = {
                "line": line,
                "occurred_at": occurred_at,
                "member": member,
                "refund_of": row.get("refund_of", ""),
                "lines": [],
            }
        group["lines"].append(
            LineInput(
                sku=row["sku"],
                quantity=quantity,
                unit_price=price,
                discount=discount,
                name=row.get("name", ""),
                category=row.get("category", ""),
            )
        )
    return groups, errors


def _write(sale_import: SaleImport, groups: OrderedDict) -> tuple[int, int]:
    errors: list[dict] = []
    store = sale_import.store
    existing = set(
        Sale.objects.filter(store=store, external_id__in=list(groups)).values_list(
            "external_id", flat=True
        )
    )
    created = skipped = 0
    # Sales before refunds, so a refund may point at a sale earlier in the same file.
    ordered = sorted(groups.items(), key=lambda item: bool(item[1]["refund_of"]))
    for sale_id, group in ordered:
        if sale_id in existing:
            skipped += 1  # imported before: re-uploading a file is harmless
            continue
        original = None
        if group["refund_of"]:
            original = Sale.objects.filter(store=store, external_id=group["refund_of"]).first()
            if original is None:
                errors.append(
                    _error(
                        group["line"],
                        "refund_of",
                        group["refund_of"],
                        translatable(
                            gettext_lazy("original sale %(id)s is not known for this store"),
                            id=group["refund_of"],
                        ),
                    )
                )
                continue
        try:
            sale_record(
                store=store,
                occurred_at=group["occurred_at"],
                lines=group["lines"],
                channel=SaleChannel.IMPORT,
                member=group["member"],
                external_id=sale_id,
                refund_of=original,
                audit=False,  # one audit event for the whole file instead
            )
        except ValidationError as exc:
            errors.append(_error(group["line"], "sale_id", sale_id, exc))
            continue
        created += 1
    if errors:
        raise ImportFailed(sorted(errors, key=lambda e: e["row"]))
    return created, skipped
