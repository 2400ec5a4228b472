"""Run by tests/replica/test_read_replica.py in its own process, with settings pointing at
the private primary (DATABASE_URL) and replica (DATABASE_REPLICA_URL). Prints one JSON object
of what it observed; the test asserts on it. Not a test module itself (no test_ prefix)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")
django.setup()

import psycopg2  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

from stores.models import Store  # noqa: E402
from tenancy.context import tenant_context  # noqa: E402
from tenancy.models import Role  # noqa: E402
from tenancy.replica import forget_replica_health, reads_from_replica, replica_usable  # noqa: E402
from tests.factories import StaffMemberFactory, StoreFactory, TenantFactory  # noqa: E402


def _admin(dsn: str):
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    return connection


def _one(connection, sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def main() -> None:
    # Pages render without collectstatic, as in the test suite (tests/conftest.py).
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    primary = _admin(os.environ["PRIMARY_ADMIN_DSN"])
    replica = _admin(os.environ["REPLICA_ADMIN_DSN"])

    def wait_for(condition: str) -> None:
        """Until the replica has received (or replayed) everything the primary wrote."""
        lsn = _one(primary, "SELECT pg_current_wal_lsn()::text")
        deadline = time.monotonic() + 10
        while not _one(replica, f"SELECT {condition}() >= %s::pg_lsn", [lsn]):
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica never reached {lsn}")
            time.sleep(0.05)

    tenant_a = TenantFactory(slug="replica-a")
    tenant_b = TenantFactory(slug="replica-b")
    with tenant_context(tenant_a):
        StoreFactory(code="BJ-ZY-001", name="A1")
        admin_a = StaffMemberFactory(role=Role.HQ_ADMIN)
    with tenant_context(tenant_b):
        StoreFactory(code="BJ-ZY-001", name="B1")
    wait_for("pg_last_wal_replay_lsn")

    seen: dict = {"replica_port": settings.DATABASES["replica"]["PORT"]}
    with tenant_context(tenant_a):
        seen["unmarked_alias"] = Store.objects.all().db
        with reads_from_replica():
            alias = Store.objects.all().db
            seen["marked_alias"] = alias
            seen["marked_names"] = sorted(Store.objects.values_list("name", flat=True))
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT inet_server_port(), pg_is_in_recovery()")
                seen["marked_server"] = list(cursor.fetchone())
                # Raw SQL skips the tenant manager: only row-level security filters here.
                cursor.execute("SELECT DISTINCT tenant_id FROM stores_store")
                seen["raw_tenants"] = [row[0] for row in cursor.fetchall()]
    seen["tenant_ids"] = {"a": tenant_a.pk, "b": tenant_b.pk}

    client = Client(raise_request_exception=False)
    client.force_login(admin_a.user)
    dashboard = reverse("analytics:dashboard")

    def page(capture_replica: bool = True) -> dict:
        with CaptureQueriesContext(connections["default"]) as on_primary:
            if capture_replica:
                with CaptureQueriesContext(connections["replica"]) as on_replica:
                    response = client.get(dashboard)
                # The app's reads, not the router's own lag check.
                replica_queries = sum(
                    "pg_last_wal_replay_lsn" not in query["sql"] for query in on_replica
                )
            else:
                response = client.get(dashboard)
                replica_queries = None
        return {
            "status": response.status_code,
            "replica": replica_queries,
            "primary": len(on_primary),
        }

    seen["dashboard"] = page()

    # A write in this session, then the dashboard: pinned to the primary until the pin ends.
    response = client.post(reverse("customers:tags"), {"name": "replica-tag"})
    seen["write_status"] = response.status_code
    seen["after_write"] = page()
    time.sleep(settings.REPLICA_PIN_SECONDS + 0.3)
    wait_for("pg_last_wal_replay_lsn")
    seen["after_pin"] = page()

    # Replay paused while the primary writes: the lag grows past the limit.
    _one(replica, "SELECT pg_wal_replay_pause()")
    with tenant_context(tenant_a):
        StoreFactory(code="BJ-ZY-002", name="A2")
    wait_for("pg_last_wal_receive_lsn")
    time.sleep(settings.REPLICA_MAX_LAG_SECONDS + 0.3)
    forget_replica_health()
    seen["lagging"] = page()
    seen["lagging_usable"] = replica_usable(force=True)
    _one(replica, "SELECT pg_wal_replay_resume()")
    wait_for("pg_last_wal_replay_lsn")
    seen["caught_up_usable"] = replica_usable(force=True)

    # The replica goes down while this process still believes it usable (checked recently).
    os.kill(int(os.environ["REPLICA_PID"]), signal.SIGINT)
    replica.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", int(seen["replica_port"])), 0.2).close()
            time.sleep(0.05)
        except OSError:
            break
    warnings: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: warnings.append(record.getMessage())
    logging.getLogger("tenancy.replica").addHandler(handler)
    seen["down"] = [page(capture_replica=False) for _ in range(2)]
    # Logged by the re-measurement the failed replica read set off inside the first page.
    seen["down_warnings"] = warnings
    seen["down_usable"] = replica_usable()
    print(json.dumps(seen))  # noqa: T201


if __name__ == "__main__":
    main()
