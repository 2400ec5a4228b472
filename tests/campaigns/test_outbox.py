"""The outbox dispatcher: send, retry with backoff, fail with a reason, never send twice."""

from __future__ import annotations

import datetime

import pytest

from campaigns import services
from campaigns.models import CampaignSettings, Channel, Delivery, DeliveryKind, DeliveryStatus
from campaigns.senders import BaseSender, SendError
from tests.campaigns.factories_services import MemberFactory
from tests.clock import local_today_at
from tests.factories import StoreFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

NOON = local_today_at(12)
MINUTE = datetime.timedelta(minutes=1)


class ScriptedSender(BaseSender):
    """A provider whose answers the test writes: an exception to raise or an id to return.

    One message per call, one call at a time (CAMPAIGN_SEND_CONCURRENCY=1): the script is
    read in order. Batches and concurrency: tests/campaigns/test_batch_send.py.
    """

    script: list = []
    calls: list = []
    during_send = None

    def send(self, delivery) -> str:
        ScriptedSender.calls.append(delivery.pk)
        if ScriptedSender.during_send is not None:
            ScriptedSender.during_send(delivery)
        answer = ScriptedSender.script.pop(0) if ScriptedSender.script else "msg-ok"
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def sender(settings):
    settings.CAMPAIGN_SEND_CONCURRENCY = 1
    settings.CAMPAIGN_SENDERS = {
        "sms": "tests.campaigns.test_outbox.ScriptedSender",
        "email": "tests.campaigns.test_outbox.ScriptedSender",
    }
    ScriptedSender.script, ScriptedSender.calls, ScriptedSender.during_send = [], [], None
    yield ScriptedSender
    ScriptedSender.script, ScriptedSender.calls, ScriptedSender.during_send = [], [], None


@pytest.fixture
def member(in_tenant):
    return MemberFactory(home_store=StoreFactory(), phone="13900001111", name="赵敏")


def queued(member, key="survey:1", **kwargs) -> Delivery:
    delivery = services.message_queue(
        member=member, text="请评价本次服务", kind=DeliveryKind.SURVEY, key=key, **kwargs
    )
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=NOON)
    return delivery


def reload(delivery) -> Delivery:
    return Delivery.objects.get(pk=delivery.pk)


def test_a_due_message_is_sent_and_keeps_the_provider_id(member, sender):
    delivery = queued(member)
    sender.script = ["prov-123"]

    assert services.deliveries_dispatch(now=NOON) == {"sent": 1, "failed": 0, "retry": 0,
                                                       "held": 0, "unknown": 0}  # fmt: skip

    sent = reload(delivery)
    assert (sent.status, sent.provider_id, sent.attempts) == (DeliveryStatus.SENT, "prov-123", 1)
    assert sent.address == "13900001111"
    assert sent.sent_at is not None
    # A sent message is never picked again.
    assert services.deliveries_dispatch(now=NOON + MINUTE)["sent"] == 0
    assert sender.calls == [delivery.pk]


def test_a_message_not_yet_due_waits(member, sender):
    delivery = queued(member)
    assert services.deliveries_dispatch(now=NOON - MINUTE)["sent"] == 0
    assert reload(delivery).status == DeliveryStatus.QUEUED
    assert sender.calls == []


def test_retryable_failures_back_off_exponentially_then_fail_with_the_reason(member, sender):
    delivery = queued(member)
    sender.script = [SendError("gateway busy")] * services.MAX_ATTEMPTS
    now = NOON
    waits = []

    for _ in range(services.MAX_ATTEMPTS - 1):
        assert services.deliveries_dispatch(now=now)["retry"] == 1
        row = reload(delivery)
        assert (row.status, row.last_error) == (DeliveryStatus.QUEUED, "gateway busy")
        waits.append(row.next_attempt_at - now)
        # Not due again before its time.
        assert services.deliveries_dispatch(now=row.next_attempt_at - MINUTE / 2)["retry"] == 0
        now = row.next_attempt_at

    assert waits == [MINUTE, 2 * MINUTE, 4 * MINUTE, 8 * MINUTE]
    assert services.deliveries_dispatch(now=now)["failed"] == 1
    row = reload(delivery)
    assert (row.status, row.attempts, row.last_error) == (
        DeliveryStatus.FAILED,
        services.MAX_ATTEMPTS,
        "gateway busy",
    )
    assert services.deliveries_dispatch(now=now + datetime.timedelta(days=1))["failed"] == 0
    assert len(sender.calls) == services.MAX_ATTEMPTS


def test_a_retry_that_succeeds_ends_sent(member, sender):
    delivery = queued(member)
    sender.script = [SendError("timeout"), "prov-2"]
    services.deliveries_dispatch(now=NOON)
    services.deliveries_dispatch(now=NOON + MINUTE)
    row = reload(delivery)
    assert (row.status, row.attempts, row.provider_id) == (DeliveryStatus.SENT, 2, "prov-2")


def test_a_non_retryable_error_fails_at_once(member, sender):
    delivery = queued(member)
    sender.script = [SendError("number refused by operator", retryable=False)]

    assert services.deliveries_dispatch(now=NOON)["failed"] == 1

    row = reload(delivery)
    assert (row.status, row.attempts, row.last_error) == (
        DeliveryStatus.FAILED,
        1,
        "number refused by operator",
    )


