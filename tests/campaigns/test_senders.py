"""Sender backends against a fake provider on 127.0.0.1, e-mail through Django's locmem."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

from campaigns import senders, services
from campaigns.models import Channel, Delivery, DeliveryKind, DeliveryStatus
from campaigns.senders import EmailSender, OutboxSender, SendError, SmsSender, WeChatSender
from tests.campaigns.factories_services import MemberFactory
from tests.clock import local_today_at
from tests.factories import StoreFactory

pytestmark = pytest.mark.clock


class FakeProvider:
    """An HTTP server in a thread that records each request and answers as told."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        self.answer: bytes = b"{}"
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                provider.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "json": json.loads(raw.decode("utf-8")),
                    }
                )
                self.send_response(provider.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(provider.answer)))
                self.end_headers()
                self.wfile.write(provider.answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def reply(self, status: int, body) -> None:
        self.status = status
        self.answer = body if isinstance(body, bytes) else json.dumps(body).encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def provider():
    fake = FakeProvider()
    yield fake
    fake.close()


@pytest.fixture
def sms(settings, provider):
    settings.CAMPAIGN_SMS_URL = provider.url + "/sms/send"
    settings.CAMPAIGN_SMS_API_KEY = "key-123"
    settings.CAMPAIGN_SMS_SIGN = "【甲连锁】"
    return SmsSender()


@pytest.fixture
def wechat(settings, provider):
    settings.CAMPAIGN_WECHAT_URL = provider.url + "/cgi-bin/message/template/send"
    settings.CAMPAIGN_WECHAT_ACCESS_TOKEN = "TOKEN42"
    settings.CAMPAIGN_WECHAT_TEMPLATE_ID = "tmpl-birthday"
    return WeChatSender()


def message(address="13812345678", text="王芳您好，本周六会员日全场九折。") -> Delivery:
    return Delivery(pk=7, address=address, text=text, channel=Channel.SMS)


def refused(sender, delivery=None) -> SendError:
    with pytest.raises(SendError) as caught:
        sender.send(delivery or message())
    return caught.value


# --- SMS ---------------------------------------------------------------------------------


def test_sms_posts_json_with_the_key_and_returns_the_gateways_id(provider, sms):
    provider.reply(200, {"code": "OK", "id": "sms-9001"})

    assert sms.send(message()) == "sms-9001"

    [request] = provider.requests
    assert request["path"] == "/sms/send"
    assert request["json"] == {
        "phone": "13812345678",
        "sign": "【甲连锁】",
        "text": "王芳您好，本周六会员日全场九折。",
    }
    assert request["headers"]["Authorization"] == "Bearer key-123"
    assert request["headers"]["Content-Type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(
    ("status", "body", "retryable"),
    [
        (500, {"code": "ERROR"}, True),
        (503, b"", True),
        (429, {"code": "THROTTLED"}, True),
        (400, {"code": "BAD_REQUEST"}, False),
        (401, {"code": "BAD_KEY"}, False),
        (200, {"code": "MOBILE_NUMBER_ILLEGAL", "message": "号码错误"}, False),
        (200, b"<html>proxy error</html>", True),
    ],
    ids=["500", "503", "429", "400", "401", "refused-in-body", "not-json"],
)
def test_sms_errors_say_whether_a_retry_can_help(provider, sms, status, body, retryable):
    provider.reply(status, body)
    error = refused(sms)
    assert error.retryable is retryable
    assert len(provider.requests) == 1


def test_a_gateway_that_is_down_is_retried(settings, sms):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CAMPAIGN_SMS_URL = f"http://127.0.0.1:{port}/sms/send"  # nothing listens there

    error = refused(sms)

    assert error.retryable is True
    assert "unreachable" in str(error)


def test_no_url_or_no_phone_will_not_mend(settings, provider, sms):
    assert refused(sms, message(address="")).retryable is False
    settings.CAMPAIGN_SMS_URL = ""
    error = refused(sms)
    assert error.retryable is False
    assert "CAMPAIGN_SMS_URL" in str(error)
    assert provider.requests == []


# --- WeChat ------------------------------------------------------------------------------


def test_wechat_sends_the_template_to_the_openid(provider, wechat):
    provider.reply(200, {"errcode": 0, "errmsg": "ok", "msgid": 200228332})

    assert wechat.send(message(address="oWx_abc", text="生日快乐")) == "200228332"

    [request] = provider.requests
    assert request["path"] == "/cgi-bin/message/template/send?access_token=TOKEN42"
    assert request["json"] == {
        "touser": "oWx_abc",
        "template_id": "tmpl-birthday",
        "data": {"content": {"value": "生日快乐"}},
    }


@pytest.mark.parametrize(
    ("status", "body", "retryable"),
    [
        (200, {"errcode": -1, "errmsg": "system busy"}, True),
        (200, {"errcode": 43004, "errmsg": "require subscribe"}, False),
        (200, {"errcode": 40003, "errmsg": "invalid openid"}, False),
        (500, {}, True),
        (403, {}, False),
    ],
    ids=["busy", "unsubscribed", "bad-openid", "500", "403"],
)
def test_wechat_errors(provider, wechat, status, body, retryable):
    provider.reply(status, body)
    error = refused(wechat, message(address="oWx_abc"))
    assert error.retryable is retryable
    if "errcode" in body:
        assert f"errcode {body['errcode']}" in str(error)


# --- E-mail ------------------------------------------------------------------------------


def test_email_goes_through_djangos_backend(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CAMPAIGN_EMAIL_SUBJECT = "甲连锁会员通知"

    assert EmailSender().send(message(address="wang@example.com")) == ""

    [sent] = mail.outbox
    assert sent.to == ["wang@example.com"]
    assert sent.subject == "甲连锁会员通知"
    assert sent.body == "王芳您好，本周六会员日全场九折。"


def test_email_without_a_subject_setting_uses_the_start_of_the_text(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CAMPAIGN_EMAIL_SUBJECT = ""
    EmailSender().send(message(address="wang@example.com", text="生" * 60))
    assert mail.outbox[0].subject == "生" * 40
    assert refused(EmailSender(), message(address="")).retryable is False


# --- Choosing the backend ----------------------------------------------------------------


def test_sender_for_reads_the_channel_from_settings(settings):
    settings.CAMPAIGN_SENDERS = {
        "sms": "campaigns.senders.SmsSender",
        "wechat": "campaigns.senders.WeChatSender",
        "email": "campaigns.senders.EmailSender",
    }
    assert isinstance(senders.sender_for("sms"), SmsSender)
    assert isinstance(senders.sender_for("wechat"), WeChatSender)
    assert isinstance(senders.sender_for("email"), EmailSender)
    # Channels not configured (in store) fall back to recording only.
    assert isinstance(senders.sender_for("in_store"), OutboxSender)
    settings.CAMPAIGN_SENDERS = {}
    assert isinstance(senders.sender_for("sms"), OutboxSender)


# --- Through the dispatcher --------------------------------------------------------------


@pytest.mark.django_db
def test_the_dispatcher_records_the_gateways_answers(in_tenant, settings, provider, sms):
    settings.CAMPAIGN_SENDERS = {"sms": "campaigns.senders.SmsSender"}
    noon = local_today_at(12)
    member = MemberFactory(home_store=StoreFactory(), phone="13700000001")
    delivery = services.message_queue(member=member, text="问卷链接", kind=DeliveryKind.SURVEY)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=noon)

    provider.reply(500, {"code": "ERROR"})
    assert services.deliveries_dispatch(now=noon)["retry"] == 1
    row = Delivery.objects.get(pk=delivery.pk)
    assert (row.status, row.last_error) == (DeliveryStatus.QUEUED, "HTTP 500 from provider")

    provider.reply(200, {"code": "OK", "id": "sms-77"})
    assert services.deliveries_dispatch(now=row.next_attempt_at)["sent"] == 1
    row.refresh_from_db()
    assert (row.status, row.provider_id, row.attempts) == (DeliveryStatus.SENT, "sms-77", 2)
    assert [r["json"]["phone"] for r in provider.requests] == ["13700000001"] * 2


# --- SMS batches -------------------------------------------------------------------------


def test_sms_batch_posts_every_number_with_its_own_text_and_reads_each_answer(
    settings, provider, sms
):
    settings.CAMPAIGN_SMS_BATCH_URL = provider.url + "/sms/batch"
    settings.CAMPAIGN_SMS_BATCH_SIZE = 100
    provider.reply(
        200,
        {"code": "OK", "results": [{"code": "OK", "id": "b-1"},
                                   {"code": "MOBILE_NUMBER_ILLEGAL", "message": "号码错误"}]},
    )  # fmt: skip
    batch = [
        message("13812345678", "王芳您好"),
        message("", "无号码"),
        message("1381234", "李雷您好"),
    ]

    answers = SmsSender().send_batch(batch)

    [request] = provider.requests
    assert request["path"] == "/sms/batch"
    assert request["json"] == {
        "sign": "【甲连锁】",
        "messages": [
            {"phone": "13812345678", "text": "王芳您好"},
            {"phone": "1381234", "text": "李雷您好"},
        ],
    }
    assert request["headers"]["Authorization"] == "Bearer key-123"
    assert answers[0] == "b-1"
    # The message without a number never left; the refused number is that message's error.
    assert [type(a) for a in answers[1:]] == [SendError, SendError]
    assert (answers[1].retryable, answers[2].retryable) == (False, False)
    assert "号码错误" in str(answers[2])


def test_sms_batch_errors_of_the_whole_call_are_every_messages_error(settings, provider, sms):
    settings.CAMPAIGN_SMS_BATCH_URL = provider.url + "/sms/batch"
    batch = [message("13812345678"), message("13812345679")]

    provider.reply(503, b"")
    assert [a.retryable for a in SmsSender().send_batch(batch)] == [True, True]
    provider.reply(200, {"code": "BAD_SIGN", "message": "签名错误"})
    assert [a.retryable for a in SmsSender().send_batch(batch)] == [False, False]
    # An answer that does not account for every number: the gateway may have sent them.
    provider.reply(200, {"code": "OK", "results": [{"code": "OK", "id": "x"}]})
    answers = SmsSender().send_batch(batch)
    assert [a.retryable for a in answers] == [False, False]
    assert str(answers[0]).startswith("sender error")


def test_without_a_batch_url_sms_goes_one_number_per_call(settings, provider, sms):
    settings.CAMPAIGN_SMS_BATCH_URL = ""
    provider.reply(200, {"code": "OK", "id": "one"})

    assert SmsSender().send_batch([message("13812345678"), message("13812345679")]) == ["one"] * 2
    phones = sorted(r["json"]["phone"] for r in provider.requests)  # two calls, at once
    assert phones == ["13812345678", "13812345679"]
