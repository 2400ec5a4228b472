"""A whole-database backup: `pg_dump` as crm_backup (scripts/pg-setup; BYPASSRLS, read
rights only) restores into an empty database with every row, and row-level security still
holds there. The owner cannot make that dump: forced RLS refuses it.

Uses the package's private primary after the replica scenario filled it (conftest.py).
"""

from __future__ import annotations

import subprocess

import psycopg2
import pytest

from tests.replica.cluster import DATABASE, binary

pytestmark = [pytest.mark.postgres]

RESTORED = "crm_restored"


def _dump(server, role: str, target) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - fixed arguments, Debian's binary
        [
            binary("pg_dump"),
            "-h", "127.0.0.1", "-p", str(server.port), "-U", role,
            "--format=custom", "-f", str(target), DATABASE,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip


def _row_counts(server, database: str) -> dict[str, int]:
    """Every table's rows, read as the superuser (who is not subject to RLS)."""
    with psycopg2.connect(server.dsn(database=database)) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            tables = sorted(row[0] for row in cursor.fetchall())
            counts = {}
            for table in tables:
                cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - catalogue names
                counts[table] = cursor.fetchone()[0]
    connection.close()
    return counts


def test_the_owner_cannot_dump_tenant_rows(servers, seen, tmp_path):
    done = _dump(servers.primary, "crm_owner", tmp_path / "owner.dump")
    assert done.returncode != 0
    assert "row-level security" in done.stderr


def test_a_backup_role_dump_restores_every_row_with_rls_intact(servers, seen, tmp_path):
    target = tmp_path / "crm.dump"
    done = _dump(servers.primary, "crm_backup", target)
    assert done.returncode == 0, done.stderr

    admin = psycopg2.connect(servers.primary.dsn())
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {RESTORED}")
        cursor.execute(f"CREATE DATABASE {RESTORED} OWNER crm_owner")
    admin.close()
    restored = subprocess.run(  # noqa: S603 - fixed arguments, Debian's binary
        [
            binary("pg_restore"),
            "-h", "127.0.0.1", "-p", str(servers.primary.port), "-U", "postgres",
            "--exit-on-error", "-d", RESTORED, str(target),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr

    original = _row_counts(servers.primary, DATABASE)
    assert original["stores_store"] >= 3
    assert _row_counts(servers.primary, RESTORED) == original

    # The runtime role on the restored copy: policies came back with the tables.
    tenant_a = seen["tenant_ids"]["a"]
    app = psycopg2.connect(servers.primary.dsn(user="crm_app", database=RESTORED))
    with app.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM stores_store")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT set_config('app.tenant_id', %s, false)", [str(tenant_a)])
        cursor.execute("SELECT DISTINCT tenant_id FROM stores_store")
        assert [row[0] for row in cursor.fetchall()] == [tenant_a]
    app.close()
