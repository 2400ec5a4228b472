"""Members' phone, name, birth year and e-mail are encrypted at rest (tenancy.fields).

The columns become text, the existing rows are sealed in batches with the current key and
get their blind indexes (phone_hash, name_hash), tenant by tenant (row-level security); then
the unique phone constraint moves to the phone's blind index. Sealing skips values already
sealed, so a migration interrupted half-way resumes where it stopped.
"""

import tenancy.fields
from django.db import migrations, models


def _search_keys(plain):
    from tenancy.encryption import name_index, phone_index

    keys = {}
    if "phone" in plain:
        keys["phone_hash"] = phone_index(plain["phone"])
    if "name" in plain:
        keys["name_hash"] = name_index(plain["name"])
    return keys


def seal_members(apps, schema_editor):
    from tenancy.resealing import SealedTable, reseal_table

    Tenant = apps.get_model("tenancy", "Tenant")
    Customer = apps.get_model("customers", "Customer")
    target = SealedTable(
        Customer._meta.db_table, ("phone", "name", "birth_year", "email"), derive=_search_keys
    )
    for tenant_id in Tenant.objects.values_list("pk", flat=True):
        reseal_table(
            target,
            tenant_id=tenant_id,
            seal_plaintext=True,
            connection=schema_editor.connection,
        )


def open_members(apps, schema_editor):
    raise RuntimeError(
        "Going back would leave encrypted values in plaintext columns; restore a backup "
        "taken before the encryption instead."
    )


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0010_merge_rfm_keys'),
        ('stores', '0005_merge_ownership_code_reasons'),
        ('tenancy', '0004_merge_onboarding_message_keys'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='customer',
            name='customer_phone_per_tenant',
        ),
        migrations.RemoveIndex(
            model_name='customer',
            name='customer_dedup_idx',
        ),
        migrations.AddField(
            model_name='customer',
            name='name_hash',
            field=tenancy.fields.BlindIndexField(blank=True, default='', kind='name', source='name'),
        ),
        migrations.AddField(
            model_name='customer',
            name='phone_hash',
            field=tenancy.fields.BlindIndexField(blank=True, kind='phone', null=True, source='phone'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='birth_year',
            field=tenancy.fields.EncryptedIntegerField(blank=True, null=True, verbose_name='birth year'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='email',
            field=tenancy.fields.EncryptedEmailField(blank=True, db_default='', max_length=254, verbose_name='e-mail'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='name',
            field=tenancy.fields.EncryptedCharField(max_length=50, verbose_name='name'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='phone',
            field=tenancy.fields.EncryptedCharField(blank=True, max_length=11, null=True, verbose_name='mobile phone'),
        ),
        migrations.RunPython(seal_members, open_members),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(fields=['tenant', 'name_hash', 'birth_month', 'birth_day'], name='customer_name_dedup_idx'),
        ),
        migrations.AddConstraint(
            model_name='customer',
            constraint=models.UniqueConstraint(fields=('tenant', 'phone_hash'), name='customer_phone_hash_per_tenant'),
        ),
    ]
