"""Stores created before codes had a history and counters: record their codes.

Each tenant is selected before its rows are touched, because row-level security refuses rows
of a tenant that is not selected; the selection travels with each statement
(tenancy.context.tenant_settings_wrapper).
"""

import re

from django.db import migrations

CODE = re.compile(r"^([A-Z]{2,4})-([A-Z]{2,4})-(\d+)$")


def backfill(apps, schema_editor):
    Tenant = apps.get_model("tenancy", "Tenant")
    Store = apps.get_model("stores", "Store")
    History = apps.get_model("stores", "StoreCodeHistory")
    Counter = apps.get_model("stores", "StoreCodeCounter")
    from tenancy.context import set_database_tenant

    for tenant in Tenant.objects.all():
        set_database_tenant(tenant.pk)
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
    set_database_tenant(None)


class Migration(migrations.Migration):
    dependencies = [("stores", "0002_registry_workflow")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
