"""The birthday greeting a tenant never changed is the default message, read in the reader's
language: rows still holding the old Chinese default get "" (the default) back.
Each tenant is selected before its rows are touched (row-level security).
"""

from django.db import migrations, models

OLD_DEFAULT = "亲爱的{name}，祝您生日快乐！{store}全体员工为您送上祝福。"


def to_default(apps, schema_editor):
    from tenancy.context import set_database_tenant

    Tenant = apps.get_model("tenancy", "Tenant")
    CampaignSettings = apps.get_model("campaigns", "CampaignSettings")
    for tenant in Tenant.objects.all():
        set_database_tenant(tenant.pk)
        CampaignSettings._base_manager.filter(
            tenant_id=tenant.pk, birthday_template=OLD_DEFAULT
        ).update(birthday_template="")
    set_database_tenant(None)


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0005_rfm_segment_keys'),
    ]

    operations = [
        migrations.AlterField(
            model_name='campaignsettings',
            name='birthday_template',
            field=models.TextField(blank=True, default='', verbose_name='birthday message'),
        ),
        migrations.RunPython(to_default, migrations.RunPython.noop),
    ]
