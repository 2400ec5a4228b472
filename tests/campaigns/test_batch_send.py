"""Sending in rounds: provider batches, concurrent calls for providers that cannot batch, each
message claimed before it is sent and recorded exactly once, per-message answers."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from benchmarks.fake_sms_gateway import FakeSmsGateway
from campaigns import services
from campaigns.models import Channel, Delivery, DeliveryKind, DeliveryStatus
from tests.campaigns.factories_services import MemberFactory
from tests.clock import local_today_at
from tests.factories import StoreFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

NOON = local_today_at(12)


@pytest.fixture
def gateway():
    fake = FakeSmsGateway(latency=0, max_batch=100).start()
    yield fake
    fake.close()


@pytest.fixture
def batching(settings, gateway):
    """The SMS backend on the fake gateway's batch endpoint: 100 numbers a call, 2 calls at once."""
    settings.CAMPAIGN_SENDERS = {"sms": "campaigns.senders.SmsSender"}
    settings.CAMPAIGN_SMS_URL = gateway.single_url
    settings.CAMPAIGN_SMS_BATCH_URL = gateway.batch_url
    settings.CAMPAIGN_SMS_BATCH_SIZE = 100
    settings.CAMPAIGN_SMS_API_KEY = "key"
    settings.CAMPAIGN_SMS_SIGN = "【甲连锁】"
    settings.CAMPAIGN_SEND_CONCURRENCY = 2
    return gateway


@pytest.fixture
def member(in_tenant):
    return MemberFactory(home_store=StoreFactory(), phone="13900001111", name="赵敏")


def queue(member, count: int, *, start: int = 0) -> list[Delivery]:
    """`count` due SMS to distinct numbers (the gateway counts what it got per number)."""
    rows = [
        Delivery(
            key=f"survey:{n}",
            kind=DeliveryKind.SURVEY,
            member=member,
            channel=Channel.SMS,
            address=f"139{n:08d}",
            text=f"请评价本次服务 {n}",
            is_marketing=False,
            next_attempt_at=NOON,
        )
        for n in range(start, start + count)
    ]
    return Delivery.objects.bulk_create(rows)


def statuses() -> dict[str, int]:
    found: dict[str, int] = {}
    for status in Delivery.objects.values_list("status", flat=True):
        found[status] = found.get(status, 0) + 1
    return found


def test_a_batch_send_marks_each_message_exactly_once(member, batching):
    queue(member, 250)

    result = services.deliveries_dispatch(now=NOON, limit=1000)

    assert (result["sent"], result["failed"], result["retry"]) == (250, 0, 0)
    # Rounds of 200 (2 calls of 100 at once) then 50: three calls, none over the gateway's 100.
    assert (batching.calls, batching.largest_batch) == (3, 100)
    assert set(batching.received.values()) == {1}
    assert len(batching.received) == 250
    rows = list(Delivery.objects.values_list("status", "attempts", "provider_id", "sent_at"))
    assert {(status, attempts) for status, attempts, _id, _at in rows} == {(DeliveryStatus.SENT, 1)}
    # Each message keeps its own provider id, in order.
    assert len({provider_id for _s, _a, provider_id, _at in rows}) == 250
    assert all(sent_at is not None for *_rest, sent_at in rows)
    # Nothing is sent again.
    assert services.deliveries_dispatch(now=NOON + datetime.timedelta(hours=1))["sent"] == 0
    assert batching.total_received() == 250


def test_each_number_of_a_batch_gets_its_own_answer(member, batching):
    rows = queue(member, 5)
    batching.refuse = {rows[1].address, rows[3].address}

    result = services.deliveries_dispatch(now=NOON)

    assert (result["sent"], result["failed"]) == (3, 2)
    assert batching.calls == 1
    found = {d.address: d for d in Delivery.objects.all()}
    refused = found[rows[1].address]
    assert refused.status == DeliveryStatus.FAILED
    assert refused.last_error == f"SMS gateway refused: 号码错误 {rows[1].address}"
    assert found[rows[0].address].status == DeliveryStatus.SENT
    assert found[rows[0].address].provider_id.startswith("fake-")
    # A refused number is final: the next tick sends nothing.
    assert services.deliveries_dispatch(now=NOON + datetime.timedelta(hours=1))["sent"] == 0
    assert batching.total_received() == 5


