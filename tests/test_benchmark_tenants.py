"""The 1,000-tenants benchmark (benchmarks/tenants_bench.py) at tiny scale: the small tenants
it adds are whole chains the nightly jobs really work on, and removing them leaves no row."""

from __future__ import annotations

import pytest
from django.db import connection

from benchmarks import tenants_bench
from benchmarks.campaigns_bench import celery_eager
from benchmarks.copy import loader_connection
from benchmarks.generate import dependent_models
from tenancy.tasks import fan_out

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def loader():
    """The benchmark's loader (a superuser) on the test database."""
    return loader_connection(f"postgres://127.0.0.1/{connection.settings_dict['NAME']}")


def tenant_rows(cursor, ids: list[int]) -> dict[str, int]:
    found = {}
    for model in dependent_models():
        table = model._meta.db_table
        cursor.execute(f'SELECT count(*) FROM "{table}" WHERE tenant_id = ANY(%s)', [ids])  # noqa: S608
        if count := cursor.fetchone()[0]:
            found[table] = count
    return found


def test_small_tenants_are_whole_chains_that_the_nightly_jobs_work_on_and_leave_no_row():
    with loader() as conn, conn.cursor() as cursor:
        ids = tenants_bench.small_tenants_create(cursor, 3)
        rows = tenant_rows(cursor, ids)
        cursor.execute(
            "SELECT count(*) FROM loyalty_pointslot WHERE tenant_id = ANY(%s) "
            "AND pending_until < now()",
            [ids],
        )
        pending_due = cursor.fetchone()[0]
    conn.close()
    assert len(ids) == 3
    assert rows["stores_store"] == 3 * tenants_bench.STORES_EACH
    assert rows["customers_customer"] == 3 * tenants_bench.MEMBERS_EACH
    assert rows["loyalty_pointsaccount"] == 3 * tenants_bench.MEMBERS_EACH
    assert rows["analytics_sale"] == 3 * tenants_bench.SALES_EACH
    assert rows["campaigns_campaignsettings"] == 3
    assert pending_due > 0

    tenants_bench.jobs_register()
    with celery_eager():
        results = {name: fan_out.apply(args=[name]).get() for name, *_rest in tenants_bench.JOBS}
    assert set(results.values()) == {3}  # each job queued once per tenant
    with loader() as conn, conn.cursor() as cursor:
        after = tenant_rows(cursor, ids)
        cursor.execute(
            "SELECT count(*) FROM loyalty_pointslot WHERE tenant_id = ANY(%s) "
            "AND pending_until < now()",
            [ids],
        )
        assert cursor.fetchone()[0] == 0  # released
        assert after["stores_storereview"] == 3  # one store of each due for its re-review
        assert after["analytics_storedailystats"] > 0  # yesterday's aggregates built
        assert tenants_bench.small_tenants_delete(cursor) == 3
        assert tenant_rows(cursor, ids) == {}
        cursor.execute("SELECT count(*) FROM tenancy_tenant WHERE id = ANY(%s)", [ids])
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM auth_user WHERE username LIKE 'bench-t%%'")
        assert cursor.fetchone()[0] == 0
    conn.close()
