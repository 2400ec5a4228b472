"""A store's optional monthly points cap (issue 19 §1): earned and hand-added points count;
at the cap the tenant chooses a refusal or an earn of 0 that says why; never an overrun."""

from __future__ import annotations

import pytest

from loyalty import services
from loyalty.models import IssuanceCapMode, StoreIssuance
from tenancy.models import AuditEvent, Role
from tests.factories import StaffMemberFactory
from tests.loyalty.conftest import account_of, assert_balanced, at, earn

pytestmark = pytest.mark.clock


@pytest.fixture
def capped(store):
    services.store_points_cap_set(store=store, monthly_cap=300, staff=None)
    return store


def test_sales_earn_up_to_the_cap_and_the_next_is_refused(member, capped):
    earn(member, "sale:1", "200", at(2026, 6, 1), store=capped)
    earn(member, "sale:2", "100", at(2026, 6, 2), store=capped)
    with pytest.raises(services.PointsError) as error:
        earn(member, "sale:3", "1", at(2026, 6, 3), store=capped)
    assert error.value.code == "over_cap"
    assert StoreIssuance.objects.get().issued == 300
    assert assert_balanced(member) == 300
    assert AuditEvent.objects.filter(action="loyalty.store_cap_changed").count() == 1


def test_a_new_month_on_the_tenants_clock_starts_again(member, capped):
    earn(member, "sale:1", "300", at(2026, 6, 30, 23, 30), store=capped)
    earn(member, "sale:2", "300", at(2026, 7, 1, 0, 30), store=capped)  # 16:30 UTC, 30 June
    assert assert_balanced(member) == 600


def test_earn_zero_with_the_reason_when_the_tenant_chooses_it(member, capped):
    rule = services.points_rule()
    rule.issuance_cap_mode = IssuanceCapMode.ZERO
    rule.save()
    earn(member, "sale:1", "250", at(2026, 6, 1), store=capped)
    entry = earn(member, "sale:2", "100", at(2026, 6, 2), store=capped)
    assert entry.points == 0
    assert "cap reached" in entry.reason
    assert StoreIssuance.objects.get().issued == 250
    assert assert_balanced(member) == 250


def test_hand_added_points_count_and_are_refused_at_the_cap(member, capped):
    admin = StaffMemberFactory(role=Role.HQ_ADMIN)
    earn(member, "sale:1", "250", at(2026, 6, 1), store=capped)
    with pytest.raises(services.PointsError) as error:
        services.points_adjust(
            customer=member, points=100, reason="补偿", staff=admin, now=at(2026, 6, 2)
        )
    assert error.value.code == "over_cap"
    services.points_adjust(
        customer=member, points=50, reason="补偿", staff=admin, now=at(2026, 6, 2)
    )
    assert account_of(member).balance == 300


def test_uncapped_stores_are_not_counted(member, store):
    earn(member, "sale:1", "100000", at(2026, 6, 1), store=store)
    assert not StoreIssuance.objects.exists()
