"""Issue 19 §2 through real sale recording: the "buy, spend the points, refund, keep the
value" exploit, step by step, and the pending points shown at the counter."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from analytics.services import LineInput
from loyalty.models import PointsAccount
from loyalty.selectors import points_balances
from loyalty.services import points_rule
from tenancy.context import tenant_context
from tenancy.models import Role
from tenancy.tasks import fan_out
from tests.analytics.factories import line, record_sale
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def member(world, clock):
    clock.at(10)
    with tenant_context(world.tenant_a):
        rule = points_rule()
        rule.pending_days = 7
        rule.redeem_minimum = 100
        rule.save()
        return CustomerFactory(home_store=world.store_a1, phone="13900002222")


def account(member) -> PointsAccount:
    return PointsAccount.objects.get(customer=member)


def test_buy_spend_the_points_refund_cannot_keep_the_value(world, member, clock):
    store = world.store_a1
    with tenant_context(world.tenant_a):
        # Buy: 1000 yuan earns 1000 points, pending for the return window.
        sale = record_sale(store, clock.at(10), [line("TV", 1, "1000.00")], member=member)
        assert sale.points_earned == 1000
        assert points_balances(account(member)).pending == 1000
        # Spend them at once: refused, with the reason, and nothing is written.
        with pytest.raises(ValidationError) as error:
            record_sale(
                store, clock.at(11), [line("TEA", 1, "15.00")], member=member,
                points_to_redeem=1000,
            )  # fmt: skip
        with translation.override("en"):
            assert "1000 more points are pending until the return window" in str(error.value)
        assert account(member).balance == 1000
    # After the window the beat job releases them and they can be spent.
    clock.at(11, days=8)
    fan_out.apply(args=["loyalty.release_pending"]).get()
    with tenant_context(world.tenant_a):
        assert points_balances(account(member)).spendable == 1000
        spend = record_sale(
            store, clock.at(12, days=8), [line("TEA", 1, "15.00")], member=member,
            points_to_redeem=1000,
        )  # fmt: skip
        assert spend.points_discount == 10  # the paid-with-points part earns nothing
        assert spend.points_earned == 5
        # Refund the television: the 1000 points are gone, so the member owes them.
        record_sale(store, clock.at(13, days=8), [LineInput(sku="TV", quantity=1)], refund_of=sale)
        owed = account(member)
        assert owed.balance == 0  # the 5 pending points of the tea went first
        assert owed.debt == 995
        assert points_balances(owed).owed == 995
        # The next purchase pays the debt before the member can spend anything again.
        record_sale(store, clock.at(14, days=8), [line("A", 1, "300.00")], member=member)
        later = account(member)
        assert (later.balance, later.debt) == (0, 695)
        # Net: earned on what the member kept (5 + 300) minus spent (1000) is still owed.
        assert later.balance - later.debt == 5 + 300 - 1000


def test_the_redeem_page_shows_pending_points_to_the_clerk(world, member, clock, client_for):
    with tenant_context(world.tenant_a):
        record_sale(world.store_a1, clock.at(10), [line("A", 1, "250.00")], member=member)
    page = client_for(world.staff_a[Role.CLERK]).get(reverse("loyalty:redeem", args=[member.pk]))
    html = page.content.decode()
    assert 'data-testid="pending">250<' in html
    assert 'data-testid="spendable">0<' in html
    assert "退货期" in html
