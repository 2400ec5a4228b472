"""Birthday batches under real concurrency on PostgreSQL: two beat processes, one greeting."""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal

import pytest

from campaigns import services
from campaigns.models import BirthdayGreeting, Coupon, Delivery, DeliveryStatus
from loyalty.models import PointsEntry
from tenancy.context import tenant_context
from tests.campaigns.factories_services import MemberFactory, OfferFactory
from tests.concurrency.threads import run_threads
from tests.factories import StoreFactory, TenantFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.clock]


class RecordingSender:
    """Counts what reaches the provider, from any thread."""

    lock = threading.Lock()
    sent: list[int] = []

    def send(self, delivery) -> str:
        with RecordingSender.lock:
            RecordingSender.sent.append(delivery.member_id)
        return ""


@pytest.fixture
def recording(settings):
    settings.CAMPAIGN_SENDERS = {"sms": "tests.concurrency.test_campaigns_birthday.RecordingSender"}
    RecordingSender.sent = []
    yield RecordingSender
    RecordingSender.sent = []


@pytest.mark.parametrize("workers", [2, 4])
def test_the_same_batch_at_once_greets_each_member_exactly_once(recording, workers):
    tenant = TenantFactory(slug=f"birthday-race-{workers}")
    now = datetime.datetime(2026, 6, 10, 9, 30, tzinfo=tenant.zone)
    with tenant_context(tenant):
        store = StoreFactory()
        members = MemberFactory.create_batch(60, home_store=store, birth_month=6, birth_day=10)
        rules = services.campaign_settings()
        rules.birthday_offer = OfferFactory(
            value=Decimal("20"),
            valid_from=now - datetime.timedelta(days=30),
            valid_until=now + datetime.timedelta(days=30),
        )
        rules.birthday_points = 100
        rules.save()
        today, [batch] = services.birthday_batches(now=now)
    # Two beat processes (or a beat and a manual re-run) cut the same batch; the second
    # one lists the members in another order.
    batches = [batch if i % 2 == 0 else list(reversed(batch)) for i in range(workers)]

    def greet(index: int) -> int:
        with tenant_context(tenant):
            return services.birthday_send_batch(member_ids=batches[index], today=today, now=now)

    results = run_threads(workers, greet)

    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 60
    assert sorted(recording.sent) == sorted(m.pk for m in members)
    with tenant_context(tenant):
        assert BirthdayGreeting.objects.count() == 60
        assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 60
        assert Coupon.objects.count() == 60
        assert PointsEntry.objects.filter(source_key__startswith="birthday:2026:").count() == 60
        assert services.birthday_batches(now=now) == (today, [])
