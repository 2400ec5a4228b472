"""Redeeming (FIFO by expiry, minimum, idempotent) and reversing points on refunds."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from loyalty import services
from loyalty.models import EntryKind, LotDraw
from tenancy.models import AuditEvent
from tests.loyalty.conftest import assert_balanced, at, earn

pytestmark = pytest.mark.clock


@pytest.fixture(autouse=True)
def rule(in_tenant):
    rule = services.points_rule()
    rule.redeem_minimum = 10
    rule.expiry_months = 12
    rule.save()
    return rule


def redeem(member, points, key, when=None, store=None):
    return services.points_redeem(
        customer=member, points=points, source_key=key, store=store, staff=None,
        reason="毛巾", now=when or at(2026, 6, 1),
    )  # fmt: skip


def test_redemption_draws_the_earliest_expiring_lot_first(member):
    march = earn(member, "sale:2", "50", at(2026, 3, 1)).lots.get()
    january = earn(member, "sale:1", "30", at(2026, 1, 1)).lots.get()
    entry = redeem(member, 40, "r:1")
    draws = {d.lot_id: d.points for d in LotDraw.objects.filter(entry=entry)}
    assert draws == {january.pk: 30, march.pk: 10}
    assert assert_balanced(member) == 40
    assert AuditEvent.objects.filter(action="loyalty.points_redeemed").count() == 1


def test_points_value_and_points_for_value(in_tenant):
    assert services.points_value(points=250) == Decimal("2.50")
    assert services.points_value(points=199) == Decimal("1.99")
    assert services.points_for_value(value=Decimal("1.005")) == 101


def test_insufficient_balance_and_minimum_are_refused_in_chinese(member):
    earn(member, "sale:1", "50", at(2026, 3, 1))
    with pytest.raises(services.PointsError) as error:
        redeem(member, 60, "r:1")
    with translation.override("zh-hans"):
        assert "积分不足：可用 50，需要 60。" in error.value.messages
    with pytest.raises(services.PointsError) as error:
        redeem(member, 5, "r:2")
    assert error.value.code == "below_minimum"
    assert assert_balanced(member) == 50


def test_the_same_redemption_key_redeems_once(member):
    earn(member, "sale:1", "50", at(2026, 3, 1))
    first = redeem(member, 20, "sale-redeem:9")
    assert redeem(member, 20, "sale-redeem:9").pk == first.pk
    assert assert_balanced(member) == 30


def test_partial_refunds_reverse_exactly_what_the_sale_earned(member):
    earn(member, "sale:1", "99", at(2026, 3, 1))
    first = services.points_reverse_for_refund(
        customer=member, source_key="refund:1", original_source_key="sale:1",
        refunded_amount=Decimal("50"), store=None, occurred_at=at(2026, 3, 2),
    )  # fmt: skip
    assert first.kind == EntryKind.REVERSE
    assert first.points == -50
    second = services.points_reverse_for_refund(
        customer=member, source_key="refund:2", original_source_key="sale:1",
        refunded_amount=Decimal("49"), store=None, occurred_at=at(2026, 3, 3),
    )  # fmt: skip
    assert second.points == -49
    assert assert_balanced(member) == 0
    # Replayed refund: the same entry, nothing more taken.
    again = services.points_reverse_for_refund(
        customer=member, source_key="refund:2", original_source_key="sale:1",
        refunded_amount=Decimal("49"), store=None, occurred_at=at(2026, 3, 3),
    )  # fmt: skip
    assert again.pk == second.pk


def test_a_refund_after_spending_stops_at_zero_and_records_the_rest(member):
    earn(member, "sale:1", "100", at(2026, 3, 1))
    redeem(member, 80, "r:1")
    entry = services.points_reverse_for_refund(
        customer=member, source_key="refund:1", original_source_key="sale:1",
        refunded_amount=Decimal("100"), store=None, occurred_at=at(2026, 6, 2),
    )  # fmt: skip
    assert entry.points == -20
    assert entry.unreversed_points == 80
    assert entry.amount == Decimal("-100")
    assert assert_balanced(member) == 0


def test_a_refund_of_a_sale_that_earned_nothing_returns_none(member):
    assert (
        services.points_reverse_for_refund(
            customer=member,
            source_key="refund:1",
            original_source_key="sale:404",
            refunded_amount=Decimal("10"),
            store=None,
            occurred_at=at(2026, 3, 2),
        )  # fmt: skip
        is None
    )
