"""Sales files: checked, confirmed once, written all or nothing (a job for large files), swept
when waiting.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from analytics.models import (
    SaleImport,
    SaleImportStatus,
)
from analytics.services.sales import IMPORT_SYNC_LIMIT
from stores.models import Store
from tenancy import tabular
from tenancy.context import current_tenant
from tenancy.models import StaffMember
from tenancy.services import audit_record
from tenancy.tasks import enqueue

# --- File import -----------------------------------------------------------------------------


@transaction.atomic
def sale_import_create(
    *,
    store: Store,
    actor: StaffMember,
    file_name: str,
    rows: list[dict],
    preview: dict | None = None,
) -> SaleImport:
    """Keep the parsed rows and write them now (small files) or in a job (large ones).

    With `preview` (the upload page) the rows are only checked: a clean file waits as
    "checked" for its uploader's confirm (sale_import_confirm), a file with any bad row is
    refused at once with every reason; nothing is written either way.
    """
    from analytics.importing import check_rows

    sale_import = SaleImport.objects.create(
        store=store,
        uploaded_by=actor,
        file_name=file_name[:200],
        rows=rows,
        preview=preview or {},
        status=SaleImportStatus.CHECKED if preview is not None else SaleImportStatus.PENDING,
    )
    audit_record(
        action="sale_import.upload", actor=actor, obj=sale_import, after={"rows": len(rows)}
    )
    if preview is not None:
        errors = check_rows(rows)
        if errors:
            sale_import.status = SaleImportStatus.FAILED
            sale_import.errors = sorted(errors, key=lambda e: e["row"] or 0)
            sale_import.rows = []
            sale_import.finished_at = timezone.now()
            sale_import.save(update_fields=["status", "errors", "rows", "finished_at"])
        return sale_import
    _queue_if_large(sale_import)
    return sale_import


def sale_import_confirm(*, sale_import: SaleImport, actor: StaffMember) -> SaleImport:
    """The uploader confirms a checked file: it is checked again and written, all or none.

    A conditional update decides: a double click or a second tab confirms once.
    """
    with transaction.atomic():
        claimed = SaleImport.objects.filter(
            pk=sale_import.pk, status=SaleImportStatus.CHECKED
        ).update(status=SaleImportStatus.PENDING)
        if claimed:
            audit_record(action="sale_import.confirm", actor=actor, obj=sale_import)
            _queue_if_large(sale_import)
    if claimed and len(sale_import.rows) <= IMPORT_SYNC_LIMIT:
        return sale_import_run(sale_import_id=sale_import.pk)
    return SaleImport.objects.defer("rows").get(pk=sale_import.pk)


def _queue_if_large(sale_import: SaleImport) -> None:
    from analytics import tasks

    rows = sale_import.rows
    if len(rows) > IMPORT_SYNC_LIMIT:
        tenant_id = sale_import.tenant_id
        # The row is the durable record: a refused message is queued again by the sweeper.
        transaction.on_commit(lambda: enqueue(tasks.run_sale_import, tenant_id, sale_import.pk))


CHECKED_KEPT_FOR = datetime.timedelta(days=1)


def sale_imports_sweep(*, pending_after_seconds: int = 60) -> int:
    """Queue again every sales import still waiting; returns how many.

    A waiting import is one whose message the broker refused or lost, or whose worker died:
    its single transaction rolled back, so it is still pending and starts from the first row.
    """
    from analytics import tasks

    since = timezone.now() - datetime.timedelta(seconds=pending_after_seconds)
    ids = list(
        SaleImport.objects.filter(
            status=SaleImportStatus.PENDING, created_at__lt=since
        ).values_list("pk", flat=True)
    )
    tenant_id = current_tenant().pk
    for sale_import_id in ids:
        enqueue(tasks.run_sale_import, tenant_id, sale_import_id)
    # Checked files nobody confirmed within a day are let go: their rows are not kept.
    SaleImport.objects.filter(
        status=SaleImportStatus.CHECKED,
        created_at__lt=timezone.now() - CHECKED_KEPT_FOR,
    ).update(
        status=SaleImportStatus.FAILED,
        rows=[],
        errors=[
            tabular.cell_error(
                None, "", "", gettext_lazy("Not confirmed within a day; upload again.")
            )
        ],
        finished_at=timezone.now(),
    )
    return len(ids)


def sale_import_run(*, sale_import_id: int) -> SaleImport:
    """Write every sale of an import, or none of them (with each bad line's reason)."""
    from analytics.importing import ImportFailed, write_rows

    try:
        with transaction.atomic():
            # Locked for the whole write: a sweep and a redelivery running at once take turns,
            # and the second finds the import done (a repeated job is harmless).
            sale_import = SaleImport.objects.select_for_update().get(pk=sale_import_id)
            if sale_import.status != SaleImportStatus.PENDING:
                return sale_import
            created, skipped = write_rows(sale_import)
            sale_import.status = SaleImportStatus.DONE
            sale_import.sales_created = created
            sale_import.sales_skipped = skipped
            sale_import.rows = []  # the sales now hold the data
            sale_import.finished_at = timezone.now()
            sale_import.save()
            audit_record(
                action="sale_import.done",
                actor=sale_import.uploaded_by,
                obj=sale_import,
                after={"created": created, "skipped": skipped},
            )
    except ImportFailed as failed:
        sale_import.refresh_from_db()
        sale_import.status = SaleImportStatus.FAILED
        sale_import.errors = failed.errors
        sale_import.finished_at = timezone.now()
        sale_import.save(update_fields=["status", "errors", "finished_at"])
        return sale_import
    # Late days of this file are recomputed now rather than tonight.
    from analytics.aggregation import aggregates_refresh_dirty

    aggregates_refresh_dirty()
    return sale_import
