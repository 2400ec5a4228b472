"""Two campaigns started at the same moment still respect the frequency cap (PostgreSQL)."""

from __future__ import annotations

import pytest

from campaigns import services
from campaigns.models import Campaign, CampaignRun, Channel, Delivery, DeliveryStatus
from tenancy.context import tenant_context
from tests.campaigns.factories_services import MemberFactory
from tests.concurrency.threads import run_threads
from tests.factories import StoreFactory, TenantFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MEMBERS = 30


def test_two_concurrent_runs_never_send_a_member_past_the_cap():
    tenant = TenantFactory(slug="cap-race")
    with tenant_context(tenant):
        store = StoreFactory()
        members = [
            MemberFactory(home_store=store, phone=f"1390000{n:04d}", marketing_consent=True)
            for n in range(MEMBERS)
        ]
        rules = services.campaign_settings()
        rules.frequency_cap = 1
        rules.quiet_start = rules.quiet_end  # no quiet hours, whatever the hour of the run
        rules.save()
        campaigns = [
            Campaign.objects.create(name=f"活动{n}", channel=Channel.SMS, template="{name}您好")
            for n in range(2)
        ]

    def run(index: int):
        with tenant_context(tenant):
            return services.campaign_run(campaign=campaigns[index])

    results = run_threads(2, run)

    assert not [r for r in results if isinstance(r, Exception)], results
    with tenant_context(tenant):
        live = Delivery.objects.filter(is_marketing=True, status=DeliveryStatus.QUEUED)
        assert live.count() == MEMBERS  # one message each, not two
        assert sorted(live.values_list("member_id", flat=True)) == sorted(m.pk for m in members)
        runs = CampaignRun.objects.order_by("targeted")
        assert [(r.targeted, r.excluded_cap) for r in runs] == [(0, MEMBERS), (MEMBERS, 0)]
