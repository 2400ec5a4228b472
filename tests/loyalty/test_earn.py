"""Earning from a sale: the formula, exactly once per sale, and a bounded number of queries."""

from __future__ import annotations

from decimal import Decimal

from loyalty import services
from loyalty.models import EntryKind, PointsEntry, PointsLot
from tests.factories import CustomerFactory
from tests.loyalty.conftest import account_of, assert_balanced, at, earn
from tests.loyalty.factories import standard_tiers


def test_points_are_amount_less_excluded_times_rate_times_multiplier_rounded_down(member, store):
    rule = services.points_rule()
    rule.points_per_yuan = Decimal("1.00")
    rule.save()
    entry = earn(member, "sale:1", "199.99", at(2026, 3, 5), store, excluded="50.00")
    assert entry.kind == EntryKind.EARN
    assert entry.points == 149  # floor(149.99)
    assert entry.amount == Decimal("199.99")
    assert assert_balanced(member) == 149


def test_the_tier_multiplier_applies(member):
    tiers = standard_tiers()
    account = services._lock_account(member)
    account.tier = tiers[1]  # 银卡 x1.5
    account.save()
    assert earn(member, "sale:1", "101", at(2026, 3, 5)).points == 151


def test_a_replayed_sale_earns_once_and_returns_the_first_entry(member):
    first = earn(member, "sale:7", "100", at(2026, 3, 5))
    again = earn(member, "sale:7", "100", at(2026, 3, 5))
    assert again.pk == first.pk
    assert PointsEntry.objects.filter(source_key="sale:7").count() == 1
    assert assert_balanced(member) == 100


def test_no_member_no_points(in_tenant):
    assert (
        services.points_earn_for_sale(
            customer=None,
            source_key="sale:1",
            amount=Decimal("10"),
            store=None,
            occurred_at=at(2026, 3, 5),
        )
        is None
    )


def test_a_fully_excluded_sale_writes_an_entry_without_a_lot(member):
    entry = earn(member, "sale:1", "80", at(2026, 3, 5), excluded="80")
    assert entry.points == 0
    assert not PointsLot.objects.exists()
    assert assert_balanced(member) == 0


def test_earning_for_one_sale_takes_a_bounded_number_of_queries(
    member, store, django_assert_max_num_queries
):
    standard_tiers()
    earn(member, "sale:0", "10", at(2026, 3, 1), store)  # the account exists from now on
    # 11: one more than before issue 19 for the store's issuance cap lookup.
    with django_assert_max_num_queries(11):
        earn(member, "sale:1", "100", at(2026, 3, 5), store)
    # An upgrading sale writes the tier and its audit row too, still bounded.
    with django_assert_max_num_queries(15):
        earn(member, "sale:2", "2000", at(2026, 3, 6), store)
    assert account_of(member).tier.code == "SILVER"
    # The bound does not grow with the member's history.
    for n in range(3, 30):
        earn(member, f"sale:{n}", "10", at(2026, 3, 7), store)
    with django_assert_max_num_queries(11):
        earn(member, "sale:99", "100", at(2026, 3, 8), store)


def test_first_earn_creates_the_account_in_the_entry_tier_and_mirrors_it(store):
    standard_tiers()
    member = CustomerFactory(home_store=store)
    earn(member, "sale:1", "10", at(2026, 3, 5))
    member.refresh_from_db()
    assert (member.tier_code, member.tier_name) == ("NORMAL", "普通会员")
