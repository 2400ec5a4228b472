"""Stores created before codes had a history and counters: record their codes.

Each tenant is selected (transaction-local) before its rows are touched, because row-level
security refuses rows of a tenant that is not selected.
"""

import re

from django.db import migrations

CODE = re.compile(r"^([A-Z]{2,4})-([A-Z]{2,4})-(\d+)$")


def backfill(apps, schema_editor):
    Tenant = apps.get_model("tenancy", "Tenant")
    Store = apps.get_model("stores", "Store")
    History = apps.get_model("stores", "StoreCodeHistory")
    Counter = apps.get_model("stores", "StoreCodeCounter")
    postgres = schema_editor.connection.vendor == "postgresql"
    for tenant in Tenant.objects.all():
        if postgres:
            schema_editor.execute(
                "SELECT set_config('app.tenant_id', %s, true)", [str(tenant.pk)]
            )
        highest = {}
        for store in Store.objects.filter(tenant_id=tenant.pk):
            if not History.objects.filter(tenant_id=tenant.pk, code=store.code).exists():
                History.objects.create(tenant_id=tenant.pk, store_id=store.pk, code=store.code)
            match = CODE.match(store.code)
            if match:
                key = (store.region_id, store.store_type_id)
                highest[key] = max(highest.get(key, 0), int(match.group(3)))
        for (region_id, type_id), sequence in highest.items():
            counter, _ = Counter.objects.get_or_create(
                tenant_id=tenant.pk, region_id=region_id, store_type_id=type_id
            )
            if counter.last_sequence < sequence:
                counter.last_sequence = sequence
                counter.save(update_fields=["last_sequence"])
    if postgres:
        schema_editor.execute("SELECT set_config('app.tenant_id', '', true)")


class Migration(migrations.Migration):
    dependencies = [("stores", "0002_registry_workflow")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
