"""Stored system text is a message key with parameters, read in the reader's language (issue 16).

Inbox items written by services (a case assigned, the demo welcome) read in Chinese and in
English on the inbox page; rows from before keys still show their text, and the data
migration turns the known old texts back into keys.
"""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import translation

from interactions import services as interactions
from tenancy import demo
from tenancy.context import tenant_context
from tenancy.messages import message, message_from_text, render
from tenancy.models import Notification, Role
from tenancy.services import notify
from tests.factories import CustomerFactory
from tests.interactions.factories import CaseCategoryFactory

pytestmark = pytest.mark.django_db

RAW_KEY = re.compile(r"\b(case|demo|stores|lead|survey)\.[a-z_]+\.(title|body)\b")
OLD_WELCOME = (
    "欢迎使用门店 CRM",
    "这里会显示与您相关的提醒：分配给您的客诉、逾期工单、到期的跟进。",
)


def _inbox(client, language: str) -> str:
    client.cookies["django_language"] = language
    response = client.get(reverse("inbox"))
    assert response.status_code == 200
    text = re.sub(r"<[^>]+>", " ", response.content.decode())
    assert not RAW_KEY.search(text), RAW_KEY.search(text)
    return text


@pytest.mark.clock
def test_a_case_assignment_reads_in_the_readers_language(world, client_for):
    clerk = world.staff_a[Role.CLERK]
    with tenant_context(world.tenant_a):
        case = interactions.case_open(
            actor=world.staff_a[Role.STORE_MANAGER],
            member=CustomerFactory(home_store=world.store_a1),
            store=world.store_a1,
            category=CaseCategoryFactory(),
            subject="鞋底开胶",
            assignee=clerk,
        )
        stored = Notification.objects.get(recipient=clerk)
    assert stored.title_message == {
        "key": "case.assigned.title",
        "params": {"number": case.pk, "subject": "鞋底开胶"},
    }
    assert stored.title == ""  # no text rendered in the writer's language

    client = client_for(clerk)
    assert f"工单 #{case.pk} 已分配给您：鞋底开胶" in _inbox(client, "zh-hans")
    english = _inbox(client, "en")
    assert f"Case #{case.pk} was assigned to you: 鞋底开胶" in english
    assert "Due " in english and "已分配" not in english


def test_the_demo_welcome_reads_in_both_languages(world, client_for):
    with tenant_context(world.tenant_a):
        demo.seed(world.tenant_a)
        admin = Notification.objects.filter(kind="demo.welcome").first().recipient
    client = client_for(admin)
    assert "欢迎使用门店 CRM" in _inbox(client, "zh-hans")
    english = _inbox(client, "en")
    assert "Welcome to Store CRM" in english and "cases assigned to you" in english
    assert "欢迎" not in english


def test_old_rows_keep_their_text_and_unknown_keys_show_no_key(world, client_for):
    clerk = world.staff_a[Role.CLERK]
    with tenant_context(world.tenant_a):
        notify(recipients=[clerk], kind="test", title="旧的提醒", body="旧内容")
        Notification.objects.create(
            recipient=clerk,
            kind="test",
            title_message={"key": "gone.away.title", "params": {}},
            title="退役的消息",
        )
    for language in ("zh-hans", "en"):
        text = _inbox(client_for(clerk), language)
        assert "旧的提醒" in text and "旧内容" in text and "退役的消息" in text
        assert "gone.away" not in text
    with translation.override("zh-hans"):
        assert render({"key": "gone.away.title", "params": {}}) == "（消息不可用）"


def test_an_unregistered_key_fails_where_it_is_written():
    with pytest.raises(KeyError):
        message("case.asigned.title", number=1)


def test_known_old_texts_are_read_back_into_keys():
    # Every site language is tried, whichever is active.
    assert message_from_text("工单 #12 已分配给您：退货：鞋子", ["case.assigned.title"]) == {
        "key": "case.assigned.title",
        "params": {"number": "12", "subject": "退货：鞋子"},
    }
    assert message_from_text(
        "3 stores are due for their periodic re-review", ["stores.reviews_due.title"]
    ) == {"key": "stores.reviews_due.title", "params": {"count": 3}}
    assert message_from_text("随便写的", ["case.assigned.title"]) is None


def test_the_data_migration_turns_old_inbox_texts_into_keys(world, client_for):
    clerk = world.staff_a[Role.CLERK]
    with tenant_context(world.tenant_a):
        welcome = Notification.objects.create(
            recipient=clerk, kind="demo.welcome", title=OLD_WELCOME[0], body=OLD_WELCOME[1]
        )
        comment = Notification.objects.create(
            recipient=clerk, kind="case.comment", title="工单 #7 有新备注", body="Due 明天"
        )
    migration = importlib.import_module("tenancy.migrations.0003_notification_message_keys")
    migration.to_keys(apps, None)
    with tenant_context(world.tenant_a):
        welcome.refresh_from_db()
        comment.refresh_from_db()
    assert welcome.title_message["key"] == "demo.welcome.title"
    assert welcome.body_message["key"] == "demo.welcome.body"
    assert comment.title_message == {"key": "case.comment.title", "params": {"number": "7"}}
    assert comment.body_message == {}  # someone's own words stay as typed
    english = _inbox(client_for(clerk), "en")
    assert "Welcome to Store CRM" in english and "New comment on case #7" in english
    assert "Due 明天" in english


def test_translatable_text_is_stored_by_msgid_and_read_in_the_active_language():
    from django.core.exceptions import ValidationError
    from django.utils.translation import gettext_lazy, pgettext_lazy

    from tenancy.messages import from_text, translatable

    stored = translatable(gettext_lazy("Unknown store code %(code)s."), code="XX-1")
    assert stored == {
        "msgid": "Unknown store code %(code)s.",
        "context": "",
        "params": {"code": "XX-1"},
    }
    with translation.override("zh-hans"):
        assert render(stored) == "门店编码 XX-1 不存在。"
    with translation.override("en"):
        assert render(stored) == "Unknown store code XX-1."
    context = from_text(pgettext_lazy("RFM segment", "Dormant customers"))
    assert context["context"] == "RFM segment"
    with translation.override("zh-hans"):
        assert render(context) == "沉睡客户"
    # A ValidationError keeps each message with its parameters; plain text stays text.
    error = ValidationError(
        {"a": [ValidationError(gettext_lazy("Not a date."))], "b": ["已翻译的文字"]}
    )
    parts = from_text(error)
    assert parts[0]["msgid"] == "Not a date." and parts[1] == "已翻译的文字"
    with translation.override("en"):
        assert render(parts) == "Not a date. 已翻译的文字"
