"""Sender backends: one interface, one backend per channel chosen in settings.

A backend's `send(delivery)` returns the provider's message id ("" when there is none) or
raises SendError. `retryable=False` means trying again cannot help (a refused address, a
rejected template); the dispatcher then fails the message at once with the reason.

settings.CAMPAIGN_SENDERS maps each channel to a dotted class path. The default for every
channel is OutboxSender, which only records: the outbox page shows what would have gone out.
Provider adapters take their credentials from settings (see README, Configuration).
"""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils.module_loading import import_string

DEFAULT_SENDER = "campaigns.senders.OutboxSender"


class SendError(Exception):
    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class Sender(Protocol):
    def send(self, delivery) -> str: ...


class OutboxSender:
    """Records the message as sent without leaving the building (demo, tests, in-store)."""

    def send(self, delivery) -> str:
        return ""


class EmailSender:
    """E-mail through Django's configured EMAIL_BACKEND."""

    def send(self, delivery) -> str:
        if not delivery.address:
            raise SendError("no e-mail address", retryable=False)
        # A header holds one line: the subject is the start of the message's first line.
        first_line = (delivery.text.strip().splitlines() or [""])[0]
        subject = getattr(settings, "CAMPAIGN_EMAIL_SUBJECT", "") or first_line[:40]
        headers = {}
        if delivery.member_id and (delivery.is_marketing or delivery.kind == "birthday"):
            from campaigns.services.unsubscribe import unsubscribe_url

            # RFC 8058: mail clients show an unsubscribe button that POSTs to the link.
            headers = {
                "List-Unsubscribe": f"<{unsubscribe_url(delivery.member)}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        message = EmailMessage(subject, delivery.text, None, [delivery.address], headers=headers)
        try:
            message.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as error:
            raise SendError(f"address refused: {error}", retryable=False) from error
        except (smtplib.SMTPException, OSError) as error:
            raise SendError(f"mail server: {error}") from error
        return ""


class HttpJsonSender:
    """POSTs one JSON document per message; subclasses build the body and read the answer.

    Kept small on purpose: the HTTP exchange is the only part that differs per provider and
    it is tested against a fake provider on localhost.
    """

    url_setting = ""
    timeout = 10

    def url(self) -> str:
        url = getattr(settings, self.url_setting, "")
        if not url:
            raise SendError(f"{self.url_setting} is not configured", retryable=False)
        return url

    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json; charset=utf-8"}

    def body(self, delivery) -> dict:
        raise NotImplementedError

    def provider_id(self, answer: dict) -> str:
        raise NotImplementedError

    def send(self, delivery) -> str:
        if not delivery.address:
            raise SendError("no address for this channel", retryable=False)
        request = urllib.request.Request(  # noqa: S310 - the URL comes from settings
            self.url(),
            data=json.dumps(self.body(delivery), ensure_ascii=False).encode(),
            headers=self.headers(),
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = json.loads(response.read().decode() or "{}")
        except urllib.error.HTTPError as error:
            # 5xx and 429 are the provider's trouble: try again later. Other 4xx will not mend.
            retryable = error.code >= 500 or error.code == 429
            raise SendError(f"HTTP {error.code} from provider", retryable=retryable) from error
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise SendError(f"provider unreachable: {error}") from error
        except ValueError as error:
            raise SendError("provider answered with invalid JSON") from error
        return self.provider_id(answer)


class SmsSender(HttpJsonSender):
    """A generic SMS gateway: {"phone", "sign", "text"} -> {"code": "OK", "id": ...}."""

    url_setting = "CAMPAIGN_SMS_URL"

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "Authorization": f"Bearer {settings.CAMPAIGN_SMS_API_KEY}"}

    def body(self, delivery) -> dict:
        return {
            "phone": delivery.address,
            "sign": settings.CAMPAIGN_SMS_SIGN,
            "text": delivery.text,
        }

    def provider_id(self, answer: dict) -> str:
        if answer.get("code") != "OK":
            raise SendError(
                f"SMS gateway refused: {answer.get('message', answer)}", retryable=False
            )
        return str(answer.get("id", ""))


class WeChatSender(HttpJsonSender):
    """WeChat official-account template message to the member's OpenID.

    The access token is managed outside (it is refreshed every two hours by the account's
    own token service); errcode -1 means the platform is busy and is retried.
    """

    url_setting = "CAMPAIGN_WECHAT_URL"

    def url(self) -> str:
        return f"{super().url()}?access_token={settings.CAMPAIGN_WECHAT_ACCESS_TOKEN}"

    def body(self, delivery) -> dict:
        return {
            "touser": delivery.address,
            "template_id": settings.CAMPAIGN_WECHAT_TEMPLATE_ID,
            "data": {"content": {"value": delivery.text}},
        }

    def provider_id(self, answer: dict) -> str:
        code = answer.get("errcode", 0)
        if code != 0:
            raise SendError(
                f"WeChat errcode {code}: {answer.get('errmsg', '')}", retryable=code == -1
            )
        return str(answer.get("msgid", ""))


def sender_for(channel: str) -> Sender:
    path = getattr(settings, "CAMPAIGN_SENDERS", {}).get(channel, DEFAULT_SENDER)
    return import_string(path)()


# ---------------------------------------------------------------------------------------
# Inbound replies: each provider posts them in its own shape; a parser turns one callback
# body into {"id", "phone", "text", "received_at"} or raises ValueError.


def parse_generic_sms_reply(body: bytes) -> dict:
    """The generic gateway's callback: {"id", "phone", "text", "received_at" (ISO, optional)}."""
    data = json.loads(body.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not an object")
    message_id, phone, text = data.get("id"), data.get("phone"), data.get("text")
    if not all(isinstance(v, str) and v.strip() for v in (message_id, phone)):
        raise ValueError("id and phone are required")
    if not isinstance(text, str):
        raise ValueError("text is required")
    received = data.get("received_at")
    received_at = None
    if received is not None:
        if not isinstance(received, str):
            raise ValueError("received_at must be an ISO time")
        from django.utils.dateparse import parse_datetime

        received_at = parse_datetime(received)
        if received_at is None or received_at.tzinfo is None:
            raise ValueError("received_at must be an ISO time with its offset")
    return {
        "id": message_id.strip()[:100],
        "phone": phone.strip()[:30],
        "text": text,
        "received_at": received_at,
    }


SMS_REPLY_PARSERS = {"generic": parse_generic_sms_reply}
