"""Every unique constraint of a tenant table includes tenant_id.

Two reasons: a uniqueness that spans tenants tells one tenant that a value exists in another
(a card number "already taken"), and Citus, which distributes tables by tenant_id, can only
enforce a unique constraint that includes the distribution column (docs/scaling.md).
"""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

# table.index -> why it is global on purpose
GLOBAL_ON_PURPOSE = {
    # A sign-in belongs to one company: auth_user is global, so the link to it is too.
    "tenancy_staffmember.tenancy_staffmember_user_id_key",
}

UNIQUES_WITHOUT_TENANT = """
    SELECT table_class.relname || '.' || index_class.relname
    FROM pg_index ix
    JOIN pg_class table_class ON table_class.oid = ix.indrelid
    JOIN pg_class index_class ON index_class.oid = ix.indexrelid
    JOIN pg_namespace ns ON ns.oid = table_class.relnamespace
    WHERE ns.nspname = current_schema() AND ix.indisunique AND NOT ix.indisprimary
      AND EXISTS (SELECT 1 FROM pg_attribute a
                  WHERE a.attrelid = table_class.oid AND a.attname = 'tenant_id')
      AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                      WHERE a.attrelid = table_class.oid AND a.attname = 'tenant_id'
                        AND a.attnum = ANY(ix.indkey))
    ORDER BY 1
"""


def test_every_unique_constraint_of_a_tenant_table_includes_tenant_id():
    with connection.cursor() as cursor:
        cursor.execute(UNIQUES_WITHOUT_TENANT)
        found = {row[0] for row in cursor.fetchall()}
    assert found - GLOBAL_ON_PURPOSE == set()
    assert GLOBAL_ON_PURPOSE <= found  # an allowance that no longer applies is removed


def test_the_check_finds_a_unique_without_tenant_id():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE probe_tenant_table (id int, tenant_id int, code text)")
        cursor.execute("CREATE UNIQUE INDEX probe_code_key ON probe_tenant_table (code)")
        cursor.execute(UNIQUES_WITHOUT_TENANT)
        found = {row[0] for row in cursor.fetchall()}
    assert "probe_tenant_table.probe_code_key" in found


# A foreign key between two tenant tables whose column has no composite (tenant_id, x_id) twin.
FOREIGN_KEYS_WITHOUT_TENANT = """
    WITH tenant_tables AS (
        SELECT attrelid AS oid FROM pg_attribute WHERE attname = 'tenant_id'
    ),
    single AS (
        SELECT * FROM pg_constraint
        WHERE contype = 'f' AND array_length(conkey, 1) = 1
          AND conrelid IN (SELECT oid FROM tenant_tables)
          AND confrelid IN (SELECT oid FROM tenant_tables)
          AND connamespace = current_schema()::regnamespace
    )
    SELECT single.conrelid::regclass::text || '.' || single.conname FROM single
    WHERE NOT EXISTS (
        SELECT 1 FROM pg_constraint twin
        WHERE twin.contype = 'f' AND twin.conrelid = single.conrelid
          AND twin.confrelid = single.confrelid AND array_length(twin.conkey, 1) = 2
          AND single.conkey[1] = ANY(twin.conkey)
    )
    ORDER BY 1
"""


def test_every_foreign_key_between_tenant_tables_has_a_tenant_id_twin():
    """tenancy.rls.ensure_tenant_foreign_keys adds (tenant_id, x_id) -> (tenant_id, id) beside
    each plain key: the database refuses a row pointing at another tenant's, and the composite
    key is the one Citus keeps when the plain one is dropped."""
    with connection.cursor() as cursor:
        cursor.execute(FOREIGN_KEYS_WITHOUT_TENANT)
        assert [row[0] for row in cursor.fetchall()] == []
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND array_length(conkey, 1) = 2"
            " AND connamespace = current_schema()::regnamespace"
        )
        assert cursor.fetchone()[0] > 50  # the twins exist (the check is not vacuous)
