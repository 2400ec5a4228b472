"""Sender backends: one interface, one backend per channel chosen in settings.

A backend's `send(delivery)` returns the provider's message id ("" when there is none) or
raises SendError. `retryable=False` means trying again cannot help (a refused address, a
rejected template); the dispatcher then fails the message at once with the reason.

The dispatcher hands a backend many messages at once through `send_batch(deliveries)`, which
answers one result per message, in order: the provider's id or the SendError for that
message. A backend whose provider takes many recipients in one call (the SMS gateway's batch
endpoint) sets `batch_size` and implements `send_call` for one such call; one that cannot
keeps `batch_size = 1` and its messages go out one by one. Either way the calls of one
`send_batch` run concurrently, at most `CAMPAIGN_SEND_CONCURRENCY` at a time (a bounded
thread pool), so a 100 ms provider is not waited for one call after the other. Backends run
in those threads: they must not touch the database (the dispatcher loads what they read).

settings.CAMPAIGN_SENDERS maps each channel to a dotted class path. The default for every
channel is OutboxSender, which only records: the outbox page shows what would have gone out.
Provider adapters take their credentials from settings (see README, Configuration).
"""

from __future__ import annotations

import contextvars
import json
import logging
import smtplib
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

DEFAULT_SENDER = "campaigns.senders.OutboxSender"
# Provider calls in flight at once per worker process, when settings do not say.
DEFAULT_CONCURRENCY = 8


class SendError(Exception):
    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


# One message's answer from a batch: the provider's id, or why it was not taken.
SendResult = str | SendError


class Sender(Protocol):
    batch_size: int

    def send(self, delivery) -> str: ...

    def send_batch(self, deliveries: Sequence) -> list[SendResult]: ...

    def round_size(self) -> int: ...


def send_concurrency() -> int:
    return max(1, int(getattr(settings, "CAMPAIGN_SEND_CONCURRENCY", DEFAULT_CONCURRENCY)))


def _as_send_error(error: Exception) -> SendError:
    """A SendError as it is; anything else is a broken adapter or setting: not retried, since
    the provider may have taken the messages before the adapter broke."""
    if isinstance(error, SendError):
        return error
    return SendError(f"sender error: {error!r}", retryable=False)


class BaseSender:
    """`send_batch` for every backend: cut into provider calls of `batch_size`, run them
    concurrently on a bounded pool, and answer one result per message in order."""

    batch_size = 1

    def send(self, delivery) -> str:
        raise NotImplementedError

    def send_call(self, deliveries: Sequence) -> list[SendResult]:
        """One provider call for up to `batch_size` messages; a backend that cannot batch
        sends its one message."""
        [delivery] = deliveries
        return [self.send(delivery)]

    def round_size(self) -> int:
        """How many messages the dispatcher claims and hands over at once: enough to keep
        every concurrent call busy, and no more (a crash leaves at most these unknown)."""
        return self.batch_size * send_concurrency()

    def _call(self, deliveries: Sequence) -> list[SendResult]:
        try:
            results = self.send_call(deliveries)
            if len(results) != len(deliveries):
                raise ValueError(f"{len(results)} answers for {len(deliveries)} messages")
        except Exception as caught:  # noqa: BLE001 - the whole call failed: each message says why
            if not isinstance(caught, SendError):
                logger.exception("Sender %s failed on a call", type(self).__name__)
            error = _as_send_error(caught)
            return [error] * len(deliveries)
        return results

    def send_batch(self, deliveries: Sequence) -> list[SendResult]:
        size = max(1, self.batch_size)
        calls = [deliveries[i : i + size] for i in range(0, len(deliveries), size)]
        if len(calls) <= 1 or send_concurrency() == 1:
            answers = [self._call(call) for call in calls]
        else:
            # Each thread runs in a copy of this context: the tenant stays selected there
            # (an e-mail's unsubscribe link reads the tenant's public address).
            with ThreadPoolExecutor(max_workers=min(send_concurrency(), len(calls))) as pool:
                futures = [
                    pool.submit(contextvars.copy_context().run, self._call, call) for call in calls
                ]
                answers = [future.result() for future in futures]
        return [result for answer in answers for result in answer]


