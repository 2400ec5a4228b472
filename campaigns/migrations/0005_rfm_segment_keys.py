"""Campaign conditions name the RFM segment by its key (customers 0008 converts members).

Each tenant is selected before its rows are touched (row-level security).
"""

from django.db import migrations

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
    Campaign = apps.get_model("campaigns", "Campaign")
    for tenant in Tenant.objects.all():
        set_database_tenant(tenant.pk)
        for campaign in Campaign._base_manager.filter(tenant_id=tenant.pk):
            name = (campaign.criteria or {}).get("rfm_segment")
            if name in OLD_NAMES:
                campaign.criteria = {**campaign.criteria, "rfm_segment": OLD_NAMES[name]}
                campaign.save(update_fields=["criteria"])
    set_database_tenant(None)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_unsubscribe"),
        ("customers", "0008_rfm_segment_keys"),
    ]

    operations = [migrations.RunPython(to_keys, migrations.RunPython.noop)]
