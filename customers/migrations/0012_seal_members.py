"""Seal the members' existing phone, name, birth year and e-mail with the current key and
fill their blind indexes, tenant by tenant (row-level security), in batches of 1,000.

Not atomic: each batch commits (tenancy.resealing), so a migration stopped half-way resumes
where it stopped (sealed values are skipped). Until it has run, the site shows a plaintext
value as "cannot be read", never as garbage.
"""

from django.db import migrations


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
    atomic = False

    dependencies = [
        ("customers", "0011_encrypt_personal_data"),
    ]

    operations = [
        migrations.RunPython(seal_members, open_members),
    ]
