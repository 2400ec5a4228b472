"""Tabular files as people really have them: one reader, one header mapping, one error format.

Every import (members, stores, sales) reads its upload here, and every export escapes its
cells here. It lives in tenancy, the lowest app, so that each app above can use it.

- Text files are decoded automatically: UTF-8 with or without a byte-order mark, UTF-16
  (Excel's "Unicode text", tab-separated) and GBK/GB18030 (a CSV saved by Excel on Chinese
  Windows). Lines may end in \\r\\n, \\r\\r\\n, \\n or \\r; the separator (comma, semicolon or
  tab) is taken from the header line.
- .xlsx is read with openpyxl; date cells arrive as dates.
- Row numbers are the ones Excel shows: the header is row 1, the first data row is row 2.
- An error is always {"row", "column", "value", "message"} (see `cell_error`).
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenancy.messages import from_text
from tenancy.messages import render as render_message

TEXT_EXTENSIONS = ("csv", "txt", "tsv")
EXTENSIONS = (*TEXT_EXTENSIONS, "xlsx")

# A spreadsheet runs a cell starting with one of these as a formula (CSV/formula injection);
# a leading apostrophe makes it plain text. The one copy of this rule for every export.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Byte-order marks, longest first (the UTF-32 LE mark starts with the UTF-16 LE one).
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig", "UTF-8"),
    (b"\xff\xfe", "utf-16", "UTF-16"),
    (b"\xfe\xff", "utf-16", "UTF-16"),
)
# Legacy encodings tried when the file is not UTF-8, most likely first for a Chinese chain.
# GB18030 is the superset of GBK and GB2312, so a GBK file is decoded with it.
_LEGACY = ("gb18030", "big5")
_LEGACY_NAMES = {"gb18030": "GBK/GB18030", "big5": "Big5"}
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0"  # the old binary .xls (and .doc) container
_ZIP_SIGNATURE = b"PK\x03\x04"


def escape_cell(value: Any) -> Any:
    """A cell for an export: text a spreadsheet would run as a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def escape_row(row: Iterable[Any]) -> list[Any]:
    return [escape_cell(value) for value in row]


def cell_error(row: int | None, column: str, value: Any, message: Any) -> dict[str, Any]:
    """The one error format of every import: row as Excel numbers it (None: the whole file).

    The message is stored as a message (tenancy.messages.from_text: a gettext_lazy text or a
    ValidationError keeps its msgid and parameters) and read with `error_rows` in the
    reader's language; plain text is stored as it is.
    """
    return {
        "row": row,
        "column": str(column),
        "value": cell_text(value),
        "message": from_text(message),
    }


