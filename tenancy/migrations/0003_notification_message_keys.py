"""Inbox items keep a message key and parameters, rendered in the reader's language.

Old rows hold text rendered in one language; those whose text is one of the known system
messages (in Chinese or English) get its key and parameters, the others keep their text.
Each tenant is selected before its rows are touched (row-level security).
"""

import django.core.serializers.json
from django.db import migrations, models

# Which keys each kind of notification was rendered from (title keys, body keys); a body
# that is someone's own words (a case comment) is never matched against a template.
KINDS = {
    "demo.welcome": (["demo.welcome.title"], ["demo.welcome.body"]),
    "case.assigned": (["case.assigned.title"], ["case.assigned.body"]),
    "case.comment": (["case.comment.title"], []),
    "case.overdue": (["case.escalated.title", "case.overdue.title"], ["case.overdue.body"]),
    "lead.follow_up_due": (["lead.follow_up_due.title"], []),
    "survey.low_score": (["survey.low_score.title"], []),
    "stores.application_submitted": (["stores.application_submitted.title"], []),
    "stores.application_approved": (
        ["stores.code_changed.title", "stores.application_approved.title"],
        [],
    ),
    "stores.application_rejected": (["stores.application_returned.title"], []),
    "stores.reviews_due": (["stores.reviews_due.title", "stores.store_review_due.title"], []),
}


def to_keys(apps, schema_editor):
    from tenancy.context import set_database_tenant
    from tenancy.messages import message_from_text

    Tenant = apps.get_model("tenancy", "Tenant")
    Notification = apps.get_model("tenancy", "Notification")
    for tenant in Tenant.objects.all():
        set_database_tenant(tenant.pk)
        rows = Notification._base_manager.filter(
            tenant_id=tenant.pk, kind__in=list(KINDS), title_message={}
        )
        for row in rows.iterator():
            titles, bodies = KINDS[row.kind]
            title = message_from_text(row.title, titles) if row.title else None
            body = message_from_text(row.body, bodies) if row.body else None
            if title or body:
                row.title_message = title or {}
                row.body_message = body or {}
                row.save(update_fields=["title_message", "body_message"])
    set_database_tenant(None)


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0002_notification"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="body_message",
            field=models.JSONField(
                blank=True,
                default=dict,
                encoder=django.core.serializers.json.DjangoJSONEncoder,
                verbose_name="text (message key)",
            ),
        ),
        migrations.AddField(
            model_name="notification",
            name="title_message",
            field=models.JSONField(
                blank=True,
                default=dict,
                encoder=django.core.serializers.json.DjangoJSONEncoder,
                verbose_name="title (message key)",
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="title",
            field=models.CharField(blank=True, max_length=200, verbose_name="title"),
        ),
        migrations.RunPython(to_keys, migrations.RunPython.noop),
    ]
