"""Re-encrypting stored personal data in batches: the migration that first encrypts the
plaintext columns, and `manage.py rotate_field_keys` that moves every value to the newest key.

Both run while the site serves. Each batch is its own short transaction and writes a row
only if its stored values are still the ones read (a member edited meanwhile keeps the edit:
the edit was sealed with the newest key already). So a run can be stopped and started again:
what is done stays done and is skipped, because its values already carry the current key id.
Work is done per tenant, with the tenant selected for row-level security.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.apps import apps as global_apps
from django.db import connection as default_connection
from django.db import transaction

from tenancy.context import set_database_tenant
from tenancy.encryption import DecryptionError, Keyring, decrypt, encrypt, key_id_of, keyring

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 1000


@dataclass
class ResealResult:
    rows_rewritten: int = 0
    values_unreadable: int = 0


@dataclass(frozen=True)
class SealedTable:
    table: str
    columns: tuple[str, ...]
    # Extra columns computed from the plaintext (the blind indexes), written in the same
    # UPDATE when plaintext is sealed for the first time.
    derive: Callable[[dict[str, str | None]], dict[str, object]] | None = field(default=None)


def sealed_tables(app_registry=global_apps) -> list[SealedTable]:
    """Every table with encrypted fields, found from the models (tenancy.fields)."""
    from tenancy.fields import EncryptedFieldMixin

    tables = []
    for model in app_registry.get_models():
        columns = tuple(
            f.column for f in model._meta.concrete_fields if isinstance(f, EncryptedFieldMixin)
        )
        if columns and not model._meta.proxy:
            tables.append(SealedTable(model._meta.db_table, columns))
    return tables


def _batches(cursor, table: str, columns: tuple[str, ...], tenant_id: int, size: int) -> Iterator:
    last = 0
    select = ", ".join(columns)
    while True:
        cursor.execute(
            f"SELECT id, {select} FROM {table} WHERE tenant_id = %s AND id > %s "  # noqa: S608 - names from the models, values are parameters
            "ORDER BY id LIMIT %s",
            [tenant_id, last, size],
        )
        rows = cursor.fetchall()
        if not rows:
            return
        last = rows[-1][0]
        yield rows


def reseal_table(
    target: SealedTable,
    *,
    tenant_id: int,
    seal_plaintext: bool = False,
    batch_size: int = DEFAULT_BATCH,
    ring: Keyring | None = None,
    connection=default_connection,
) -> ResealResult:
    """Re-encrypt one tenant's values of `target` that are not under the current key.

    seal_plaintext: values that are not encrypted at all are sealed too (the first
    encryption); otherwise they are left alone and only counted as unreadable.
    """
    ring = ring or keyring()
    result = ResealResult()
    is_postgres = connection.vendor == "postgresql"
    same = "IS NOT DISTINCT FROM" if is_postgres else "IS"
    set_database_tenant(tenant_id)
    try:
        with connection.cursor() as cursor:
            for rows in _batches(cursor, target.table, target.columns, tenant_id, batch_size):
                updates = []
                for pk, *stored in rows:
                    new_values, plain, changed = [], {}, False
                    for column, value in zip(target.columns, stored, strict=True):
                        context = f"{target.table}.{column}"
                        if value is None or value == "":
                            new_values.append(value)
                            plain[column] = value
                            continue
                        kid = key_id_of(value)
                        if kid == ring.current_id:
                            new_values.append(value)
                            continue
                        if kid is None:
                            if not seal_plaintext:
                                result.values_unreadable += 1
                                new_values.append(value)
                                continue
                            text = value
                        else:
                            try:
                                text = decrypt(value, context=context, ring=ring)
                            except DecryptionError as exc:
                                logger.error("Cannot re-encrypt %s row %s: %s", context, pk, exc)
                                result.values_unreadable += 1
                                new_values.append(value)
                                continue
                        plain[column] = text
                        new_values.append(encrypt(text, context=context, ring=ring))
                        changed = True
                    if not changed:
                        continue
                    derived = target.derive(plain) if (target.derive and seal_plaintext) else {}
                    updates.append((pk, stored, new_values, derived))
                _write(cursor, target, updates, same)
                result.rows_rewritten += len(updates)
    finally:
        set_database_tenant(None)
    return result


def _write(cursor, target: SealedTable, updates: list, same: str) -> None:
    if not updates:
        return
    with transaction.atomic():
        for pk, old, new, derived in updates:
            assignments = [f"{column} = %s" for column in target.columns]
            assignments += [f"{column} = %s" for column in derived]
            unchanged = " AND ".join(f"{column} {same} %s" for column in target.columns)
            cursor.execute(
                f"UPDATE {target.table} SET {', '.join(assignments)} "  # noqa: S608 - names from the models, values are parameters
                f"WHERE id = %s AND {unchanged}",
                [*new, *derived.values(), pk, *old],
            )
