"""Campaign text the system stores reads in the reader's language (issue 16): the default
birthday greeting until the tenant writes its own, birthday ledger entries, outbox errors."""

from __future__ import annotations

import datetime
import importlib
import re

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import translation

from campaigns import services
from campaigns.models import CampaignSettings, Delivery
from tenancy.context import current_tenant, tenant_context
from tenancy.models import Role
from tests.campaigns.factories_services import MemberFactory
from tests.factories import StoreFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

CHINESE = "亲爱的{name}，祝您生日快乐！{store}全体员工为您送上祝福。"
ENGLISH = "Dear {name}, happy birthday! Everyone at {store} sends you their best wishes."
FORM = {
    "frequency_cap": "4",
    "quiet_start": "21:00",
    "quiet_end": "09:00",
    "sms_unsubscribe_text": "拒收请回复R",
    "birthday_enabled": "on",
    "birthday_send_time": "09:00",
    "birthday_channel": "sms",
    "birthday_points": "0",
}


def _settings_page(client, language: str) -> str:
    client.cookies["django_language"] = language
    response = client.get(reverse("campaigns:settings"))
    assert response.status_code == 200
    textarea = re.search(r'<textarea[^>]*name="birthday_template"[^>]*>(.*?)</textarea>',
                         response.content.decode(), re.DOTALL)  # fmt: skip
    return textarea.group(1).strip()


def _stored(world) -> str:
    with tenant_context(world.tenant_a):
        return CampaignSettings.objects.get().birthday_template


def test_the_default_reads_in_both_languages_and_stays_the_default(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    assert _settings_page(client, "zh-hans") == CHINESE
    assert _settings_page(client, "en") == ENGLISH
    # Saved unchanged (in English), it is still the default: Chinese for a Chinese reader.
    client.cookies["django_language"] = "en"
    url = reverse("campaigns:settings")
    assert client.post(url, {**FORM, "birthday_template": ENGLISH}).status_code == 302
    assert _stored(world) == ""
    assert _settings_page(client, "zh-hans") == CHINESE


def test_a_greeting_the_tenant_wrote_is_kept_as_written(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    client.cookies["django_language"] = "en"
    own = "{name}，生日快乐！"
    assert (
        client.post(reverse("campaigns:settings"), {**FORM, "birthday_template": own}).status_code
        == 302
    )
    assert _stored(world) == own
    assert _settings_page(client, "en") == own
    assert _settings_page(client, "zh-hans") == own


def test_members_get_the_default_in_the_sites_language(world):
    with tenant_context(world.tenant_a), translation.override("en"):
        store = StoreFactory(name="南京路店")
        MemberFactory(home_store=store, name="李娜", birth_month=6, birth_day=10)
        now = datetime.datetime(2026, 6, 10, 9, 30, tzinfo=current_tenant().zone)
        today, batches = services.birthday_batches(now=now)
        for batch in batches:
            services.birthday_send_batch(member_ids=batch, today=today, now=now)
        assert Delivery.objects.get().text.startswith("亲爱的李娜，祝您生日快乐！南京路店全体员工")


def test_the_migration_turns_the_old_stored_default_into_the_default(world):
    with tenant_context(world.tenant_a):
        rules = services.campaign_settings()
        rules.birthday_template = CHINESE
        rules.save()
    with tenant_context(world.tenant_b):
        own = services.campaign_settings()
        own.birthday_template = "{name}生日快乐"
        own.save()
    migration = importlib.import_module("campaigns.migrations.0006_default_birthday_greeting_key")
    migration.to_default(apps, None)
    assert _stored(world) == ""
    with tenant_context(world.tenant_b):
        assert CampaignSettings.objects.get().birthday_template == "{name}生日快乐"


def test_birthday_points_read_in_both_languages_old_entries_too(world, client_for):
    """New entries store no text; an old entry's Chinese reason is read back by its key."""
    from loyalty import services as loyalty

    with tenant_context(world.tenant_a):
        store = StoreFactory(name="南京路店")
        member = MemberFactory(home_store=store, birth_month=6, birth_day=10)
        loyalty.points_award(
            customer=member, points=50, source_key=f"birthday:2025:{member.pk}",
            reason="2025 年生日礼",  # as written before keys
        )  # fmt: skip
        rules = services.campaign_settings()
        rules.birthday_points = 20
        rules.save()
        now = datetime.datetime(2026, 6, 10, 9, 30, tzinfo=current_tenant().zone)
        today, batches = services.birthday_batches(now=now)
        for batch in batches:
            services.birthday_send_batch(member_ids=batch, today=today, now=now)
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    url = reverse("loyalty:member_points", args=[member.pk])
    client.cookies["django_language"] = "en"
    english = re.sub(r"<[^>]+>", " ", client.get(url).content.decode())
    assert "Birthday gift 2026" in english and "Birthday gift 2025" in english
    assert "生日礼" not in english
    client.cookies["django_language"] = "zh-hans"
    chinese = re.sub(r"<[^>]+>", " ", client.get(url).content.decode())
    assert "2026 年生日礼" in chinese and "2025 年生日礼" in chinese


def test_outbox_errors_the_system_wrote_read_in_both_languages(world, client_for):
    from campaigns.models import DeliveryStatus
    from tests.campaigns.factories_services import past_message

    with tenant_context(world.tenant_a):
        member = MemberFactory(home_store=StoreFactory(name="南京路店"))
        past_message(member, status=DeliveryStatus.FAILED, last_error="no address for this channel")
        past_message(member, status=DeliveryStatus.FAILED, last_error="HTTP 500 from provider")
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    client.cookies["django_language"] = "zh-hans"
    chinese = client.get(reverse("campaigns:outbox")).content.decode()
    assert "会员没有该渠道的联系方式" in chinese and "no address" not in chinese
    assert "HTTP 500 from provider" in chinese  # a provider's words, as they came
    client.cookies["django_language"] = "en"
    english = client.get(reverse("campaigns:outbox")).content.decode()
    assert "no address for this channel" in english and "联系方式" not in english