def error_rows(errors: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored errors with each message rendered in the active language, for pages and CSVs."""
    return [{**error, "message": render_message(error.get("message"))} for error in errors]


def cell_text(value: Any) -> str:
    """A cell as text: spreadsheets hand phones and years over as numbers, dates as datetimes."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value).strip()


class TableUnreadable(ValidationError):
    """The file as a whole cannot be read; the message says why and what to do."""


@dataclass
class Table:
    """A file's header and data rows. `rows` are (row number as in Excel, cells)."""

    headers: list[str]
    rows: list[tuple[int, list[Any]]]
    encoding: str  # as shown to the user: "UTF-8", "GBK/GB18030", "UTF-16", "XLSX"
    delimiter: str = ""


def read_table(content: bytes, filename: str, *, max_rows: int) -> Table:
    """Read an uploaded CSV/TXT/XLSX file; raises TableUnreadable with a message for the user.

    Empty rows are skipped but still counted, so row numbers stay those Excel shows.
    """
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if content.startswith(_OLE_SIGNATURE):
        raise TableUnreadable(
            _(
                "This is an old Excel .xls file, which cannot be read. In Excel choose "
                "Save As and pick Excel Workbook (.xlsx) or CSV UTF-8, then upload again."
            )
        )
    if extension == "xlsx" or content.startswith(_ZIP_SIGNATURE):
        return _read_xlsx(content, max_rows=max_rows)
    if extension not in TEXT_EXTENSIONS:
        raise TableUnreadable(_("Upload a CSV or XLSX file."))
    text, encoding = decode_text(content)
    return _read_text(text, encoding, max_rows=max_rows)


def decode_text(content: bytes) -> tuple[str, str]:
    """The file's text and the name of its encoding, or TableUnreadable."""
    for mark, codec, name in _BOMS:
        if content.startswith(mark):
            try:
                return content.decode(codec), name
            except UnicodeDecodeError:
                raise _undecodable(name) from None
    try:
        # Strict UTF-8 first: it almost never decodes text written in another encoding.
        return content.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    # The detector ranks short Chinese texts poorly (a GBK header of six characters can come
    # out as Korean), so it only chooses among the encodings Chinese spreadsheets use, and
    # GB18030 wins whenever it reads the file cleanly.
    matches = {match.encoding: match for match in from_bytes(content, cp_isolation=_LEGACY)}
    for codec in _LEGACY:
        if codec in matches:
            try:
                return content.decode(codec), _LEGACY_NAMES[codec]
            except UnicodeDecodeError:
                continue
    raise _undecodable("")


def _undecodable(encoding: str) -> TableUnreadable:
    what = (
        _("The file claims to be %(encoding)s but is not.") % {"encoding": encoding}
        if encoding
        else _("The file's text encoding is not UTF-8, UTF-16 or GBK/GB18030.")
    )
    return TableUnreadable(
        _(
            "%(what)s It cannot be read as text. In Excel choose Save As and pick "
            "CSV UTF-8 (comma delimited) or Excel Workbook (.xlsx), then upload again."
        )
        % {"what": what}
    )


def _too_many_rows(max_rows: int) -> TableUnreadable:
    return TableUnreadable(
        _("The file has more than %(n)s rows. Split it into several files.") % {"n": max_rows}
    )


def _read_text(text: str, encoding: str, *, max_rows: int) -> Table:
    if "\x00" in text:
        raise _undecodable("")
    # Excel on Windows sometimes writes \r\r\n; old Mac files end lines in \r alone.
    text = text.replace("\r\r\n", "\n").replace("\r\n", "\n").replace("\r", "\n")
    header_line = text.split("\n", 1)[0]
    counts = {sep: header_line.count(sep) for sep in ("\t", ";", ",")}
    delimiter = max(counts, key=counts.get) if any(counts.values()) else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    headers: list[str] | None = None
    rows: list[tuple[int, list[Any]]] = []
    number = 1
    try:
        for number, raw in enumerate(reader, start=1):
            cells = [cell.strip() for cell in raw]
            if headers is None:
                headers = cells
                continue
            if not any(cells):
                continue
            if len(rows) >= max_rows:
                raise _too_many_rows(max_rows)
            rows.append((number, cells))
    except csv.Error as exc:
        raise TableUnreadable(
            _("Row %(row)s cannot be read: %(reason)s") % {"row": number, "reason": exc}
        ) from exc
    return Table(
        headers=_trim_headers(headers, rows), rows=rows, encoding=encoding, delimiter=delimiter
    )


def _read_xlsx(content: bytes, *, max_rows: int) -> Table:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable workbook is the same answer
        raise TableUnreadable(
            _(
                "This is not a readable XLSX file. Open it in Excel, choose Save As and pick "
                "Excel Workbook (.xlsx) or CSV UTF-8, then upload again."
            )
        ) from exc
    try:
        sheet = book.worksheets[0]
        headers: list[str] | None = None
        rows: list[tuple[int, list[Any]]] = []
        for number, raw in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [value.strip() if isinstance(value, str) else value for value in raw]
            if headers is None:
                headers = [cell_text(value) for value in cells]
                continue
            if all(value is None or value == "" for value in cells):
                continue
            if len(rows) >= max_rows:
                raise _too_many_rows(max_rows)
            rows.append((number, cells))
    finally:
        book.close()
    return Table(headers=_trim_headers(headers, rows), rows=rows, encoding="XLSX")


def _trim_headers(headers: list[str] | None, rows: list[tuple[int, list[Any]]]) -> list[str]:
    """Spreadsheets carry empty trailing columns: drop those, but keep a column with data
    and no header, so that it is reported as not imported rather than lost."""
    if not headers:
        raise TableUnreadable(_("The file is empty."))
    used = 0
    for _number, cells in rows:
        for position in range(len(cells) - 1, used - 1, -1):
            if cells[position] not in (None, ""):
                used = position + 1
                break
    headers = list(headers)
    while len(headers) > used and not headers[-1]:
        headers.pop()
    return headers + [""] * (used - len(headers))


# Header mapping ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One field an import understands: its canonical header and the usual aliases."""

    key: str
    label: str  # the canonical header, as the template file writes it
    aliases: tuple[str, ...] = ()
    note: Any = ""  # shown in the template file (lazy translation)
    example: str = ""


@dataclass
class HeaderMapping:
    index: dict[str, int] = field(default_factory=dict)  # column key -> position in the row
    # (position, header) of every column that will not be imported
    ignored: list[tuple[int, str]] = field(default_factory=list)

    def columns(self, headers: list[str], spec: Iterable[Column]) -> list[dict[str, Any]]:
        """Each header of the file and what it becomes, for the preview."""
        label_by_position = {self.index[c.key]: c.label for c in spec if c.key in self.index}
        return [
            {"header": header, "field": label_by_position.get(position, "")}
            for position, header in enumerate(headers)
        ]


def normalise_header(text: Any) -> str:
    # "手机号*" and "生日（yyyy-mm-dd）" are how template files mark columns; " Phone " too.
    value = cell_text(text).lower().replace("\u3000", "").replace(" ", "")
    value = re.sub(r"[（(][^）)]*[）)]$", "", value)
    return value.strip("*")


def map_headers(headers: list[str], spec: Iterable[Column]) -> HeaderMapping:
    """Which position holds which column. Nothing is dropped silently: a header no column
    claims, or a second column for a field already taken, is listed in `ignored`.

    When two headers name one field (手机 and 联系电话), the one matching the earlier alias
    wins, whatever their order in the file: aliases are listed most specific first.
    """
    by_alias: dict[str, tuple[str, int]] = {}
    for column in spec:
        for rank, alias in enumerate((column.key, column.label, *column.aliases)):
            by_alias.setdefault(normalise_header(alias), (column.key, rank))
    best: dict[str, tuple[int, int]] = {}  # key -> (rank, position)
    for position, header in enumerate(headers):
        found = by_alias.get(normalise_header(header))
        if found and (found[0] not in best or found[1] < best[found[0]][0]):
            best[found[0]] = (found[1], position)
    mapping = HeaderMapping(index={key: position for key, (_rank, position) in best.items()})
    taken = set(mapping.index.values())
    mapping.ignored = [
        (position, cell_text(header))
        for position, header in enumerate(headers)
        if position not in taken
    ]
    return mapping


def value_at(cells: list[Any], mapping: HeaderMapping, key: str) -> Any:
    position = mapping.index.get(key)
    if position is None or position >= len(cells):
        return None
    return cells[position]


# Dates ------------------------------------------------------------------------------------

_YMD = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?)?$"
)
_MD = re.compile(r"^(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
# Excel serial day numbers: 1 is 1900-01-01; 2958465 is 9999-12-31.
_EXCEL_SERIALS = range(1, 2958466)


@dataclass(frozen=True)
class PartialDate:
    """A date whose year may be unknown (a birthday written as 2月29日)."""

    year: int | None
    month: int
    day: int


def parse_partial_date(value: Any) -> PartialDate | None:
    """A date from a cell: 1990-01-02, 1990/1/2, 19900102, 1990年1月2日, an Excel date cell
    or serial number; also month and day alone (01-02, 1月2日). None for an empty cell;
    ValueError when it is not a date (30 February, 1990-02-29 included)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return PartialDate(value.year, value.month, value.day)
    text = cell_text(value)
    if isinstance(value, int | float) and not isinstance(value, bool) or text.isdigit():
        if len(text) == 8 and text.isdigit():  # 19900102
            return _checked(int(text[:4]), int(text[4:6]), int(text[6:]))
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(text)
        if text.isdigit() and int(text) in _EXCEL_SERIALS:
            from openpyxl.utils.datetime import from_excel

            return parse_partial_date(from_excel(int(text)))
        raise ValueError(text)
    if match := _YMD.match(text):
        return _checked(*(int(part) for part in match.groups()))
    if match := _MD.match(text):
        # 2000 is a leap year, so 2月29日 is a valid birthday without a year.
        checked = _checked(2000, int(match.group(1)), int(match.group(2)))
        return PartialDate(None, checked.month, checked.day)
    raise ValueError(text)


def _checked(year: int, month: int, day: int) -> PartialDate:
    datetime.date(year, month, day)  # ValueError for 30 February or 1990-02-29
    return PartialDate(year, month, day)


DATE_FORMATS_HINT = gettext_lazy("Write dates as 1990-01-02, 1990/1/2, 19900102 or 1990年1月2日.")


# Writing ----------------------------------------------------------------------------------


def table_bytes(
    headers: list[str],
    rows: Iterable[Iterable[Any]],
    *,
    file_format: str,
    notes: list[tuple[str, str]] | None = None,
) -> tuple[bytes, str]:
    """A small table as CSV (UTF-8 with BOM, so that Excel opens Chinese text) or XLSX, with
    every cell escaped; `notes` become a second sheet of an XLSX. Returns (bytes, type)."""
    rows = [escape_row(row) for row in rows]
    if file_format == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(_("Data"))
        sheet.append(escape_row(headers))
        for row in rows:
            sheet.append(row)
        if notes:
            explained = book.create_sheet(_("Notes"))
            explained.append([_("Column"), _("What to write")])
            for column, note in notes:
                explained.append(escape_row([column, str(note)]))
        buffer = io.BytesIO()
        book.save(buffer)
        return (
            buffer.getvalue(),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(escape_row(headers))
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig"), "text/csv; charset=utf-8"
