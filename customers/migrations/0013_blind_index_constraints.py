"""Unique phone per tenant and the duplicates index, on the blind indexes (0012 filled them)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0012_seal_members"),
    ]

    operations = [
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(fields=['tenant', 'name_hash', 'birth_month', 'birth_day'], name='customer_name_dedup_idx'),
        ),
        migrations.AddConstraint(
            model_name='customer',
            constraint=models.UniqueConstraint(fields=('tenant', 'phone_hash'), name='customer_phone_hash_per_tenant'),
        ),
    ]
