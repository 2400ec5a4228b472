"""Reads used by the store pages and the import."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import tablib
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from stores.models import Store, StoreCodeApplication
from tenancy import tabular
from tenancy.models import AuditEvent

MAX_IMPORT_ROWS = 10_000

ACTION_LABELS = {
    "stores.application_create": gettext_lazy("Application created"),
    "stores.application_update": gettext_lazy("Application edited"),
    "stores.application_submit": gettext_lazy("Submitted for review"),
    "stores.application_resubmit": gettext_lazy("Resubmitted after correction"),
    "stores.application_approve": gettext_lazy("Approved"),
    "stores.application_reject": gettext_lazy("Rejected"),
    "stores.document_add": gettext_lazy("Document uploaded"),
    "stores.store_create": gettext_lazy("Store created with its code"),
    "stores.store_code_change": gettext_lazy("Code changed"),
    "stores.store_status": gettext_lazy("Status changed"),
    "stores.review_confirmed": gettext_lazy("Re-review: confirmed"),
    "stores.review_needs_change": gettext_lazy("Re-review: needs change"),
    "stores.review_closed": gettext_lazy("Re-review: store closed"),
}


def labelled(events) -> list[AuditEvent]:
    """Events with a readable `label` for their action."""
    events = list(events)
    for event in events:
        event.label = ACTION_LABELS.get(event.action, event.action)
    return events


def store_events(*, store: Store) -> QuerySet[AuditEvent]:
    """The store's history: events on the store and on its code applications."""
    application_ids = [str(pk) for pk in store.code_applications.values_list("pk", flat=True)]
    return AuditEvent.objects.filter(
        Q(object_type=Store._meta.label_lower, object_id=str(store.pk))
        | Q(object_type=StoreCodeApplication._meta.label_lower, object_id__in=application_ids)
    ).order_by("-created_at", "-id")


def application_events(*, application: StoreCodeApplication) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        object_type=StoreCodeApplication._meta.label_lower, object_id=str(application.pk)
    ).order_by("created_at", "id")


PREVIEW_ROWS = 20


@dataclass
class StoreFile:
    """A store file as read: the rows under canonical headers and what the preview shows."""

    dataset: tablib.Dataset
    ignored: list[str]
    encoding: str
    columns: list[dict]


def store_file_read(content: bytes, name: str) -> StoreFile:
    """Read a store file (any encoding or XLSX) for the preview and the import."""
    from stores.resources import STORE_COLUMNS

    dataset, ignored, table, mapping = _read(content, name)
    return StoreFile(
        dataset=dataset,
        ignored=ignored,
        encoding=table.encoding,
        columns=mapping.columns(table.headers, STORE_COLUMNS),
    )


def dataset_from_upload(upload) -> tuple[tablib.Dataset, list[str]]:
    """Read an uploaded store file into a dataset with the canonical headers, and the
    headers that are not imported.

    Read by the one reader of tabular uploads (tenancy.tabular): UTF-8, GBK/GB18030 or
    UTF-16 text with any separator, or XLSX; Chinese headers are mapped to the columns.
    Each row carries its row number as Excel shows it (ROW_NUMBER).
    """
    dataset, ignored, _table, _mapping = _read(upload.read(), upload.name or "")
    return dataset, ignored


def _read(content: bytes, name: str):
    from stores.resources import ROW_NUMBER, STORE_COLUMNS

    table = tabular.read_table(content, name, max_rows=MAX_IMPORT_ROWS)
    mapping = tabular.map_headers(table.headers, STORE_COLUMNS)
    missing = [c for c in ("code", "name", "region", "store_type") if c not in mapping.index]
    if missing:
        raise ValueError(
            _("The file lacks the columns: %(columns)s.") % {"columns": ", ".join(missing)}
        )
    keys = list(mapping.index)
    clean = tablib.Dataset(headers=[*keys, ROW_NUMBER])
    for number, cells in table.rows:
        values = []
        for key in keys:
            value = tabular.value_at(cells, mapping, key)
            if key in ("opened_on", "next_review_on") and value not in (None, ""):
                value = _as_date(value)
            values.append("" if value is None else value)
        clean.append([*values, number])
    return clean, [header or "—" for _position, header in mapping.ignored], table, mapping


def _as_date(value):
    """A date cell or text in the usual forms as a date; anything else as it came."""
    try:
        parsed = tabular.parse_partial_date(value)
    except ValueError:
        return value
    if parsed is None or parsed.year is None:
        return value
    return datetime.date(parsed.year, parsed.month, parsed.day)