def test_a_message_interrupted_while_sending_is_unknown_and_never_sent_again(member, sender):
    delivery = queued(member)
    # A worker claimed it at noon and died in the provider call.
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENDING, attempts=1, next_attempt_at=NOON
    )

    services.deliveries_dispatch(now=NOON + services.STUCK_AFTER - MINUTE)
    assert reload(delivery).status == DeliveryStatus.SENDING

    result = services.deliveries_dispatch(now=NOON + services.STUCK_AFTER + MINUTE)

    assert (result["unknown"], result["failed"]) == (1, 0)
    row = reload(delivery)
    # The provider may have it: "unknown", not "failed", and excluded from re-sending.
    assert row.status == DeliveryStatus.UNKNOWN
    assert "interrupted" in row.last_error
    services.deliveries_dispatch(now=NOON + datetime.timedelta(days=1))
    assert sender.calls == []


def test_two_dispatchers_cannot_send_one_message_twice(member, sender):
    delivery = queued(member)
    second_claims = []
    # While the first dispatcher is inside the provider call, a second one tries the row.
    sender.during_send = lambda row: second_claims.append(
        services.delivery_send(delivery_id=row.pk, now=NOON)
    )

    assert services.delivery_send(delivery_id=delivery.pk, now=NOON) == DeliveryStatus.SENT

    assert second_claims == [""]
    assert sender.calls == [delivery.pk]
    assert reload(delivery).attempts == 1


def test_the_dispatcher_sends_oldest_first_up_to_its_limit(member, sender):
    first = queued(member, key="survey:a")
    second = queued(member, key="survey:b")
    third = queued(member, key="survey:c")
    Delivery.objects.filter(pk=third.pk).update(next_attempt_at=NOON - 2 * MINUTE)

    assert services.deliveries_dispatch(now=NOON, limit=2)["sent"] == 2

    assert sender.calls == [third.pk, first.pk]
    assert reload(second).status == DeliveryStatus.QUEUED


def test_message_queue_is_once_per_key_and_needs_an_address(member, sender):
    assert services.message_queue(member=member, text="a", kind="survey", key="k:1") is not None
    assert services.message_queue(member=member, text="b", kind="survey", key="k:1") is None
    assert Delivery.objects.get(key="k:1").text == "a"
    # No e-mail address, no WeChat id: nothing to queue.
    assert services.message_queue(member=member, text="c", kind="survey",
                                  channel=Channel.EMAIL) is None  # fmt: skip
    assert services.message_queue(member=member, text="c", kind="survey",
                                  channel=Channel.WECHAT) is None  # fmt: skip
    erased = MemberFactory(home_store=member.home_store, is_erased=True)
    assert services.message_queue(member=erased, text="d", kind="survey") is None
    assert Delivery.objects.count() == 1
    assert Delivery.objects.get().is_marketing is False


def test_a_broken_sender_fails_its_message_and_the_queue_goes_on(member, sender):
    broken = queued(member, key="survey:broken")
    fine = queued(member, key="survey:fine")
    Delivery.objects.filter(pk=broken.pk).update(next_attempt_at=NOON - MINUTE)
    sender.script = [KeyError("msgid"), "prov-ok"]

    result = services.deliveries_dispatch(now=NOON)

    assert (result["failed"], result["sent"]) == (1, 1)
    row = reload(broken)
    assert row.status == DeliveryStatus.FAILED
    assert row.last_error == "sender error: KeyError('msgid')"
    assert reload(fine).status == DeliveryStatus.SENT
    # Never retried: the provider may already have had it.
    services.deliveries_dispatch(now=NOON + datetime.timedelta(hours=1))
    assert sender.calls == [broken.pk, fine.pk]


def test_due_messages_are_handed_out_in_batches_oldest_first(member, sender):
    later = [queued(member, key=f"survey:{n}") for n in range(5)]
    oldest = queued(member, key="survey:old")
    Delivery.objects.filter(pk=oldest.pk).update(next_attempt_at=NOON - 5 * MINUTE)
    not_due = queued(member, key="survey:later")
    Delivery.objects.filter(pk=not_due.pk).update(next_attempt_at=NOON + MINUTE)

    batches = services.deliveries_due_batches(now=NOON, batch_size=4)

    assert batches == [[oldest.pk, *[d.pk for d in later[:3]]], [d.pk for d in later[3:]]]
    assert sender.calls == []  # handing out sends nothing


def test_the_dispatch_task_sends_every_due_message_through_batch_tasks(
    member, sender, settings, in_tenant
):
    from campaigns import tasks

    # The task reads the real clock: no quiet hours, so it sends whatever the hour.
    CampaignSettings.objects.update_or_create(
        defaults={"quiet_start": datetime.time(0), "quiet_end": datetime.time(0)}
    )
    rows = [queued(member, key=f"survey:{n}") for n in range(3)]
    Delivery.objects.filter(pk__in=[r.pk for r in rows]).update(
        next_attempt_at=NOON - datetime.timedelta(days=1)
    )

    assert tasks.dispatch.delay(in_tenant.pk).get() == 1  # one batch for three messages

    assert sorted(sender.calls) == sorted(r.pk for r in rows)
    assert {reload(r).status for r in rows} == {DeliveryStatus.SENT}


def test_a_message_in_two_batches_is_sent_once(member, sender):
    delivery = queued(member)

    first = services.deliveries_dispatch(now=NOON, ids=[delivery.pk], limit=1)
    second = services.deliveries_dispatch(now=NOON, ids=[delivery.pk], limit=1)

    assert (first["sent"], second["sent"]) == (1, 0)
    assert sender.calls == [delivery.pk]
