"""Member files: reading CSV/XLSX (django-import-export formats) and the export resource.

Import rows are validated here as a whole before anything is written; see
services_import.import_job_run. Export cells are escaped against formula injection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import tablib
from django.utils.translation import gettext as _
from import_export import fields, resources
from import_export.formats.base_formats import CSV, XLSX

from customers.models import Customer, Gender
from tenancy.tabular import escape_row

FORMATS = {"csv": CSV, "xlsx": XLSX}

# Column headers accepted on import (English keys as exported, or the Chinese ones people
# type in spreadsheets).
HEADER_ALIASES = {
    "phone": {"phone", "mobile", "手机号", "手机", "手机号码"},
    "name": {"name", "姓名"},
    "gender": {"gender", "性别"},
    "birth_year": {"birth_year", "出生年", "出生年份"},
    "birth_month": {"birth_month", "出生月", "出生月份"},
    "birth_day": {"birth_day", "出生日"},
    "home_store": {"home_store", "门店编码", "所属门店", "门店"},
    "marketing_consent": {"marketing_consent", "营销同意", "同意营销"},
    "notes": {"notes", "备注"},
}
GENDER_ALIASES = {
    "": Gender.UNKNOWN,
    "unknown": Gender.UNKNOWN,
    "未知": Gender.UNKNOWN,
    "female": Gender.FEMALE,
    "f": Gender.FEMALE,
    "女": Gender.FEMALE,
    "male": Gender.MALE,
    "m": Gender.MALE,
    "男": Gender.MALE,
}
YES = {"1", "true", "yes", "y", "是", "同意"}
NO = {"0", "false", "no", "n", "否", "不同意"}


def escape_dataset(dataset: tablib.Dataset) -> tablib.Dataset:
    escaped = tablib.Dataset(headers=dataset.headers)
    for row in dataset:
        escaped.append(escape_row(row))
    return escaped


def cell_text(value: Any) -> str:
    """A cell as text: spreadsheets hand phones and years over as numbers."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def read_dataset(content: bytes, extension: str) -> tablib.Dataset:
    fmt = FORMATS[extension]()
    if extension == "csv":
        # utf-8-sig: Excel saves CSV with a byte-order mark.
        return fmt.create_dataset(content.decode("utf-8-sig"))
    return fmt.create_dataset(content)


def map_headers(headers: list) -> tuple[dict[str, int], list[str]]:
    """Column index per known field, and the headers we did not recognise."""
    index: dict[str, int] = {}
    unknown = []
    for position, header in enumerate(headers or []):
        text = cell_text(header).lower()
        for key, aliases in HEADER_ALIASES.items():
            if text in aliases:
                index[key] = position
                break
        else:
            if text:
                unknown.append(cell_text(header))
    return index, unknown


@dataclass
class ImportRow:
    line: int
    phone: str
    values: dict[str, Any] = field(default_factory=dict)
    consent: bool | None = None
    errors: list[str] = field(default_factory=list)


def parse_int(text: str, label: str, errors: list[str]) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        errors.append(_("%(column)s must be a whole number.") % {"column": label})
        return None


def parse_consent(text: str, errors: list[str]) -> bool | None:
    lowered = text.lower()
    if not lowered:
        return None
    if lowered in YES:
        return True
    if lowered in NO:
        return False
    errors.append(_("Marketing consent must be yes or no."))
    return None


class CustomerExportResource(resources.ModelResource):
    """Columns of a member export; headers match what the import accepts."""

    home_store = fields.Field(attribute="home_store__code", column_name="home_store")
    tags = fields.Field(column_name="tags")

    class Meta:
        model = Customer
        fields = (
            "card_number",
            "phone",
            "name",
            "gender",
            "birth_year",
            "birth_month",
            "birth_day",
            "home_store",
            "marketing_consent",
            "consent_at",
            "consent_channel",
            "tier_name",
            "purchase_count",
            "total_spent",
            "last_purchase_at",
            "notes",
            "tags",
        )
        export_order = fields

    def dehydrate_tags(self, customer: Customer) -> str:
        return ",".join(tag.name for tag in customer.tags.all())