class OutboxSender(BaseSender):
    """Records the message as sent without leaving the building (demo, tests, in-store)."""

    # Nothing leaves: a round of 1,000 is answered at once, without threads.
    batch_size = 1000

    def send(self, delivery) -> str:
        return ""

    def send_batch(self, deliveries: Sequence) -> list[SendResult]:
        return [""] * len(deliveries)

    def round_size(self) -> int:
        return self.batch_size


class EmailSender(BaseSender):
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


class HttpJsonSender(BaseSender):
    """POSTs one JSON document per call; subclasses build the body and read the answer.

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
        return self.provider_id(self.post(self.url(), self.body(delivery)))

    def post(self, url: str, body: dict) -> dict:
        """One POST; the answer's JSON, or SendError saying whether a retry can help."""
        request = urllib.request.Request(  # noqa: S310 - the URL comes from settings
            url,
            data=json.dumps(body, ensure_ascii=False).encode(),
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
        if not isinstance(answer, dict):
            raise SendError("provider answered with invalid JSON")
        return answer


class SmsSender(HttpJsonSender):
    """A generic SMS gateway: {"phone", "sign", "text"} -> {"code": "OK", "id": ...}.

    With CAMPAIGN_SMS_BATCH_URL set, up to CAMPAIGN_SMS_BATCH_SIZE messages go in one call:
    {"sign", "messages": [{"phone", "text"}, ...]} -> {"code": "OK", "results": [{"code": "OK",
    "id"} or {"code": "<refusal>", "message"}, ...]}, one result per message in order. Each
    message carries its own text (one sign, like the big gateways' batch APIs that take one
    template and a parameter set per number), so personalised campaign texts batch too. A
    refusal of one number fails that message only; an error of the whole call (HTTP 5xx,
    timeout) is every message's error and is retried as for one message.
    """

    url_setting = "CAMPAIGN_SMS_URL"

    def __init__(self):
        self.batch_url = getattr(settings, "CAMPAIGN_SMS_BATCH_URL", "")
        self.batch_size = (
            max(1, int(getattr(settings, "CAMPAIGN_SMS_BATCH_SIZE", 100))) if self.batch_url else 1
        )

    def send_call(self, deliveries: Sequence) -> list[SendResult]:
        if self.batch_size == 1:
            return super().send_call(deliveries)
        # A message without a number is refused here; the others still go in the call.
        results: list[SendResult | None] = [
            None if d.address else SendError("no address for this channel", retryable=False)
            for d in deliveries
        ]
        sending = [d for d, result in zip(deliveries, results, strict=True) if result is None]
        if not sending:
            return results
        answer = self.post(
            self.batch_url,
            {
                "sign": settings.CAMPAIGN_SMS_SIGN,
                "messages": [{"phone": d.address, "text": d.text} for d in sending],
            },
        )
        if answer.get("code") != "OK":
            # The whole call refused (bad key, bad sign): no message of it was taken.
            raise SendError(
                f"SMS gateway refused: {answer.get('message', answer)}", retryable=False
            )
        each = answer.get("results")
        if not isinstance(each, list) or len(each) != len(sending):
            raise ValueError("the gateway's batch answer does not list every message")
        answers = iter(each)
        return [result if result is not None else self._one(next(answers)) for result in results]

    def _one(self, answer) -> SendResult:
        if not isinstance(answer, dict):
            return SendError(f"sender error: batch result {answer!r}", retryable=False)
        try:
            return self.provider_id(answer)
        except SendError as refused:
            return refused

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


class OneByOne(BaseSender):
    """A backend that only has `send` (a provider's own adapter written before batches): its
    messages go one per call, concurrently like any backend that cannot batch."""

    def __init__(self, backend):
        self.backend = backend

    def send(self, delivery) -> str:
        return self.backend.send(delivery)


def sender_for(channel: str) -> Sender:
    path = getattr(settings, "CAMPAIGN_SENDERS", {}).get(channel, DEFAULT_SENDER)
    backend = import_string(path)()
    return backend if hasattr(backend, "send_batch") else OneByOne(backend)


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
