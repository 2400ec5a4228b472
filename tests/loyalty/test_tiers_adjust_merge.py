"""Tiers (upgrade at the sale, downgrade only at review), adjustments, member merges."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty import services
from loyalty.models import EntryKind, PointsEntry
from tenancy.models import AuditEvent, Role
from tests.conftest import make_staff
from tests.factories import CustomerFactory
from tests.loyalty.conftest import account_of, assert_balanced, at, earn
from tests.loyalty.factories import standard_tiers

pytestmark = pytest.mark.clock


@pytest.fixture
def tiers(in_tenant):
    return standard_tiers()


def tier_of(member) -> str:
    member.refresh_from_db()
    account = account_of(member)
    assert member.tier_code == account.tier.code  # mirrored onto the member row
    return account.tier.code


def test_upgrade_happens_at_the_qualifying_sale(member, tiers):
    earn(member, "sale:1", "600", at(2026, 1, 10))
    assert tier_of(member) == "NORMAL"
    entry = earn(member, "sale:2", "400", at(2026, 2, 10))  # 1000 within 12 months
    assert entry.points == 400  # earned at the multiplier held before the sale
    assert tier_of(member) == "SILVER"
    assert account_of(member).tier_changed_at == at(2026, 2, 10)
    assert earn(member, "sale:3", "100", at(2026, 2, 11)).points == 150
    assert AuditEvent.objects.filter(action="loyalty.tier_changed").count() == 1  # 银卡


def test_spend_outside_the_rolling_window_does_not_count(member, tiers):
    earn(member, "sale:1", "600", at(2025, 1, 10))
    earn(member, "sale:2", "600", at(2026, 2, 10))
    assert tier_of(member) == "NORMAL"


def test_purchase_count_qualifies_too(member, tiers):
    tiers[1].min_purchases = 3
    tiers[1].save()
    for n in range(3):
        earn(member, f"sale:{n}", "10", at(2026, 1, 10 + n))
    assert tier_of(member) == "SILVER"


def test_downgrade_only_at_evaluation_on_the_anniversary_one_tier_at_a_time(member, tiers):
    earn(member, "sale:1", "25000", at(2026, 1, 10))  # straight to 钻石
    assert tier_of(member) == "DIAMOND"
    services.points_reverse_for_refund(
        customer=member, source_key="refund:1", original_source_key="sale:1",
        refunded_amount=Decimal("25000"), store=None, occurred_at=at(2026, 1, 11),
    )  # fmt: skip
    assert tier_of(member) == "DIAMOND"  # a refund never downgrades by itself
    assert services.tiers_evaluate(now=at(2026, 12, 31))["downgraded"] == 0
    assert tier_of(member) == "DIAMOND"  # not yet the anniversary
    assert services.tiers_evaluate(now=at(2027, 1, 10, 13))["downgraded"] == 1
    assert tier_of(member) == "GOLD"  # one step, although nothing qualifies any more
    assert services.tiers_evaluate(now=at(2027, 6, 1))["downgraded"] == 0
    assert services.tiers_evaluate(now=at(2028, 1, 10, 13))["downgraded"] == 1
    assert tier_of(member) == "SILVER"


def test_a_member_who_still_qualifies_keeps_the_tier_until_the_next_anniversary(member, tiers):
    earn(member, "sale:1", "1200", at(2026, 1, 10))
    earn(member, "sale:2", "1200", at(2026, 12, 10))
    assert services.tiers_evaluate(now=at(2027, 1, 10, 13)) == {
        "upgraded": 0, "downgraded": 0, "grace": 0, "kept": 1
    }  # fmt: skip
    assert tier_of(member) == "SILVER"
    assert account_of(member).tier_review_at == at(2028, 1, 10)


def test_configured_downgrade_steps_allow_a_bigger_drop(member, tiers):
    tiers[3].max_downgrade_steps = 3
    tiers[3].save()
    earn(member, "sale:1", "25000", at(2026, 1, 10))
    services.tiers_evaluate(now=at(2027, 2, 1))
    assert tier_of(member) == "NORMAL"


def test_renaming_a_tier_renames_it_on_its_members(member, tiers):
    earn(member, "sale:1", "1000", at(2026, 1, 10))
    silver = tiers[1]
    silver.name = "白银卡"
    services.tier_save(tier=silver, staff=None)
    member.refresh_from_db()
    assert member.tier_name == "白银卡"


@pytest.mark.parametrize(
    ("role", "points", "allowed"),
    [
        (Role.STORE_MANAGER, 500, True),
        (Role.STORE_MANAGER, 501, False),
        (Role.STORE_MANAGER, -501, False),
        (Role.HQ_ADMIN, 5000, True),
        (Role.CLERK, 1, False),
        (Role.HQ_STAFF, 1, False),
    ],
)
def test_adjustment_limits_per_role(member, store, role, points, allowed):
    staff = make_staff(member.tenant, role, store)
    if allowed:
        entry = services.points_adjust(customer=member, points=points, reason="补录", staff=staff)
        assert entry.kind == EntryKind.ADJUST
        assert assert_balanced(member) == points
        event = AuditEvent.objects.get(action="loyalty.points_adjusted")
        assert event.reason == "补录"
        assert event.actor_id == staff.user_id
    else:
        with pytest.raises(services.PointsError):
            services.points_adjust(customer=member, points=points, reason="补录", staff=staff)
        assert not PointsEntry.objects.exists()


def test_an_adjustment_needs_a_reason_and_cannot_remove_more_than_is_there(member, store):
    staff = make_staff(member.tenant, Role.HQ_ADMIN)
    with pytest.raises(services.PointsError) as error:
        services.points_adjust(customer=member, points=10, reason="  ", staff=staff)
    assert error.value.code == "no_reason"
    services.points_adjust(customer=member, points=30, reason="活动补偿", staff=staff)
    with pytest.raises(services.PointsError):
        services.points_adjust(customer=member, points=-31, reason="误操作", staff=staff)
    services.points_adjust(customer=member, points=-30, reason="误操作", staff=staff)
    assert assert_balanced(member) == 0


def test_merge_moves_lots_with_their_expiry_and_keeps_both_ledgers_balanced(store, tiers):
    source = CustomerFactory(home_store=store)
    target = CustomerFactory(home_store=store)
    earn(source, "sale:1", "1500", at(2026, 1, 10))  # 银卡
    earn(source, "sale:2", "100", at(2026, 5, 10))
    earn(target, "sale:3", "40", at(2026, 2, 10))
    services.points_merge(source=source, target=target)
    assert assert_balanced(source) == 0
    assert assert_balanced(target) == 1500 + 150 + 40
    expiries = sorted(account_of(target).lots.values_list("expires_on", "remaining"))
    assert [e.month for e, _ in expiries] == [1, 2, 5]
    assert tier_of(target) == "SILVER"
    kinds = set(PointsEntry.objects.values_list("kind", flat=True))
    assert {EntryKind.MERGE_IN, EntryKind.MERGE_OUT} <= kinds
    services.points_merge(source=source, target=target)  # repeated: nothing changes
    assert assert_balanced(target) == 1690
    assert PointsEntry.objects.filter(kind=EntryKind.MERGE_IN).count() == 1


def test_the_member_merged_event_moves_points_through_the_production_receiver(store, tiers):
    from customers.hooks import member_merged

    source = CustomerFactory(home_store=store)
    target = CustomerFactory(home_store=store)
    earn(source, "sale:1", "100", at(2026, 1, 10))
    member_merged.send(sender=type(source), source=source, target=target)
    assert assert_balanced(source) == 0
    assert assert_balanced(target) == 100


def test_members_from_before_any_tier_existed_get_one_at_the_next_evaluation(member):
    earn(member, "sale:1", "1500", at(2026, 1, 10))  # no tiers configured yet
    assert account_of(member).tier is None
    standard_tiers()
    assert services.tiers_evaluate(now=at(2026, 2, 1))["upgraded"] == 1
    assert tier_of(member) == "SILVER"
    assert services.tiers_evaluate(now=at(2026, 2, 1))["upgraded"] == 0


def test_merging_members_through_the_members_app_moves_their_points(store, tiers):
    from customers.services import customer_merge

    staff = make_staff(store.tenant, Role.HQ_ADMIN)
    source = CustomerFactory(home_store=store)
    target = CustomerFactory(home_store=store)
    earn(source, "sale:1", "300", at(2026, 1, 10))
    earn(target, "sale:2", "50", at(2026, 2, 10))
    customer_merge(source=source, target=target, staff=staff)
    assert assert_balanced(source) == 0
    assert assert_balanced(target) == 350
