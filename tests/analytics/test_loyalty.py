"""Sales move points through loyalty inside the sale transaction."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from analytics.models import Sale
from analytics.services import LineInput
from loyalty.models import PointsAccount, PointsRule
from loyalty.services import points_award
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.analytics.factories import line, record_sale
from tests.analytics.test_counter import form_data
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def balance(member) -> int:
    account = PointsAccount.objects.filter(customer=member).first()
    return account.balance if account else 0


@pytest.fixture
def member(world):
    with tenant_context(world.tenant_a):
        return CustomerFactory(home_store=world.store_a1, phone="13900001111")


def test_a_member_sale_earns_and_its_refund_takes_back(world, member):
    with tenant_context(world.tenant_a):
        now = timezone.now()
        sale = record_sale(
            world.store_a1, now - datetime.timedelta(minutes=5), lines=[line("A", 2, "50.00")],
            member=member,
        )  # fmt: skip
        assert sale.points_earned == 100  # 1 point per yuan by default
        assert balance(member) == 100
        refund = record_sale(
            world.store_a1, now, lines=[LineInput(sku="A", quantity=1)], refund_of=sale
        )
        assert refund.points_earned == -50
        assert balance(member) == 50


def test_walk_ins_earn_nothing_and_excluded_categories_do_not_count(world, member):
    with tenant_context(world.tenant_a):
        rule = PointsRule.objects.first() or PointsRule.objects.create()
        rule.excluded_categories = ["烟草"]
        rule.save()
        walk_in = record_sale(world.store_a1, timezone.now(), lines=[line("A", 1, "80.00")])
        assert walk_in.points_earned == 0
        sale = record_sale(
            world.store_a1,
            timezone.now(),
            lines=[line("A", 1, "80.00"), line("CIG", 1, "20.00", category="烟草")],
            member=member,
        )
        assert sale.points_earned == 80


def test_redeeming_at_the_counter_takes_the_points_value_off_the_total(world, member, client_for):
    with tenant_context(world.tenant_a):
        points_award(customer=member, points=1000, source_key="gift:1", reason="test")
    data = form_data(
        world.store_a1,
        member="13900001111",
        lines=[{"sku": "A", "name": "茶", "quantity": "1", "unit_price": "30.00"}],
    )
    data["points"] = "500"
    response = client_for(world.staff_a[Role.CLERK]).post(reverse("analytics:counter_sale"), data)
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        sale = Sale.objects.get()
        assert (sale.points_redeemed, sale.points_discount, sale.total) == (
            500,
            Decimal("5.00"),
            Decimal("25.00"),
        )
        assert sale.points_earned == 25  # earned on what was paid in money
        assert balance(member) == 1000 - 500 + 25


def test_not_enough_points_writes_no_sale(world, member, client_for):
    data = form_data(
        world.store_a1,
        member="13900001111",
        lines=[{"sku": "A", "name": "茶", "quantity": "1", "unit_price": "30.00"}],
    )
    data["points"] = "500"
    response = client_for(world.staff_a[Role.CLERK]).post(reverse("analytics:counter_sale"), data)
    assert response.status_code == 200
    assert "积分不足" in response.content.decode()
    with tenant_context(world.tenant_a):
        assert not Sale.objects.exists()
        assert balance(member) == 0


def test_points_worth_more_than_the_sale_are_refused(world, member):
    with tenant_context(world.tenant_a):
        points_award(customer=member, points=5000, source_key="gift:2", reason="test")
        with pytest.raises(ValidationError):
            record_sale(
                world.store_a1, timezone.now(), lines=[line("A", 1, "10.00")], member=member,
                points_to_redeem=2000,
            )  # fmt: skip
        assert not Sale.objects.exists()
        assert balance(member) == 5000


def test_refunding_a_points_paid_sale_returns_only_the_money_paid(world, member):
    with tenant_context(world.tenant_a):
        points_award(customer=member, points=1000, source_key="gift:3", reason="test")
        now = timezone.now()
        sale = record_sale(
            world.store_a1, now - datetime.timedelta(minutes=5), lines=[line("A", 3, "10.00")],
            member=member, points_to_redeem=1000,
        )  # fmt: skip
        assert sale.total == Decimal("20.00")
        refunds = [
            record_sale(world.store_a1, now, lines=[LineInput(sku="A", quantity=1)], refund_of=sale)
            for _ in range(3)
        ]
        assert sum(r.total for r in refunds) == -sale.total
        assert [r.total for r in refunds] == [Decimal("-6.67"), Decimal("-6.67"), Decimal("-6.66")]


def test_an_api_retry_does_not_earn_twice(world, member):
    with tenant_context(world.tenant_a):
        first = record_sale(
            world.store_a1, timezone.now(), lines=[line("A", 1, "40.00")], member=member,
            external_id="POS-9",
        )  # fmt: skip
        again = record_sale(
            world.store_a1, timezone.now(), lines=[line("A", 1, "40.00")], member=member,
            external_id="POS-9",
        )  # fmt: skip
        assert again.pk == first.pk
        assert balance(member) == 40
