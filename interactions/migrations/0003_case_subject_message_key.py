"""A case subject the system wrote (a low survey score) is a message key with parameters.

Old cases hold it as text in one language; those matching the known template (Chinese or
English) get its key and parameters. Each tenant is selected first (row-level security).
"""

import django.core.serializers.json
from django.db import migrations, models


def to_keys(apps, schema_editor):
    from tenancy.context import set_database_tenant
    from tenancy.messages import message_from_text

    Tenant = apps.get_model("tenancy", "Tenant")
    ServiceCase = apps.get_model("interactions", "ServiceCase")
    for tenant in Tenant.objects.all():
        set_database_tenant(tenant.pk)
        for case in ServiceCase._base_manager.filter(tenant_id=tenant.pk, subject_message={}):
            found = message_from_text(case.subject, ["survey.low_score.title"])
            if found is not None:
                case.subject_message = found
                case.save(update_fields=["subject_message"])
    set_database_tenant(None)


class Migration(migrations.Migration):

    dependencies = [
        ('interactions', '0002_referral_reversed_at'),
    ]

    operations = [
        migrations.AddField(
            model_name='servicecase',
            name='subject_message',
            field=models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder, verbose_name='subject (message key)'),
        ),
        migrations.AlterField(
            model_name='servicecase',
            name='subject',
            field=models.CharField(blank=True, max_length=200, verbose_name='subject'),
        ),
        migrations.RunPython(to_keys, migrations.RunPython.noop),
    ]
