"""The tenant travels with every statement, so Store CRM is correct behind PgBouncer in
transaction mode: a private pgbouncer with ONE server connection serves two tenants' work,
interleaved and from threads, and each sees only its rows and writes only as itself.

The control test shows why it matters: a session setting made by one client is read by the
next client of the same pool (what `set_config(..., false)` per request used to do).
"""

from __future__ import annotations

import copy

import pytest
from django.db import DatabaseError, connection
from django.db.backends.postgresql.base import DatabaseWrapper

from tenancy.context import tenant_context
from tests.concurrency.threads import run_threads
from tests.factories import TenantFactory
from tests.pooling.pgbouncer import PrivatePgBouncer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8
ROUNDS = 25


@pytest.fixture
def tenants():
    """Two tenants, each with one region of its own (committed: other connections read them)."""
    pair = []
    for slug in ("pool-a", "pool-b"):
        tenant = TenantFactory(slug=slug)
        with tenant_context(tenant), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO stores_region (tenant_id, code, name, is_active) "
                "VALUES (%s, 'ZZ', %s, true)",
                [tenant.pk, slug],
            )
        pair.append(tenant)
    return pair


@pytest.fixture
def pgbouncer():
    settings = connection.settings_dict
    bouncer = PrivatePgBouncer(database=settings["NAME"], user=settings["USER"], pool_size=1)
    bouncer.start()
    try:
        yield bouncer
    finally:
        bouncer.stop()


def _client(port: int) -> DatabaseWrapper:
    """A connection of the app's own kind (its wrappers installed on connect) to `port`."""
    settings = copy.deepcopy(connection.settings_dict)
    settings.update(
        PORT=str(port), CONN_MAX_AGE=0, CONN_HEALTH_CHECKS=False, DISABLE_SERVER_SIDE_CURSORS=True
    )
    return DatabaseWrapper(settings, alias="pooled")


def _tenants_seen(client: DatabaseWrapper) -> set[int]:
    with client.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tenant_id FROM stores_region")
        return {row[0] for row in cursor.fetchall()}


def _write(client: DatabaseWrapper, tenant, code: str) -> None:
    """Raw SQL insert as `tenant`: row-level security refuses it if the server thinks
    another tenant is selected."""
    with client.cursor() as cursor:
        cursor.execute(
            "INSERT INTO stores_region (tenant_id, code, name, is_active) "
            "VALUES (%s, %s, %s, true)",
            [tenant.pk, code, code],
        )


def test_control_a_session_setting_leaks_to_the_next_client_of_the_pool(tenants, pgbouncer):
    tenant_a, tenant_b = tenants
    first, second = _client(pgbouncer.port), _client(pgbouncer.port)
    try:
        first.ensure_connection()
        second.ensure_connection()
        # The raw driver connections, without the app's per-statement settings.
        raw_first, raw_second = first.connection, second.connection
        raw_first.autocommit = raw_second.autocommit = True
        with raw_first.cursor() as cursor:
            cursor.execute("SELECT set_config('app.tenant_id', %s, false)", [str(tenant_a.pk)])
        with raw_second.cursor() as cursor:
            cursor.execute("SELECT set_config('app.tenant_id', %s, false)", [str(tenant_b.pk)])
        with raw_first.cursor() as cursor:
            cursor.execute("SELECT DISTINCT tenant_id FROM stores_region")
            seen_by_first = {row[0] for row in cursor.fetchall()}
        assert seen_by_first == {tenant_b.pk}  # the first client reads the other tenant's rows
        with raw_first.cursor() as cursor:
            cursor.execute("SELECT set_config('app.tenant_id', '', false)")
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("through", ["pgbouncer", "direct"])
def test_interleaved_tenants_each_see_and_write_only_their_own(tenants, pgbouncer, through):
    tenant_a, tenant_b = tenants
    port = pgbouncer.port if through == "pgbouncer" else int(connection.settings_dict["PORT"])
    first, second = _client(port), _client(port)
    try:
        for round_number in range(5):
            with tenant_context(tenant_a):
                assert _tenants_seen(first) == {tenant_a.pk}
            with tenant_context(tenant_b):
                assert _tenants_seen(second) == {tenant_b.pk}
                _write(second, tenant_b, f"B{round_number}")
            with tenant_context(tenant_a):
                _write(first, tenant_a, f"A{round_number}")
                assert _tenants_seen(first) == {tenant_a.pk}
            # Outside any tenant nothing is visible, whatever the pool's connection did last.
            assert _tenants_seen(first) == set()
    finally:
        first.close()
        second.close()
    with tenant_context(tenant_a), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM stores_region")
        assert cursor.fetchone()[0] == 6


def test_threads_of_two_tenants_through_one_pooled_connection(tenants, pgbouncer):
    def work(index: int) -> list[str]:
        tenant = tenants[index % 2]
        client = _client(pgbouncer.port)
        problems = []
        try:
            for round_number in range(ROUNDS):
                with tenant_context(tenant):
                    seen = _tenants_seen(client)
                    if seen != {tenant.pk}:
                        problems.append(f"thread {index} round {round_number} saw {seen}")
                    try:
                        _write(client, tenant, f"{index}{round_number:02d}")
                    except DatabaseError as error:
                        problems.append(f"thread {index} write refused: {error}")
        finally:
            client.close()
        return problems

    results = run_threads(THREADS, work)

    assert [problem for result in results for problem in result] == []
    for tenant in tenants:
        with tenant_context(tenant), connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM stores_region")
            assert cursor.fetchone()[0] == 1 + THREADS // 2 * ROUNDS