def test_a_whole_batch_refused_by_a_gateway_in_trouble_is_retried_later(member, batching):
    queue(member, 3)
    batching.status = 503

    assert services.deliveries_dispatch(now=NOON)["retry"] == 3
    assert {d.last_error for d in Delivery.objects.all()} == {"HTTP 503 from provider"}

    batching.status = 200
    later = Delivery.objects.first().next_attempt_at
    assert services.deliveries_dispatch(now=later)["sent"] == 3
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {2}


def test_a_batch_answer_that_does_not_list_every_message_fails_them_without_resending(
    member, batching, monkeypatch
):
    queue(member, 4)
    # The gateway took the call but its answer lists one result for four numbers: it may
    # have sent them all, so none is retried.
    monkeypatch.setattr(
        FakeSmsGateway, "_handle", lambda self, path, body: (200, {"code": "OK", "results": [{}]})
    )

    assert services.deliveries_dispatch(now=NOON)["failed"] == 4
    assert Delivery.objects.filter(last_error__startswith="sender error").count() == 4
    assert services.deliveries_dispatch(now=NOON + datetime.timedelta(hours=1))["sent"] == 0


def test_a_provider_that_cannot_batch_is_sent_one_by_one_concurrently(member, batching, settings):
    settings.CAMPAIGN_SMS_BATCH_URL = ""  # the gateway's single-number endpoint only
    settings.CAMPAIGN_SEND_CONCURRENCY = 4
    batching.latency = 0.2  # calls overlap when they are made at once
    queue(member, 12)

    assert services.deliveries_dispatch(now=NOON)["sent"] == 12

    assert (batching.calls, batching.largest_batch) == (12, 1)
    assert set(batching.received.values()) == {1}
    # At once, but never more than CAMPAIGN_SEND_CONCURRENCY calls.
    assert 2 <= batching.most_in_flight <= 4


@pytest.mark.postgres
def test_a_rounds_queries_do_not_grow_with_its_size(member, batching):
    def dispatch_queries(count: int, start: int) -> int:
        queue(member, count, start=start)
        with CaptureQueriesContext(connection) as queries:
            assert services.deliveries_dispatch(now=NOON)["sent"] == count
        return len(queries.captured_queries)

    services.campaign_settings()  # created on first use: not part of a round
    # Sweep for interrupted rows, the rules (quiet hours), claim, record, the empty claim.
    assert dispatch_queries(3, 0) == dispatch_queries(200, 100) == 5


def test_two_dispatchers_at_once_send_each_message_once(member, batching, settings, monkeypatch):
    """The second dispatcher runs while the first one's round is at the gateway."""
    from campaigns.senders import SmsSender

    queue(member, 30)
    settings.CAMPAIGN_SMS_BATCH_SIZE = 10
    settings.CAMPAIGN_SEND_CONCURRENCY = 1
    inner: list[dict] = []
    call = SmsSender.send_call

    def call_then_dispatch_again(self, deliveries):
        answer = call(self, deliveries)
        if not inner:
            inner.append({})  # once: the second dispatcher's own calls go straight through
            inner[0] = services.deliveries_dispatch(now=NOON, limit=1000)
        return answer

    monkeypatch.setattr(SmsSender, "send_call", call_then_dispatch_again)

    outer = services.deliveries_dispatch(now=NOON, limit=1000)

    assert (outer["sent"], inner[0]["sent"]) == (10, 20)
    assert set(batching.received.values()) == {1}
    assert len(batching.received) == 30
    assert statuses() == {DeliveryStatus.SENT: 30}
