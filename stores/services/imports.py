"""Importing existing stores with their codes (checked, previewed, confirmed; all or nothing)
and keeping counters past every imported code.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from stores.models import (
    Region,
    Store,
    StoreCodeHistory,
    StoreType,
)
from stores.services.codes import _locked_counter, next_review_date, store_code_parse
from tenancy import tabular
from tenancy.context import current_tenant
from tenancy.models import StaffMember
from tenancy.services import audit_record

# --- Import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportProblem:
    """One refused cell, in the shared import error format (tenancy.tabular.cell_error)."""

    line: int
    message: str
    column: str = ""
    value: str = ""

    def as_error(self) -> dict:
        return tabular.cell_error(self.line, self.column, self.value, self.message)


@dataclass
class ImportOutcome:
    problems: list[ImportProblem]
    created: int = 0


IMPORT_COLUMNS = ("code", "name", "region", "store_type")


def _cell(row: dict, key: str) -> str:
    value = row.get(key)
    return "" if value is None else str(value).strip()


def stores_import_validate(*, rows: Iterable[dict]) -> list[ImportProblem]:
    """Check every row of an import; each problem names its line (the header is line 1)."""
    from stores.resources import STATUS_BY_TEXT

    problems: list[ImportProblem] = []
    regions = {r.code: r for r in Region.objects.all()}
    types = {t.code: t for t in StoreType.objects.all()}
    taken = set(StoreCodeHistory.objects.values_list("code", flat=True)) | set(
        Store.objects.values_list("code", flat=True)
    )
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        # The row number as Excel shows it when the reader gave one (blank rows skipped).
        line = int(row.get("_row") or index + 2)
        code, name = _cell(row, "code"), _cell(row, "name")
        region_code, type_code = _cell(row, "region"), _cell(row, "store_type")
        status = _cell(row, "status")

        def problem(message: str, column: str, value: str, line=line) -> None:
            problems.append(ImportProblem(line, message, column, value))

        if not name:
            problem(_("the store name is missing"), "name", name)
        if region_code not in regions:
            problem(_("unknown region “%(code)s”") % {"code": region_code}, "region", region_code)
        if type_code not in types:
            problem(
                _("unknown store type “%(code)s”") % {"code": type_code}, "store_type", type_code
            )
        if status and status not in STATUS_BY_TEXT:
            problem(_("unknown status “%(status)s”") % {"status": status}, "status", status)
        try:
            parsed = store_code_parse(code)
        except ValidationError:
            problem(_("malformed store code “%(code)s”") % {"code": code}, "code", code)
            continue
        if (parsed.region, parsed.store_type) != (region_code, type_code):
            problem(
                _("code %(code)s does not match region %(region)s and type %(type)s")
                % {"code": code, "region": region_code, "type": type_code},
                "code",
                code,
            )
        if code in seen:
            problem(
                _("duplicate store code %(code)s (also on line %(other)s)")
                % {"code": code, "other": seen[code]},
                "code",
                code,
            )
        elif code in taken:
            problem(_("store code %(code)s already exists") % {"code": code}, "code", code)
        seen.setdefault(code, line)
    return problems


@transaction.atomic
def stores_import(*, dataset, actor: StaffMember) -> ImportOutcome:
    """Import existing stores with their codes: all rows or none.

    The file is validated as a whole first; with any problem nothing is written. Then the
    rows are saved through the import-export resource and each prefix's counter is moved
    past the highest imported sequence, so the next approval cannot collide.
    """
    from stores.resources import StoreImportResource

    rows = list(dataset.dict)
    # Lock the counters of the file's prefixes before reading what exists: an approval
    # running meanwhile would otherwise issue a code this file also brings. Always in the
    # same (code) order, so two imports cannot deadlock; an approval locks only one.
    regions = {r.code: r for r in Region.objects.all()}
    types = {t.code: t for t in StoreType.objects.all()}
    prefixes = {(_cell(row, "region"), _cell(row, "store_type")) for row in rows}
    counters = {
        (r, t): _locked_counter(region=regions[r], store_type=types[t])
        for r, t in sorted(prefixes)
        if r in regions and t in types
    }
    problems = stores_import_validate(rows=rows)
    if not rows:
        problems.append(ImportProblem(1, _("the file has no rows")))
    if problems:
        # Nothing at all is written, not even a counter row created for a new prefix.
        transaction.set_rollback(True)
        return ImportOutcome(problems=problems)
    resource = StoreImportResource(next_review_on=next_review_date())
    result = resource.import_data(dataset, dry_run=False, raise_errors=True, use_transactions=False)
    highest: dict[tuple[str, str], int] = {}
    for row in rows:
        parsed = store_code_parse(_cell(row, "code"))
        key = (parsed.region, parsed.store_type)
        highest[key] = max(highest.get(key, 0), parsed.sequence)
    for prefix, sequence in sorted(highest.items()):
        counter = counters[prefix]
        if counter.last_sequence < sequence:
            counter.last_sequence = sequence
            counter.save(update_fields=["last_sequence"])
    created = result.totals.get("new", 0)
    audit_record(
        action="stores.import",
        actor=actor,
        after={
            "stores": created,
            "counters": {f"{r}-{t}": s for (r, t), s in sorted(highest.items())},
        },
    )
    return ImportOutcome(problems=[], created=created)


# --- A checked file waits for the confirm ----------------------------------------------------

UPLOAD_SALT = "stores.import-upload"
UPLOAD_MAX_AGE = datetime.timedelta(days=1)


def _upload_folder(tenant_id: int) -> str:
    return f"imports/stores/{tenant_id}/"


def store_upload_keep(*, content: bytes, name: str, staff: StaffMember) -> str:
    """Keep a checked file until its uploader confirms; returns the signed token the confirm
    form carries (it names the file, the tenant and the person, and expires in a day)."""
    import os
    import uuid

    from django.core import signing
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    extension = os.path.splitext(name)[1].lower()[:6]
    path = default_storage.save(
        f"{_upload_folder(current_tenant().pk)}{uuid.uuid4().hex}{extension}", ContentFile(content)
    )
    return signing.dumps(
        {"p": path, "n": name[:200], "t": current_tenant().pk, "s": staff.pk}, salt=UPLOAD_SALT
    )


def store_upload_open(*, token: str, staff: StaffMember) -> tuple[str, str, bytes]:
    """(path, original name, content) of a kept file; ValidationError when the token is not
    this person's, has expired, or the file is gone."""
    from django.core import signing
    from django.core.files.storage import default_storage

    gone = ValidationError(_("This check has expired; upload the file again."))
    try:
        data = signing.loads(token, salt=UPLOAD_SALT, max_age=UPLOAD_MAX_AGE)
    except signing.BadSignature as error:
        raise gone from error
    path = str(data.get("p", ""))
    if (
        data.get("t") != current_tenant().pk
        or data.get("s") != staff.pk
        or not path.startswith(_upload_folder(current_tenant().pk))
        or not default_storage.exists(path)
    ):
        raise gone
    with default_storage.open(path, "rb") as handle:
        return path, str(data.get("n", "")), handle.read()


