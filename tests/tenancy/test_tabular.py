"""The one reader of tabular uploads: encodings, line ends, separators, xlsx, dates, headers."""

import datetime
import io

import openpyxl
import pytest
from django.utils import translation

from tenancy.tabular import (
    Column,
    PartialDate,
    TableUnreadable,
    cell_error,
    escape_cell,
    map_headers,
    parse_partial_date,
    read_table,
)

# Spreadsheets hand date cells over as naive datetimes: naive on purpose here.
EXCEL_DATE = datetime.datetime(1992, 2, 29)  # noqa: DTZ001
ROWS = [["手机号", "姓名", "备注"], ["13900000001", "王芳", "老客户"], ["13900000002", "李雷", ""]]


def text_file(rows, *, encoding: str, delimiter: str = ",", newline: str = "\r\n") -> bytes:
    return "".join(delimiter.join(row) + newline for row in rows).encode(encoding)


@pytest.mark.parametrize(
    ("encoding", "delimiter", "newline", "shown"),
    [
        ("utf-8", ",", "\n", "UTF-8"),
        ("utf-8-sig", ";", "\r\n", "UTF-8"),
        ("gbk", ",", "\r\n", "GBK/GB18030"),
        ("gbk", ",", "\r\r\n", "GBK/GB18030"),
        ("gb18030", "\t", "\r", "GBK/GB18030"),
        ("utf-16", "\t", "\r\n", "UTF-16"),  # Excel's "Unicode text"
    ],
)
def test_text_files_are_decoded_and_split(encoding, delimiter, newline, shown):
    content = text_file(ROWS, encoding=encoding, delimiter=delimiter, newline=newline)
    table = read_table(content, "members.csv", max_rows=10)
    assert table.encoding == shown
    assert table.headers == ROWS[0]
    # Excel's row numbers: the header is row 1; blank lines from \r\r\n are not rows.
    assert table.rows == [(2, ROWS[1]), (3, ROWS[2])]


def test_a_short_gbk_header_is_not_taken_for_korean():
    table = read_table("姓名;手机\n李雷;139\n".encode("gbk"), "a.csv", max_rows=10)
    assert table.headers == ["姓名", "手机"] and table.encoding == "GBK/GB18030"


def test_blank_rows_keep_the_row_numbers_excel_shows():
    table = read_table(b"phone,name\n\n1,a\n,\n2,b\n", "a.csv", max_rows=10)
    assert [number for number, _cells in table.rows] == [3, 5]


def test_a_column_with_data_but_no_header_is_kept_to_be_reported():
    table = read_table(b"phone,name,,\n1,a,x,\n", "a.csv", max_rows=10)
    assert table.headers == ["phone", "name", ""]


def test_an_undecodable_file_says_what_is_wrong_and_what_to_do():
    with translation.override("zh-hans"), pytest.raises(TableUnreadable) as caught:
        read_table(bytes(range(128, 256)) * 4, "members.csv", max_rows=10)
    message = caught.value.messages[0]
    assert "编码" in message and "UTF-8" in message and "xlsx" in message


def test_an_old_xls_file_is_named_as_such():
    with translation.override("zh-hans"), pytest.raises(TableUnreadable) as caught:
        read_table(b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "members.xls", max_rows=10)
    assert ".xls" in caught.value.messages[0]


def test_too_many_rows_is_refused_with_the_limit():
    content = b"phone\n" + b"1\n" * 11
    with translation.override("zh-hans"), pytest.raises(TableUnreadable) as caught:
        read_table(content, "a.csv", max_rows=10)
    assert "10" in caught.value.messages[0]


def test_xlsx_keeps_date_cells_and_numbers():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["手机号", "生日", None])
    sheet.append([13900000001, EXCEL_DATE, None])
    sheet.append([None, None])
    sheet.append([13900000002, 32875, None])
    buffer = io.BytesIO()
    book.save(buffer)
    table = read_table(buffer.getvalue(), "m.xlsx", max_rows=10)
    assert table.encoding == "XLSX" and table.headers == ["手机号", "生日"]
    assert table.rows[0] == (2, [13900000001, EXCEL_DATE, None])
    assert table.rows[1][0] == 4


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1990-01-02", PartialDate(1990, 1, 2)),
        ("1990/1/2", PartialDate(1990, 1, 2)),
        ("19900102", PartialDate(1990, 1, 2)),
        ("1990年1月2日", PartialDate(1990, 1, 2)),
        ("1990.01.02", PartialDate(1990, 1, 2)),
        ("1990-01-02 00:00:00", PartialDate(1990, 1, 2)),
        (EXCEL_DATE, PartialDate(1992, 2, 29)),
        (datetime.date(1990, 1, 2), PartialDate(1990, 1, 2)),
        (32875, PartialDate(1990, 1, 2)),  # an Excel serial number
        ("32875", PartialDate(1990, 1, 2)),
        (32875.0, PartialDate(1990, 1, 2)),
        ("2月29日", PartialDate(None, 2, 29)),
        ("02-29", PartialDate(None, 2, 29)),
        ("", None),
        (None, None),
    ],
)
def test_dates_in_the_forms_people_write_them(value, expected):
    assert parse_partial_date(value) == expected


@pytest.mark.parametrize("value", ["1990-02-29", "1990-13-01", "明年", "1990-01", "0", 1.5, "2-30"])
def test_a_non_date_is_refused(value):
    with pytest.raises(ValueError):
        parse_partial_date(value)


def test_headers_map_by_alias_and_unknown_ones_are_listed():
    spec = [
        Column("phone", "手机号", ("手机", "手机号码", "电话", "联系电话")),
        Column("name", "姓名", ("会员姓名",)),
        Column("birthday", "生日", ("出生日期",)),
    ]
    headers = ["联系电话", " 会员姓名 ", "爱好", "生日（YYYY-MM-DD）", "手机", ""]
    mapping = map_headers(headers, spec)
    # 手机 is the more specific alias: it wins over 联系电话 although it comes later.
    assert mapping.index == {"phone": 4, "name": 1, "birthday": 3}
    # The second phone column and an unnamed one are not imported either, and say so.
    assert mapping.ignored == [(0, "联系电话"), (2, "爱好"), (5, "")]


def test_one_error_format():
    assert cell_error(3, "生日", 1990.0, "不是日期") == {
        "row": 3,
        "column": "生日",
        "value": "1990",
        "message": "不是日期",
    }


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_escape_cell(value):
    assert escape_cell(value) == "'" + value


def test_escape_leaves_normal_values():
    assert escape_cell("王芳") == "王芳"
    assert escape_cell(12) == 12
