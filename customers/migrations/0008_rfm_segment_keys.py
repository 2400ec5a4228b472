"""RFM segments are stored as keys and named in the reader's language.

Members and saved segments that hold a Chinese segment name get its key. Each tenant is
selected before its rows are touched (row-level security).
"""

from django.db import migrations, models

OLD_NAMES = {
    "重要价值客户": "important_value",
    "重要保持客户": "important_keep",
    "重要发展客户": "important_develop",
    "重要挽留客户": "important_win_back",
    "一般价值客户": "general_value",
    "一般保持客户": "general_keep",
    "一般发展客户": "general_develop",
    "沉睡客户": "dormant",
}


def to_keys(apps, schema_editor):
    from tenancy.context import set_database_tenant

    Tenant = apps.get_model("tenancy", "Tenant")
    Customer = apps.get_model("customers", "Customer")
    Segment = apps.get_model("customers", "Segment")
    for tenant in Tenant.objects.all():
        set_database_tenant(tenant.pk)
        for name, key in OLD_NAMES.items():
            Customer._base_manager.filter(tenant_id=tenant.pk, rfm_segment=name).update(
                rfm_segment=key
            )
        for segment in Segment._base_manager.filter(tenant_id=tenant.pk):
            name = (segment.criteria or {}).get("rfm_segment")
            if name in OLD_NAMES:
                segment.criteria = {**segment.criteria, "rfm_segment": OLD_NAMES[name]}
                segment.save(update_fields=["criteria"])
    set_database_tenant(None)


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0007_unsubscribe'),
    ]

    operations = [
        migrations.AlterField(
            model_name='customer',
            name='rfm_segment',
            field=models.CharField(blank=True, choices=[('important_value', 'High-value customers'), ('important_keep', 'Customers to keep'), ('important_develop', 'Customers to develop'), ('important_win_back', 'Customers to win back'), ('general_value', 'Regular value customers'), ('general_keep', 'Regular customers to keep'), ('general_develop', 'Regular customers to develop'), ('dormant', 'Dormant customers')], max_length=32, verbose_name='RFM segment'),
        ),
        migrations.RunPython(to_keys, migrations.RunPython.noop),
    ]
