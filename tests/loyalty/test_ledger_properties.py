"""A Hypothesis state machine plays sales, redemptions, refunds, expiry and the clock.

After every step: balance >= 0 and equals the ledger sum and the lots' remaining points;
a redemption never draws a later-expiring lot while an earlier valid one keeps points; and
an expired lot never gets points back.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from loyalty import services
from loyalty.models import LotDraw, PointsAccount, PointsLot
from tests.factories import CustomerFactory
from tests.loyalty.conftest import assert_balanced, at


def test_ledger_state_machine(in_tenant, store):
    points_rule = services.points_rule()
    points_rule.expiry_months = 1  # lots expire within weeks, so the clock matters
    points_rule.redeem_minimum = 1
    points_rule.save()

    class Ledger(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.member = CustomerFactory(home_store=store)
            self.prefix = f"m{self.member.pk}"
            self.clock = at(2026, 1, 1, 10)
            self.sales: list[tuple[str, Decimal]] = []
            self.expired_lots: set[int] = set()
            self.steps = 0

        def key(self, kind: str) -> str:
            self.steps += 1
            return f"{self.prefix}:{kind}:{self.steps}"

        @rule(amount=st.integers(min_value=0, max_value=500))
        def earn(self, amount):
            key = self.key("sale")
            services.points_earn_for_sale(
                customer=self.member, source_key=key, amount=Decimal(amount), store=store,
                occurred_at=self.clock,
            )  # fmt: skip
            self.sales.append((key, Decimal(amount)))

        @rule(points=st.integers(min_value=1, max_value=400))
        def redeem(self, points):
            valid = PointsLot.objects.filter(
                account__customer=self.member, remaining__gt=0, expires_at__gt=self.clock
            )
            available = sum(valid.values_list("remaining", flat=True))
            try:
                entry = services.points_redeem(
                    customer=self.member, points=points, source_key=self.key("redeem"),
                    store=store, staff=None, now=self.clock,
                )  # fmt: skip
            except services.PointsError:
                assert available < points
                return
            assert available >= points
            drawn = list(LotDraw.objects.filter(entry=entry).select_related("lot"))
            assert sum(d.points for d in drawn) == points
            latest = max((d.lot.expires_at, d.lot.pk) for d in drawn)
            earlier_with_points = PointsLot.objects.filter(
                account__customer=self.member, remaining__gt=0, expires_at__gt=self.clock
            ).filter(expires_at__lt=latest[0])
            assert not earlier_with_points.exists()
            assert all(d.lot.expires_at > self.clock for d in drawn)

        @precondition(lambda self: self.sales)
        @rule(data=st.data())
        def refund(self, data):
            key, amount = data.draw(st.sampled_from(self.sales))
            refunded = data.draw(st.integers(min_value=0, max_value=int(amount)))
            services.points_reverse_for_refund(
                customer=self.member, source_key=self.key("refund"), original_source_key=key,
                refunded_amount=Decimal(refunded), store=store, occurred_at=self.clock,
            )  # fmt: skip

        @rule()
        def expire(self):
            due = set(
                PointsLot.objects.filter(
                    account__customer=self.member, expires_at__lte=self.clock
                ).values_list("pk", flat=True)
            )
            services.points_expire_due(now=self.clock)
            self.expired_lots |= due

        @rule(days=st.integers(min_value=1, max_value=45), hours=st.integers(0, 23))
        def advance_clock(self, days, hours):
            self.clock += datetime.timedelta(days=days, hours=hours)

        @invariant()
        def balanced(self):
            if PointsAccount.objects.filter(customer=self.member).exists():
                assert_balanced(self.member)

        @invariant()
        def expired_points_never_come_back(self):
            if self.expired_lots:
                assert not PointsLot.objects.filter(
                    pk__in=self.expired_lots, remaining__gt=0
                ).exists()

    run_state_machine_as_test(
        Ledger,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


pytestmark = [pytest.mark.django_db, pytest.mark.clock]
