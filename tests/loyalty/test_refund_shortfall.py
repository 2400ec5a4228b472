"""Issue 19 §2, the tenant's choice for a refund of points already spent (after the return
window): a debt (the balance stays at 0) or a balance below zero. Either way the exploit
"buy, spend the points, refund, keep the value" fails: nothing more can be redeemed until
the next points earned pay the refund back, and the ledger stays balanced throughout."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from loyalty import selectors, services
from loyalty.models import EntryKind, PointsRule, RefundShortfall
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.factories import CustomerFactory
from tests.loyalty.conftest import account_of, assert_balanced, at, earn

pytestmark = pytest.mark.clock

SALE_TIME = at(2026, 6, 1, 10)
WINDOW = datetime.timedelta(days=7)


def set_rule(choice: str) -> None:
    rule = services.points_rule()
    rule.redeem_minimum = 10
    rule.pending_days = 7
    rule.refund_shortfall = choice
    rule.save()


def redeem(member, points, key):
    return services.points_redeem(
        customer=member, points=points, source_key=key, store=None, staff=None
    )


def buy_spend_refund(member, clock):
    """Buy (500 points), wait out the return window, spend 400, refund the whole sale."""
    earn(member, "sale:1", "500", SALE_TIME)
    clock.move_to(SALE_TIME + WINDOW)
    services.points_release_pending()
    redeem(member, 400, "r:1")
    clock.advance(datetime.timedelta(days=1))
    return services.points_reverse_for_refund(
        customer=member, source_key="refund:1", original_source_key="sale:1",
        refunded_amount=Decimal("500"), store=None, occurred_at=clock.advance(datetime.timedelta()),
    )  # fmt: skip


def test_the_default_is_todays_debt(in_tenant):
    assert services.points_rule().refund_shortfall == RefundShortfall.DEBT


@pytest.mark.parametrize("choice", [RefundShortfall.DEBT, RefundShortfall.NEGATIVE])
def test_buy_spend_refund_leaves_nothing_to_redeem_until_earned_back(member, clock, choice):
    clock.move_to(SALE_TIME)
    set_rule(choice)
    entry = buy_spend_refund(member, clock)
    account = account_of(member)
    if choice == RefundShortfall.DEBT:
        assert (entry.points, entry.unreversed_points) == (-100, 400)
        assert (account.balance, account.debt) == (0, 400)
    else:
        assert (entry.points, entry.unreversed_points) == (-500, 0)
        assert (account.balance, account.debt) == (-400, 0)
    assert assert_balanced(member) == account.balance

    # The exploit's next step: spend more. Refused, with the reason.
    with pytest.raises(services.PointsError) as error:
        redeem(member, 10, "r:2")
    assert error.value.code == "owed"
    with translation.override("zh-hans"):
        assert "退货订单的 400 积分此前已被使用" in error.value.messages[0]

    # A sale worth 250 points (spendable at once: recorded after its window) pays 250 back,
    # still nothing to spend; the next 200 pay the rest and leave 50.
    earn(member, "sale:2", "250", SALE_TIME - WINDOW - datetime.timedelta(days=1))
    assert selectors.points_balances(account_of(member)).spendable == 0
    with pytest.raises(services.PointsError):
        redeem(member, 10, "r:3")
    earn(member, "sale:3", "200", SALE_TIME - WINDOW - datetime.timedelta(days=1))
    account = account_of(member)
    assert (account.balance, account.debt) == (50, 0)
    assert assert_balanced(member) == 50
    assert selectors.points_balances(account).spendable == 50
    redeem(member, 50, "r:4")
    assert assert_balanced(member) == 0
    # In all, the member kept nothing: 500 + 250 + 200 earned, 500 refunded, 450 spent.
    paid_back = EntryKind.DEBT_PAID if choice == RefundShortfall.DEBT else EntryKind.BELOW_ZERO
    assert account.entries.filter(kind=paid_back).count() == 2


def test_a_merge_carries_a_balance_below_zero_to_the_surviving_member(member, store, clock):
    clock.move_to(SALE_TIME)
    set_rule(RefundShortfall.NEGATIVE)
    buy_spend_refund(member, clock)
    survivor = CustomerFactory(home_store=store)
    earn(survivor, "sale:9", "1000", SALE_TIME - WINDOW - datetime.timedelta(days=1))
    services.points_merge(source=member, target=survivor)
    assert assert_balanced(member) == 0
    assert assert_balanced(survivor) == 600  # 1000 less the 400 owed
    assert selectors.points_balances(account_of(survivor)).spendable == 600


@pytest.mark.django_db
@pytest.mark.parametrize("choice", [RefundShortfall.DEBT, RefundShortfall.NEGATIVE])
def test_points_added_by_hand_pay_what_is_owed_first(world, clock, choice):
    clock.move_to(SALE_TIME)
    with tenant_context(world.tenant_a):
        set_rule(choice)
        member = CustomerFactory(home_store=world.store_a1)
        buy_spend_refund(member, clock)
        services.points_adjust(
            customer=member, points=100, reason="补偿", staff=world.staff_a[Role.HQ_ADMIN]
        )
        account = account_of(member)
        assert (account.balance, account.debt) == (
            (0, 300) if choice == RefundShortfall.DEBT else (-300, 0)
        )
        assert assert_balanced(member) == account.balance
        assert selectors.points_balances(account).spendable == 0


@pytest.mark.django_db
@pytest.mark.parametrize("choice", [RefundShortfall.DEBT, RefundShortfall.NEGATIVE])
def test_clerk_and_member_pages_show_it_and_the_counter_refuses(world, client_for, clock, choice):
    clock.move_to(SALE_TIME)
    with tenant_context(world.tenant_a):
        set_rule(choice)
        member = CustomerFactory(home_store=world.store_a1, phone="13812345678", name="陈静")
        buy_spend_refund(member, clock)
    client = client_for(world.staff_a[Role.CLERK])
    points_page = client.get(reverse("loyalty:member_points", args=[member.pk])).content.decode()
    profile = client.get(reverse("customers:profile", args=[member.pk])).content.decode()
    url = reverse("loyalty:redeem", args=[member.pk])
    counter = client.get(url)
    for text in (points_page, profile, counter.content.decode()):
        if choice == RefundShortfall.DEBT:
            assert "欠还积分" in text and "之后获得的积分将优先抵还" in text
        else:
            assert 'data-testid="balance">-400<' in text
            assert "积分余额低于 0：之后获得的积分将优先抵还，抵还前不能兑换积分。" in text
            assert "欠还积分" not in text
    token = counter.context["form"].initial["token"]
    data = {"points": 10, "reason": "保温杯", "store": world.store_a1.pk, "token": token}
    refused = client.post(url, data).content.decode()
    assert "退货订单的 400 积分此前已被使用：抵还之后才能再次兑换积分。" in refused
    with tenant_context(world.tenant_a):
        assert account_of(member).entries.filter(kind=EntryKind.REDEEM).count() == 1


@pytest.mark.django_db
def test_hq_admin_chooses_a_negative_balance_on_the_rules_page_and_it_is_audited(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    page = client.get(reverse("loyalty:settings"))
    form = page.context["form"]
    assert form["refund_shortfall"].value() == RefundShortfall.DEBT
    assert "从余额中扣除，余额可低于 0" in page.content.decode()
    data = {
        name: field.value() for name, field in ((n, form[n]) for n in form.fields)
        if field.value() is not None and name != "tier_purchase"
    }  # fmt: skip
    data["refund_shortfall"] = RefundShortfall.NEGATIVE
    assert client.post(reverse("loyalty:settings"), data).status_code == 302
    with tenant_context(world.tenant_a):
        assert PointsRule.objects.get().refund_shortfall == RefundShortfall.NEGATIVE
        event = AuditEvent.objects.filter(action="loyalty.rule_changed").latest("id")
        assert event.before["refund_shortfall"] == RefundShortfall.DEBT
        assert event.after["refund_shortfall"] == RefundShortfall.NEGATIVE
    with tenant_context(world.tenant_b):
        assert services.points_rule().refund_shortfall == RefundShortfall.DEBT
