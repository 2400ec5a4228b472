"""How a store code was issued is stored as a message key and read in the reader's language;
so are the inbox items about it (issue 16)."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from django.urls import reverse

from stores import services
from stores.models import StoreCodeHistory
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.stores.test_notifications import apply

pytestmark = pytest.mark.django_db


def _visible(client, url: str, language: str) -> str:
    client.cookies["django_language"] = language
    response = client.get(url)
    assert response.status_code == 200
    return re.sub(r"<[^>]+>", " ", response.content.decode())


def test_an_approved_codes_reason_and_the_inbox_read_in_both_languages(world, client_for):
    manager = world.staff_a[Role.STORE_MANAGER]
    hq = world.staff_a[Role.HQ_STAFF]
    with tenant_context(world.tenant_a):
        application = apply(manager, name="国贸店")
        store = services.application_approve(application=application, reviewer=hq, note="齐全")
        record = StoreCodeHistory.objects.get(store=store)
    assert record.reason_message == {
        "key": "stores.code_reason.approved",
        "params": {"id": application.pk},
    }
    assert record.reason == ""
    client = client_for(hq)
    url = reverse("stores:store_detail", args=[store.pk])
    assert f"申请 #{application.pk} 获批" in _visible(client, url, "zh-hans")
    english = _visible(client, url, "en")
    assert f"Approved application #{application.pk}" in english and "获批" not in english

    inbox = client_for(manager)
    assert f"门店编码申请已批准：{store.code} 国贸店" in _visible(
        inbox, reverse("inbox"), "zh-hans"
    )
    assert f"Store code application approved: {store.code} 国贸店" in _visible(
        inbox, reverse("inbox"), "en"
    )


def test_old_records_are_read_back_into_keys_and_others_keep_their_text(world, client_for):
    with tenant_context(world.tenant_a):
        # Records as written before keys: the text only.
        old, _ = StoreCodeHistory.objects.update_or_create(
            store=world.store_a1,
            code=world.store_a1.code,
            defaults={"reason": "编码变更，申请 #42"},
        )
        odd, _ = StoreCodeHistory.objects.update_or_create(
            store=world.store_a2, code=world.store_a2.code, defaults={"reason": "手工登记"}
        )
    migration = importlib.import_module("stores.migrations.0004_code_reason_message_keys")
    migration.to_keys(apps, None)
    with tenant_context(world.tenant_a):
        old.refresh_from_db()
        odd.refresh_from_db()
    assert old.reason_message == {"key": "stores.code_reason.changed", "params": {"id": "42"}}
    assert odd.reason_message == {}
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    english = _visible(client, reverse("stores:store_detail", args=[world.store_a1.pk]), "en")
    assert "Code change, application #42" in english
    other = _visible(client, reverse("stores:store_detail", args=[world.store_a2.pk]), "en")
    assert "手工登记" in other
