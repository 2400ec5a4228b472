"""The outbox's addresses and texts and the SMS replies' numbers are encrypted at rest
(tenancy.fields): the columns become text and existing rows are sealed in batches, tenant
by tenant (see customers 0012)."""

import tenancy.fields
from django.db import migrations


def seal(apps, schema_editor):
    from tenancy.resealing import SealedTable, reseal_table

    Tenant = apps.get_model("tenancy", "Tenant")
    targets = [
        SealedTable(apps.get_model("campaigns", "Delivery")._meta.db_table, ("address", "text")),
        SealedTable(apps.get_model("campaigns", "InboundReply")._meta.db_table, ("phone",)),
    ]
    for tenant_id in Tenant.objects.values_list("pk", flat=True):
        for target in targets:
            reseal_table(
                target, tenant_id=tenant_id, seal_plaintext=True, connection=schema_editor.connection
            )


def unseal(apps, schema_editor):
    raise RuntimeError(
        "Going back would leave encrypted values in plaintext columns; restore a backup "
        "taken before the encryption instead."
    )


class Migration(migrations.Migration):
    # Not atomic: each batch of the sealing commits, so a large outbox resumes where it
    # stopped (tenancy.resealing skips sealed values).
    atomic = False

    dependencies = [
        ('campaigns', '0006_default_birthday_greeting_key'),
    ]

    operations = [
        migrations.AlterField(
            model_name='delivery',
            name='address',
            field=tenancy.fields.EncryptedCharField(blank=True, max_length=254, verbose_name='to'),
        ),
        migrations.AlterField(
            model_name='delivery',
            name='text',
            field=tenancy.fields.EncryptedTextField(verbose_name='message'),
        ),
        migrations.AlterField(
            model_name='inboundreply',
            name='phone',
            field=tenancy.fields.EncryptedCharField(max_length=11, verbose_name='mobile phone'),
        ),
        migrations.RunPython(seal, unseal),
    ]
