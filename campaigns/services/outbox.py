"""The outbox: queueing messages once per key, the dispatcher, sending outside transactions,
retries.
"""

from __future__ import annotations

import datetime
import uuid

from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import (
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
)
from campaigns.senders import SendError, sender_for
from campaigns.services.common import (
    BATCH,
    DISPATCH_SCAN,
    MAX_ATTEMPTS,
    QUIET_CHANNELS,
    RETRY_BASE,
    STUCK_AFTER,
    _address,
    _now,
    _wechat_ids,
    campaign_settings,
    logger,
    quiet_hours_end,
)
from customers.models import Customer

# ---------------------------------------------------------------------------------------
# The outbox and its dispatcher


def message_queue(
    *,
    member: Customer,
    text: str,
    kind: str,
    key: str | None = None,
    channel: str = Channel.SMS,
) -> Delivery | None:
    """Queue one service message (survey link, anniversary, points expiry); None if the key
    was queued before or the member has no address for the channel."""
    if member.is_erased:
        return None
    wechat = _wechat_ids([member.pk]) if channel == Channel.WECHAT else {}
    address = _address(member, channel, wechat)
    if not address:
        return None
    delivery = Delivery(
        key=key or f"{kind}:{uuid.uuid4().hex}",
        kind=kind,
        member=member,
        channel=channel,
        address=address,
        text=text,
        is_marketing=False,
        next_attempt_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            delivery.save()
    except IntegrityError:
        return None
    return delivery


def send_via_outbox(*, member: Customer, text: str, kind: str) -> None:
    """interactions' survey_sender and greeting_sender hooks."""
    message_queue(member=member, text=text, kind=kind)


def _backoff(attempts: int) -> datetime.timedelta:
    return RETRY_BASE * (2 ** max(attempts - 1, 0))


def _mark_interrupted(now: datetime.datetime) -> int:
    """Messages cut off mid-send by a crash: "unknown", never sent a second time.

    Not "failed": the provider may well have delivered it before the worker died, and a
    member must never get a message twice. Only QUEUED rows are ever sent, so these stay put.
    """
    return Delivery.objects.filter(
        status=DeliveryStatus.SENDING, next_attempt_at__lt=now - STUCK_AFTER
    ).update(
        status=DeliveryStatus.UNKNOWN,
        last_error="interrupted while sending; the provider may have it; not sent again",
    )


def delivery_send(*, delivery_id: int, now: datetime.datetime | None = None) -> str:
    """Send one queued message: claim it, call the sender outside any transaction, record.

    Returns the status it ended in, or "" when another worker had claimed it.
    """
    now = _now(now)
    claimed = Delivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.QUEUED, next_attempt_at__lte=now
    ).update(status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, next_attempt_at=now)
    if not claimed:
        return ""
    delivery = Delivery.objects.get(pk=delivery_id)
    try:
        provider_id = sender_for(delivery.channel).send(delivery)
    except Exception as caught:  # noqa: BLE001 - SendError, or a broken adapter or setting
        error = caught
        if not isinstance(caught, SendError):
            # Not let out: it would leave the row "sending" and stop the dispatcher before
            # the rest of the queue. Not retried either: the provider may have taken the
            # message before the adapter broke, and a message is never sent twice.
            logger.exception("Sender for %s failed on delivery %s", delivery.channel, delivery.pk)
            error = SendError(f"sender error: {caught!r}", retryable=False)
        if error.retryable and delivery.attempts < MAX_ATTEMPTS:
            Delivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.QUEUED,
                next_attempt_at=now + _backoff(delivery.attempts),
                last_error=str(error)[:300],
            )
            return DeliveryStatus.QUEUED
        Delivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, last_error=str(error)[:300]
        )
        return DeliveryStatus.FAILED
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENT, sent_at=timezone.now(), provider_id=provider_id[:100]
    )
    return DeliveryStatus.SENT


def _due_messages(
    now: datetime.datetime, *, ids: list[int] | None = None
) -> tuple[QuerySet[Delivery], int, int]:
    """Queued messages due now, after marking interrupted ones and holding SMS/WeChat in quiet
    hours.

    Returns (due messages, how many were marked unknown, how many were held).
    """
    unknown = _mark_interrupted(now)
    due = Delivery.objects.filter(status=DeliveryStatus.QUEUED, next_attempt_at__lte=now)
    if ids is not None:
        due = due.filter(pk__in=ids)
    held = 0
    release_at = quiet_hours_end(now, campaign_settings())
    if release_at is not None:
        held = due.filter(channel__in=QUIET_CHANNELS).update(next_attempt_at=release_at)
        due = due.exclude(channel__in=QUIET_CHANNELS)
    return due, unknown, held


def deliveries_due_batches(
    *, now: datetime.datetime | None = None, limit: int = DISPATCH_SCAN, batch_size: int = BATCH
) -> list[list[int]]:
    """Ids of due messages, oldest first, cut into batches that workers send in parallel.

    A message in two batches (a slow worker, the next beat tick) is still sent once: each
    send claims its row first. `limit` bounds one tick's work; the next tick takes the rest.
    """
    due, _failed, _held = _due_messages(_now(now))
    ids = list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
    return [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]


def deliveries_dispatch(
    *, now: datetime.datetime | None = None, limit: int = BATCH, ids: list[int] | None = None
) -> dict[str, int]:
    """Send due messages (oldest first), up to `limit`; returns counts by outcome.

    Inside quiet hours phone and WeChat messages wait for the end of them.
    """
    now = _now(now)
    result = {"sent": 0, "failed": 0, "retry": 0, "held": 0, "unknown": 0}
    due, result["unknown"], result["held"] = _due_messages(now, ids=ids)
    for delivery_id in due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit]:
        outcome = delivery_send(delivery_id=delivery_id, now=now)
        if outcome == DeliveryStatus.SENT:
            result["sent"] += 1
        elif outcome == DeliveryStatus.FAILED:
            result["failed"] += 1
        elif outcome == DeliveryStatus.QUEUED:
            result["retry"] += 1
    return result


def points_expiry_notices_queue() -> int:
    """Turn loyalty's pending expiry notices into messages, once each (key per notice)."""
    from loyalty.selectors import expiry_notices_pending

    queued = 0
    for notice in expiry_notices_pending().order_by("pk")[:BATCH]:
        member = notice.account.customer
        text = _("%(name)s, %(points)s of your points expire on %(day)s. Use them in store.") % {
            "name": member.name,
            "points": notice.points,
            "day": notice.expires_on.isoformat(),
        }
        with transaction.atomic():
            if message_queue(
                member=member,
                text=text,
                kind=DeliveryKind.POINTS_EXPIRY,
                key=f"points_expiry:{notice.pk}",
            ):
                queued += 1
            type(notice).objects.filter(pk=notice.pk).update(sent_at=timezone.now())
    return queued
