"""Reads used by the store pages and the import."""

from __future__ import annotations

import tablib
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.formats.base_formats import CSV, XLSX

from stores.models import Store, StoreCodeApplication
from tenancy.models import AuditEvent

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


def dataset_from_upload(upload) -> tablib.Dataset:
    """Read an uploaded CSV (UTF-8, with or without BOM) or XLSX into a dataset."""
    content = upload.read()
    name = (upload.name or "").lower()
    try:
        if name.endswith(".xlsx"):
            dataset = XLSX().create_dataset(content)
        else:
            dataset = CSV().create_dataset(content.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ValueError(_("The CSV file must be saved as UTF-8.")) from exc
    except Exception as exc:  # noqa: BLE001 - any parser failure means "not readable"
        raise ValueError(_("The file could not be read as CSV or XLSX.")) from exc
    headers = [str(h or "").strip() for h in dataset.headers or []]
    missing = [c for c in ("code", "name", "region", "store_type") if c not in headers]
    if missing:
        raise ValueError(
            _("The file lacks the columns: %(columns)s.") % {"columns": ", ".join(missing)}
        )
    dataset.headers = headers
    # Empty trailing rows (common in spreadsheets) are not stores.
    rows = [row for row in dataset if any(str(v or "").strip() for v in row)]
    clean = tablib.Dataset(headers=headers)
    for row in rows:
        clean.append(["" if v is None else v for v in row])
    return clean
