"""Members' WeChat ids are encrypted at rest (tenancy.fields): the column becomes text and
existing ids are sealed in batches, tenant by tenant (see customers 0012)."""

import tenancy.fields
from django.db import migrations


def seal_wechat_ids(apps, schema_editor):
    from tenancy.resealing import SealedTable, reseal_table

    Tenant = apps.get_model("tenancy", "Tenant")
    MemberProfile = apps.get_model("interactions", "MemberProfile")
    target = SealedTable(MemberProfile._meta.db_table, ("wechat_id",))
    for tenant_id in Tenant.objects.values_list("pk", flat=True):
        reseal_table(
            target, tenant_id=tenant_id, seal_plaintext=True, connection=schema_editor.connection
        )


def open_wechat_ids(apps, schema_editor):
    raise RuntimeError(
        "Going back would leave encrypted values in a plaintext column; restore a backup "
        "taken before the encryption instead."
    )


class Migration(migrations.Migration):
    # Not atomic: each batch of the sealing commits, so a large table resumes where it
    # stopped (tenancy.resealing skips sealed values).
    atomic = False

    dependencies = [
        ('interactions', '0004_merge_follow_up_case_subject'),
    ]

    operations = [
        migrations.AlterField(
            model_name='memberprofile',
            name='wechat_id',
            field=tenancy.fields.EncryptedCharField(blank=True, max_length=50, verbose_name='WeChat ID'),
        ),
        migrations.RunPython(seal_wechat_ids, open_wechat_ids),
    ]
