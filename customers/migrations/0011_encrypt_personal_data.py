"""Members' phone, name, birth year and e-mail are encrypted at rest (tenancy.fields):
the columns become text and get their blind index columns. 0012 seals the existing rows,
0013 moves the unique phone constraint and the duplicates index to the blind indexes.
"""

import tenancy.fields
from django.db import migrations, models


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
    ]
