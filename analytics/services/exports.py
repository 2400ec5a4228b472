"""Report exports as CSV or XLSX, every one audited."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from stores.models import Store
from tenancy.models import StaffMember
from tenancy.services import audit_record
from tenancy.tabular import escape_row

# --- Report export ---------------------------------------------------------------------------

FEN = Decimal("0.01")


def fen(amount) -> Decimal | None:
    """Money as written to an export: rounded to the fen (14628.80, not 14628.8000000000)."""
    if amount is None:
        return None
    return Decimal(amount).quantize(FEN, rounding=ROUND_HALF_UP)


@transaction.atomic
def report_export(
    *, actor: StaffMember, report: str, period, store: Store | None, file_format: str
) -> tuple[bytes, str, str]:
    """A report as CSV or XLSX bytes; every export is audited."""
    import csv
    import io

    from analytics import selectors

    ids = [store.pk] if store else None
    if report == "stores":
        header = [
            _("Rank"),
            _("Store code"),
            _("Store"),
            _("Region"),
            _("Store type"),
            _("Revenue"),
            _("Transactions"),
            _("Average ticket"),
            _("Member share"),
            _("New members"),
            _("Previous period revenue"),
        ]
        rows = [
            [
                r["rank"],
                r["code"],
                r["name"],
                r["region"],
                r["store_type"],
                fen(r["revenue"]),
                r["transactions"],
                fen(r["average_ticket"]),
                r["member_share"],
                r["new_members"],
                fen(r["prev_revenue"]),
            ]
            for r in selectors.store_ranking(period, "store")
            if ids is None or r["store_id"] in ids
        ]
    elif report == "products":
        header = [_("SKU"), _("Product"), _("Category"), _("Quantity"), _("Revenue")]
        rows = [
            [
                r["product__sku"],
                r["product__name"],
                r["product__category"],
                r["quantity"],
                fen(r["revenue"]),
            ]
            for r in selectors.product_ranking(ids, period, limit=None)
        ]
    elif report == "staff":
        header = [_("Staff member"), _("Revenue"), _("Transactions"), _("Average ticket")]
        rows = [
            [
                r["staff__display_name"],
                fen(r["revenue"]),
                r["transactions"],
                fen(r["average_ticket"]),
            ]
            for r in selectors.staff_leaderboard(ids, period, limit=None)
        ]
    else:
        raise ValidationError(_("Unknown report."))
    header = [str(h) for h in header]
    rows = [escape_row(row) for row in rows]
    stem = f"{report}-{period.start:%Y%m%d}-{period.end:%Y%m%d}"
    if file_format == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(report)
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        content = buffer.getvalue()
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    elif file_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(["" if c is None else c for c in row] for row in rows)
        # A BOM so that Excel opens the Chinese text as UTF-8.
        content = ("\ufeff" + buffer.getvalue()).encode("utf-8")
        content_type = "text/csv; charset=utf-8"
    else:
        raise ValidationError(_("Unknown file format."))
    audit_record(
        action="analytics.export",
        actor=actor,
        obj=store,
        after={
            "report": report,
            "format": file_format,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "rows": len(rows),
        },
    )
    return content, content_type, f"{stem}.{file_format}"
