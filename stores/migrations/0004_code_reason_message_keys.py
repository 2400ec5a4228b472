"""How a store code was issued is a message key with parameters, read in the reader's language.

Records from before hold text in one language; the known ones (Chinese or English) get their
key and parameters back. Each tenant is selected before its rows are touched (RLS).
"""

import django.core.serializers.json
from django.db import migrations, models

KEYS = ["stores.code_reason.approved", "stores.code_reason.changed", "stores.code_reason.imported"]


def to_keys(apps, schema_editor):
    from tenancy.context import set_database_tenant
    from tenancy.messages import message_from_text

    Tenant = apps.get_model("tenancy", "Tenant")
    Record = apps.get_model("stores", "StoreCodeHistory")
    for tenant in Tenant.objects.all():
        set_database_tenant(tenant.pk)
        for record in Record._base_manager.filter(tenant_id=tenant.pk, reason_message={}).exclude(
            reason=""
        ):
            found = message_from_text(record.reason, KEYS)
            if found is not None:
                record.reason_message = found
                record.save(update_fields=["reason_message"])
    set_database_tenant(None)


class Migration(migrations.Migration):

    dependencies = [
        ('stores', '0003_backfill_code_records'),
    ]

    operations = [
        migrations.AddField(
            model_name='storecodehistory',
            name='reason_message',
            field=models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder, verbose_name='reason (message key)'),
        ),
        migrations.RunPython(to_keys, migrations.RunPython.noop),
    ]
