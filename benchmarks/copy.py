"""Bulk loading with PostgreSQL COPY, for the benchmark data generator.

COPY FROM is refused on tables whose row-level security applies to the caller, so loading
runs as a role that bypasses RLS (the local superuser by default), like a restore would.
The application itself never connects that way (see tenancy/rls.py).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from urllib.parse import urlparse

import psycopg2

CHUNK_ROWS = 50_000


def loader_connection(database_url: str):
    """A superuser connection to the benchmark database (PGSUPERUSER, default postgres)."""
    url = urlparse(database_url)
    return psycopg2.connect(
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        dbname=url.path.lstrip("/"),
        user=os.environ.get("PGSUPERUSER", "postgres"),
    )


def _text(value) -> str:
    if value is None:
        return r"\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    return str(value)


def copy_rows(cursor, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Stream rows into `table` in chunks; values must not contain tabs or newlines."""
    sql = f'COPY "{table}" ({", ".join(columns)}) FROM STDIN'
    buffer = io.StringIO()
    count = 0
    for row in rows:
        buffer.write("\t".join(_text(value) for value in row))
        buffer.write("\n")
        count += 1
        if count % CHUNK_ROWS == 0:
            buffer.seek(0)
            cursor.copy_expert(sql, buffer)
            buffer = io.StringIO()
    if buffer.tell():
        buffer.seek(0)
        cursor.copy_expert(sql, buffer)
    return count


def reset_sequence(cursor, table: str) -> None:
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
        f'COALESCE((SELECT max(id) FROM "{table}"), 1))'
    )