def store_upload_discard(path: str) -> None:
    from django.core.files.storage import default_storage

    default_storage.delete(path)


def store_uploads_sweep(*, now: datetime.datetime | None = None) -> int:
    """Delete kept files nobody confirmed within a day (hourly through beat)."""
    from django.core.files.storage import default_storage

    now = now or timezone.now()
    folder = _upload_folder(current_tenant().pk)
    try:
        _dirs, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return 0
    removed = 0
    for name in files:
        if now - default_storage.get_modified_time(folder + name) > UPLOAD_MAX_AGE:
            default_storage.delete(folder + name)
            removed += 1
    return removed


@transaction.atomic
def counters_sync_with_stores() -> None:
    """Bring code records in line with stores made outside the counters (old data, demo,
    bulk loads): every current code gets its history row, and every prefix's counter moves
    past the highest sequence in use, so the next approval cannot collide. Idempotent."""
    regions = {r.code: r for r in Region.objects.all()}
    types = {t.code: t for t in StoreType.objects.all()}
    recorded = set(StoreCodeHistory.objects.values_list("code", flat=True))
    highest: dict[tuple[str, str], int] = {}
    for store in Store.objects.exclude(code__in=recorded):
        StoreCodeHistory.objects.create(store=store, code=store.code)
    for code in StoreCodeHistory.objects.values_list("code", flat=True):
        try:
            parsed = store_code_parse(code)
        except ValidationError:
            continue
        key = (parsed.region, parsed.store_type)
        highest[key] = max(highest.get(key, 0), parsed.sequence)
    for (region_code, type_code), sequence in sorted(highest.items()):
        if region_code not in regions or type_code not in types:
            continue
        counter = _locked_counter(region=regions[region_code], store_type=types[type_code])
        if counter.last_sequence < sequence:
            counter.last_sequence = sequence
            counter.save(update_fields=["last_sequence"])


def stores_export_audit(*, actor: StaffMember, file_format: str, count: int) -> None:
    audit_record(
        action="stores.export", actor=actor, after={"format": file_format, "stores": count}
    )
