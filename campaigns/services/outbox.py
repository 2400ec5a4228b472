"""The outbox: queueing messages once per key, the dispatcher, sending outside transactions,
retries.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import (
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
)
from campaigns.senders import Sender, SendError, SendResult, send_concurrency, sender_for
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
from tenancy.context import current_tenant

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


# What a claim hands the sender: every column a backend or the result record reads.
_CLAIMED_COLUMNS = (
    "id", "key", "kind", "member_id", "campaign_id", "run_id", "channel", "address", "text",
    "is_marketing", "attempts",
)  # fmt: skip


def _claim_postgres(
    *, now: datetime.datetime, limit: int, ids: list[int] | None, held: tuple[str, ...],
    sizes: dict[str, int],
) -> list[Delivery]:  # fmt: skip
    """Claim one round in one statement: the channel of the oldest due message, as many of
    its due messages as its backend sends at once (`sizes`), at most `limit`;
    queued -> sending, attempts + 1, committed before any is sent.

    SKIP LOCKED lets two workers claim side by side without waiting for each other or taking
    the same row; the outer `status = 'queued'` makes the claim the only way into "sending".
    One channel per round because one backend sends it.
    """
    tenant_id = current_tenant().pk
    only_ids = "AND id = ANY(%(ids)s)" if ids is not None else ""
    due = (
        "tenant_id = %(tenant)s AND status = 'queued' AND next_attempt_at <= %(now)s "
        f"AND NOT (channel = ANY(%(held)s)) {only_ids}"
    )
    returning = ", ".join(f"d.{column}" for column in _CLAIMED_COLUMNS)
    # The picked ids are a CTE, run once: as `id IN (SELECT ... LIMIT n SKIP LOCKED)` the
    # planner may run the subquery again per row, each time skipping the rows just claimed,
    # and claim more than n (seen in the tests).
    sql = (
        f"WITH head AS (SELECT channel FROM campaigns_delivery WHERE {due} "  # noqa: S608 - no user text
        "ORDER BY next_attempt_at, id LIMIT 1), "
        f"picked AS MATERIALIZED (SELECT id FROM campaigns_delivery WHERE {due} "
        "AND channel = (SELECT channel FROM head) ORDER BY next_attempt_at, id "
        "LIMIT LEAST(%(limit)s, (SELECT (%(sizes)s::jsonb ->> channel)::int FROM head)) "
        "FOR UPDATE SKIP LOCKED) "
        "UPDATE campaigns_delivery AS d SET status = 'sending', attempts = d.attempts + 1, "
        "next_attempt_at = %(now)s FROM picked WHERE d.tenant_id = %(tenant)s "
        f"AND d.id = picked.id AND d.status = 'queued' RETURNING {returning}"
    )
    params = {
        "tenant": tenant_id, "now": now, "limit": limit, "ids": ids, "held": list(held),
        "sizes": json.dumps(sizes),
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # RETURNING hands back the stored form: the address and text are sealed at rest, so each
    # column goes through its field's converter as a queryset's rows would.
    converters = [
        getattr(Delivery._meta.get_field(column), "from_db_value", None)
        for column in _CLAIMED_COLUMNS
    ]
    claimed = [
        Delivery(tenant_id=tenant_id, status=DeliveryStatus.SENDING, next_attempt_at=now,
                 **{column: convert(value, None, connection) if convert else value
                    for column, convert, value in zip(_CLAIMED_COLUMNS, converters, row,
                                                      strict=True)})
        for row in rows
    ]  # fmt: skip
    return sorted(claimed, key=lambda delivery: delivery.pk)


def _claim_one_by_one(
    *, now: datetime.datetime, limit: int, ids: list[int] | None, held: tuple[str, ...],
    sizes: dict[str, int],
) -> list[Delivery]:  # fmt: skip
    """SQLite (trying the CRM out): the same claim, one conditional update per message; the
    row count says who won. SQLite lets one writer in at a time, so there is no race to skip."""
    due = Delivery.objects.filter(status=DeliveryStatus.QUEUED, next_attempt_at__lte=now).exclude(
        channel__in=held
    )
    if ids is not None:
        due = due.filter(pk__in=ids)
    first = due.order_by("next_attempt_at", "pk").values_list("channel", flat=True).first()
    if first is None:
        return []
    claimed = []
    for pk in (
        due.filter(channel=first)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[: min(limit, sizes[first])]
    ):
        if Delivery.objects.filter(pk=pk, status=DeliveryStatus.QUEUED).update(
            status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, next_attempt_at=now
        ):
            claimed.append(pk)
    return list(Delivery.objects.filter(pk__in=claimed).order_by("next_attempt_at", "pk"))


def _claim(
    *, now: datetime.datetime, limit: int, ids: list[int] | None = None, held=(), sizes=None
) -> list[Delivery]:
    sizes = sizes or _round_sizes()
    claim = _claim_postgres if connection.vendor == "postgresql" else _claim_one_by_one
    return claim(now=now, limit=limit, ids=ids, held=tuple(held), sizes=sizes)


def _round_sizes() -> dict[str, int]:
    """Messages per round for each channel: what its backend sends at once (no I/O)."""
    return {channel: sender_for(channel).round_size() for channel in Channel.values}


def _outcome(delivery: Delivery, result: SendResult, now: datetime.datetime) -> dict:
    """What to write for one message's answer: sent, queued again with backoff, or failed."""
    if not isinstance(result, SendError):
        return {"status": DeliveryStatus.SENT, "provider_id": str(result)[:100],
                "last_error": None, "next_attempt_at": None, "sent_at": timezone.now()}  # fmt: skip
    if result.retryable and delivery.attempts < MAX_ATTEMPTS:
        return {"status": DeliveryStatus.QUEUED, "provider_id": None,
                "last_error": str(result)[:300],
                "next_attempt_at": now + _backoff(delivery.attempts), "sent_at": None}  # fmt: skip
    return {"status": DeliveryStatus.FAILED, "provider_id": None,
            "last_error": str(result)[:300], "next_attempt_at": None, "sent_at": None}  # fmt: skip


