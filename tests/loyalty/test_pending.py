"""The return window (issue 19 §2): points earned on a sale stay pending, cannot be spent,
and become spendable when the release job runs after the window; a refund inside the window
cancels them, a refund after it leaves the member owing what was already spent."""

from __future__ import annotations

import datetime

import pytest
from django.utils import translation

from loyalty import selectors, services
from loyalty.models import EntryKind, PointsLot
from loyalty.services import nightly
from tests.loyalty.conftest import account_of, assert_balanced, at, earn

pytestmark = pytest.mark.clock

SALE_TIME = at(2026, 6, 1, 10)
WINDOW = datetime.timedelta(days=7)


@pytest.fixture(autouse=True)
def rule(in_tenant, clock):
    clock.move_to(SALE_TIME)
    rule = services.points_rule()
    rule.redeem_minimum = 10
    rule.pending_days = 7
    rule.save()
    return rule


def redeem(member, points, key):
    return services.points_redeem(
        customer=member, points=points, source_key=key, store=None, staff=None
    )


def refund(member, key, original, amount):
    return services.points_reverse_for_refund(
        customer=member, source_key=key, original_source_key=original,
        refunded_amount=amount, store=None, occurred_at=at(2026, 6, 1, 12),
    )  # fmt: skip


def test_points_earned_on_a_sale_are_pending_and_cannot_be_spent(member):
    earn(member, "sale:1", "500", SALE_TIME)
    balances = selectors.points_balances(account_of(member))
    assert balances == selectors.PointsBalances(spendable=0, pending=500, expiring_soon=0, owed=0)
    with pytest.raises(services.PointsError) as error:
        redeem(member, 500, "r:1")
    assert error.value.code == "pending"
    with translation.override("en"):
        assert "500 more points are pending until the return window" in error.value.messages[0]
    with translation.override("zh-hans"):
        assert "另有 500 积分待生效" in error.value.messages[0]
    assert assert_balanced(member) == 500


def test_the_release_job_makes_them_spendable_after_the_window_and_only_then(member, clock):
    earn(member, "sale:1", "500", SALE_TIME)
    clock.move_to(SALE_TIME + WINDOW - datetime.timedelta(minutes=1))
    assert services.points_release_pending() == 0
    clock.move_to(SALE_TIME + WINDOW)
    assert services.points_release_pending() == 1
    assert services.points_release_pending() == 0  # a repeat changes nothing
    assert selectors.points_balances(account_of(member)).spendable == 500
    redeem(member, 500, "r:1")
    assert assert_balanced(member) == 0


def test_a_refund_inside_the_window_cancels_the_pending_points_outright(member):
    earn(member, "sale:1", "300", SALE_TIME)
    entry = refund(member, "refund:1", "sale:1", services.ZERO + 300)
    assert entry.points == -300
    assert entry.unreversed_points == 0
    account = account_of(member)
    assert account.debt == 0
    assert selectors.points_balances(account).pending == 0
    assert assert_balanced(member) == 0


def test_a_refund_of_spent_points_after_the_window_is_owed_and_paid_from_the_next_earn(
    member, clock
):
    earn(member, "sale:1", "500", SALE_TIME)
    clock.move_to(SALE_TIME + WINDOW)
    services.points_release_pending()
    redeem(member, 400, "r:1")
    clock.advance(datetime.timedelta(days=1))
    entry = refund(member, "refund:1", "sale:1", services.ZERO + 500)
    assert (entry.points, entry.unreversed_points) == (-100, 400)
    assert account_of(member).debt == 400
    assert selectors.points_balances(account_of(member)).owed == 400
    earn(member, "sale:2", "250", clock.advance(datetime.timedelta(hours=1)))
    assert account_of(member).debt == 150
    assert assert_balanced(member) == 0
    paid = account_of(member).entries.get(kind=EntryKind.DEBT_PAID)
    assert (paid.points, paid.source_key) == (-250, "debt:sale:2")
    earn(member, "sale:3", "200", clock.advance(datetime.timedelta(hours=1)))
    account = account_of(member)
    assert account.debt == 0
    assert assert_balanced(member) == 50
    assert selectors.points_balances(account).pending == 50


def test_a_zero_window_and_a_sale_recorded_after_its_window_are_spendable_at_once(member, rule):
    earn(member, "sale:old", "100", SALE_TIME - WINDOW - datetime.timedelta(days=1))
    rule.pending_days = 0
    rule.save()
    earn(member, "sale:1", "100", SALE_TIME)
    assert selectors.points_balances(account_of(member)).spendable == 200
    redeem(member, 200, "r:1")


def test_a_crash_mid_release_keeps_what_committed_and_a_rerun_finishes(
    member, store, clock, monkeypatch
):
    from tests.factories import CustomerFactory

    other = CustomerFactory(home_store=store)
    earn(member, "sale:1", "100", SALE_TIME)
    earn(other, "sale:2", "100", SALE_TIME)
    clock.move_to(SALE_TIME + WINDOW)
    monkeypatch.setattr(nightly, "RELEASE_BATCH", 1)
    real_update = PointsLot.objects.none().__class__.update
    calls = []

    def update_then_crash(queryset, **kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real_update(queryset, **kwargs)

    monkeypatch.setattr(type(PointsLot.objects.none()), "update", update_then_crash)
    with pytest.raises(RuntimeError):
        services.points_release_pending()
    assert PointsLot.objects.filter(pending_until__isnull=False).count() == 1
    monkeypatch.setattr(type(PointsLot.objects.none()), "update", real_update)
    assert services.points_release_pending() == 1
    assert PointsLot.objects.filter(pending_until__isnull=False).count() == 0


def test_a_merge_carries_pending_points_and_what_is_owed(member, store, clock):
    from tests.factories import CustomerFactory

    survivor = CustomerFactory(home_store=store)
    earn(member, "sale:1", "300", SALE_TIME)
    clock.move_to(SALE_TIME + WINDOW)
    services.points_release_pending()
    redeem(member, 300, "r:1")
    refund(member, "refund:1", "sale:1", services.ZERO + 300)
    earn(member, "sale:2", "500", SALE_TIME + WINDOW)  # pays 300 owed, 200 left pending
    account = account_of(member)
    account.debt = 50  # owed from another refund, not yet paid
    account.save(update_fields=["debt"])
    services.points_merge(source=member, target=survivor)
    # The debt follows the member and the surviving member's points pay it at once (pending
    # ones too), so a merge never leaves points spendable while some are owed.
    balances = selectors.points_balances(account_of(survivor))
    assert (balances.spendable, balances.pending, balances.owed) == (0, 150, 0)
    assert account_of(member).debt == 0
    assert assert_balanced(survivor) == 150
    paid = account_of(survivor).entries.get(kind=EntryKind.DEBT_PAID)
    assert (paid.points, paid.source_key) == (-50, f"debt:merge-in:{member.pk}")
