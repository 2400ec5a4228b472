from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db.models import Sum

from loyalty import services
from loyalty.models import PointsAccount, PointsEntry, RefundShortfall
from tests.factories import CustomerFactory, StoreFactory, TenantFactory

BEIJING = datetime.timezone(datetime.timedelta(hours=8))


def at(year, month, day, hour=12, minute=0) -> datetime.datetime:
    """A Beijing wall-clock time (the test tenant's zone is Asia/Shanghai)."""
    return datetime.datetime(year, month, day, hour, minute, tzinfo=BEIJING)


@pytest.fixture
def tenant(db):
    """Loyalty's cases are written on Beijing's clock against UTC (a month ends at 16:00 UTC),
    so their tenant is on Asia/Shanghai whatever zone CI gives other test tenants."""
    return TenantFactory(slug="solo", name="单租户", time_zone="Asia/Shanghai")


@pytest.fixture
def store(in_tenant):
    return StoreFactory()


@pytest.fixture
def member(store):
    return CustomerFactory(home_store=store)


def earn(member, key, amount, when, store=None, excluded="0"):
    return services.points_earn_for_sale(
        customer=member,
        source_key=key,
        amount=Decimal(amount),
        store=store,
        occurred_at=when,
        excluded_amount=Decimal(excluded),
    )


def account_of(member) -> PointsAccount:
    return PointsAccount.objects.get(customer=member)


def assert_balanced(member) -> int:
    """balance == ledger sum; the lots' remaining points == the balance, or 0 while it is
    below zero, which only the tenant's "negative" refund choice allows. Returns the balance."""
    account = account_of(member)
    ledger = account.entries.aggregate(s=Sum("points"))["s"] or 0
    lots = account.lots.aggregate(s=Sum("remaining"))["s"] or 0
    if account.balance < 0:
        assert services.points_rule().refund_shortfall == RefundShortfall.NEGATIVE
    assert account.balance == ledger and lots == max(account.balance, 0), (
        account.balance,
        ledger,
        lots,
    )
    last = PointsEntry.objects.filter(account=account).order_by("-id").first()
    if last is not None and last.kind != "expire":
        assert last.balance_after == account.balance
    return account.balance