def _record(outcomes: list[tuple[int, dict]]) -> None:
    """Write a round's answers; on PostgreSQL in one statement however many there are.

    Only rows still "sending" are written: a row is never moved out of a state another
    writer (the interrupted sweep) already decided.
    """
    if not outcomes:
        return
    if connection.vendor != "postgresql":
        for pk, values in outcomes:
            Delivery.objects.filter(pk=pk, status=DeliveryStatus.SENDING).update(
                **{key: value for key, value in values.items() if value is not None}
            )
        return
    columns = ("status", "provider_id", "last_error", "next_attempt_at", "sent_at")
    arrays = [[pk for pk, _values in outcomes]]
    arrays += [[values[column] for _pk, values in outcomes] for column in columns]
    # A None keeps what the row holds (a success keeps the last error it had, a failure its
    # empty provider id): the same fields the per-message updates used to write.
    sql = (
        "UPDATE campaigns_delivery AS d SET status = r.status, "
        "provider_id = COALESCE(r.provider_id, d.provider_id), "
        "last_error = COALESCE(r.last_error, d.last_error), "
        "next_attempt_at = COALESCE(r.next_attempt_at, d.next_attempt_at), "
        "sent_at = COALESCE(r.sent_at, d.sent_at) "
        "FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::varchar[], "
        "%s::timestamptz[], %s::timestamptz[]) "
        "AS r(id, status, provider_id, last_error, next_attempt_at, sent_at) "
        "WHERE d.tenant_id = %s AND d.id = r.id AND d.status = 'sending'"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*arrays, current_tenant().pk])


def _with_members(deliveries: list[Delivery]) -> None:
    """E-mail backends read the member (the unsubscribe link) in the send threads, which must
    not query: one query loads them here."""
    wanted = {d.member_id for d in deliveries if d.channel == Channel.EMAIL}
    if not wanted:
        return
    members = Customer.objects.in_bulk(wanted)
    for delivery in deliveries:
        if delivery.member_id in members:
            delivery.member = members[delivery.member_id]


def _hand_over(deliveries: list[Delivery], sender: Sender) -> list[SendResult]:
    """One round to its backend in one `send_batch`, outside any transaction and without
    touching the database (it may run in a thread of its own); one result per message."""
    try:
        results = sender.send_batch(deliveries)
        if len(results) != len(deliveries):
            raise ValueError(f"{len(results)} answers for {len(deliveries)} messages")
    except Exception as caught:  # noqa: BLE001 - a broken backend or setting
        # Not let out: it would leave the round "sending" and stop the dispatcher before
        # the rest of the queue. Not retried either: the provider may have taken the
        # messages before the backend broke, and a message is never sent twice.
        logger.exception("Sender for %s failed on %s messages", deliveries[0].channel,
                         len(deliveries))  # fmt: skip
        error = caught if isinstance(caught, SendError) else None
        error = error or SendError(f"sender error: {caught!r}", retryable=False)
        results = [error] * len(deliveries)
    return results


def _record_round(
    deliveries: list[Delivery], results: list[SendResult], now: datetime.datetime
) -> dict[str, int]:
    """Record every answer of a round at once. Returns counts by outcome."""
    counts = {"sent": 0, "failed": 0, "retry": 0}
    outcomes = []
    for delivery, result in zip(deliveries, results, strict=True):
        values = _outcome(delivery, result, now)
        outcomes.append((delivery.pk, values))
        status = values["status"]
        counts[{"sent": "sent", "queued": "retry", "failed": "failed"}[status]] += 1
    _record(outcomes)
    return counts


def _send_round(deliveries: list[Delivery], now: datetime.datetime) -> dict[str, int]:
    _with_members(deliveries)
    results = _hand_over(deliveries, sender_for(deliveries[0].channel))
    return _record_round(deliveries, results, now)


def delivery_send(*, delivery_id: int, now: datetime.datetime | None = None) -> str:
    """Send one queued message: claim it, call the sender outside any transaction, record.

    Returns the status it ended in, or "" when another worker had claimed it.
    """
    now = _now(now)
    claimed = _claim(now=now, limit=1, ids=[delivery_id])
    if not claimed:
        return ""
    counts = _send_round(claimed, now)
    if counts["sent"]:
        return DeliveryStatus.SENT
    return DeliveryStatus.QUEUED if counts["retry"] else DeliveryStatus.FAILED


def _due_messages(
    now: datetime.datetime, *, ids: list[int] | None = None
) -> tuple[QuerySet[Delivery], int, int, tuple[str, ...]]:
    """Queued messages due now, after marking interrupted ones and holding SMS/WeChat in quiet
    hours.

    Returns (due messages, how many were marked unknown, how many were held, the channels
    held now).
    """
    unknown = _mark_interrupted(now)
    due = Delivery.objects.filter(status=DeliveryStatus.QUEUED, next_attempt_at__lte=now)
    if ids is not None:
        due = due.filter(pk__in=ids)
    held = 0
    release_at = quiet_hours_end(now, campaign_settings())
    if release_at is None:
        return due, unknown, held, ()
    held = due.filter(channel__in=QUIET_CHANNELS).update(next_attempt_at=release_at)
    return due.exclude(channel__in=QUIET_CHANNELS), unknown, held, QUIET_CHANNELS


def deliveries_due_batches(
    *, now: datetime.datetime | None = None, limit: int = DISPATCH_SCAN, batch_size: int = BATCH
) -> list[list[int]]:
    """Ids of due messages, oldest first, cut into batches that workers send in parallel.

    A message in two batches (a slow worker, the next beat tick) is still sent once: each
    send claims its row first. `limit` bounds one tick's work; the next tick takes the rest.
    """
    due, _unknown, _held, _channels = _due_messages(_now(now))
    ids = list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
    return [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]


def deliveries_dispatch(
    *, now: datetime.datetime | None = None, limit: int = BATCH, ids: list[int] | None = None
) -> dict[str, int]:
    """Send due messages (oldest first), up to `limit`; returns counts by outcome.

    In rounds: claim as many messages of one channel as its backend sends at once (one
    statement), hand them over in one `send_batch` (provider batches, concurrent calls),
    record every answer (one statement). A crash leaves at most one round "sending", which
    the next dispatcher marks unknown after STUCK_AFTER, never sent again.
    Inside quiet hours phone and WeChat messages wait for the end of them.
    """
    now = _now(now)
    result = {"sent": 0, "failed": 0, "retry": 0, "held": 0, "unknown": 0}
    _due, result["unknown"], result["held"], held = _due_messages(now, ids=ids)
    sizes = _round_sizes()
    remaining = limit
    if send_concurrency() == 1:
        # One call at a time, all in this thread: the order is the queue's, nothing overlaps.
        while remaining > 0:
            claimed = _claim(now=now, limit=remaining, ids=ids, held=held, sizes=sizes)
            if not claimed:
                break
            remaining -= len(claimed)
            for key, count in _send_round(claimed, now).items():
                result[key] += count
        return result
    # Pipelined: while one round is at the provider (a courier thread), this thread records
    # the round before and claims the next, so the database work hides behind the provider's
    # latency. At most two rounds are "sending" at once.
    in_flight: tuple[list[Delivery], Future] | None = None
    with ThreadPoolExecutor(max_workers=1) as courier:
        while True:
            claimed = []
            if remaining > 0:
                claimed = _claim(now=now, limit=remaining, ids=ids, held=held, sizes=sizes)
            if claimed:
                remaining -= len(claimed)
                _with_members(claimed)
                sender = sender_for(claimed[0].channel)
                future = courier.submit(contextvars.copy_context().run, _hand_over, claimed, sender)
            if in_flight is not None:
                counts = _record_round(in_flight[0], in_flight[1].result(), now)
                for key, count in counts.items():
                    result[key] += count
            if not claimed:
                break
            in_flight = (claimed, future)
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
