"""Incentive statements: totals equal a recomputation from the sales and events, a refund in a
later month claws back in that month, and any past month rebuilds to the same lines."""

from __future__ import annotations

import datetime
import random
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from analytics.models import (
    IncentiveKind,
    IncentiveLine,
    IncentiveRule,
    IncentiveSource,
    IncentiveStatement,
    Sale,
    StatementStatus,
)
from analytics.performance import month_bounds
from analytics.services import (
    incentive_rule_create,
    incentive_statement_confirm,
    incentive_statements_compute,
    incentive_statements_run_monthly,
)
from customers.models import Customer
from interactions.models import Lead, LeadStatus, SurveyResponse
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.analytics.factories import line, record_sale
from tests.factories import CustomerFactory
from tests.interactions.factories import LeadFactory, ServiceCaseFactory, SurveyFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

JAN, FEB = datetime.date(2026, 1, 1), datetime.date(2026, 2, 1)
FEN = Decimal("0.01")


def _at(tenant, day: datetime.date, hour: int) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=tenant.zone)


@pytest.fixture
def scheme(world, clock):
    """Tenant A on 2026-03-10 with a scheme whose sales rate changes mid-February."""
    tenant = world.tenant_a
    clock.move_to(_at(tenant, datetime.date(2026, 3, 10), 10))
    admin = world.staff_a[Role.HQ_ADMIN]
    with tenant_context(tenant):
        for kind, amount, start in (
            (IncentiveKind.SALES_PERCENT, "2.00", JAN),
            (IncentiveKind.SALES_PERCENT, "3.00", datetime.date(2026, 2, 15)),
            (IncentiveKind.ENROLLED_BUYER, "10.00", JAN),
            (IncentiveKind.LEAD_WON, "20.00", JAN),
            (IncentiveKind.FIVE_STAR, "5.00", JAN),
        ):
            incentive_rule_create(
                actor=admin, kind=kind, amount=Decimal(amount), effective_from=start
            )
        yield tenant


def _generate(world) -> dict:
    """Two months of sales by a clerk and a manager, enrolments, won leads, survey answers,
    and a January sale refunded in February by someone else."""
    tenant, store = world.tenant_a, world.store_a1
    clerk, manager = world.staff_a[Role.CLERK], world.staff_a[Role.STORE_MANAGER]
    rng = random.Random(21)
    members = []
    for i in range(6):
        member = CustomerFactory(home_store=store, enrolled_by=clerk if i % 2 == 0 else manager)
        enrolled = _at(tenant, JAN + datetime.timedelta(days=5 * i), 9)
        Customer.objects.filter(pk=member.pk).update(created_at=enrolled)
        members.append((member, enrolled))
    sales = []
    for offset in range(0, 59, 2):
        day = JAN + datetime.timedelta(days=offset)
        for hour in (10, 16):
            when = _at(tenant, day, hour)
            # Member 5 buys only after 40 days: past the 30-day window, no bonus.
            eligible = [
                m
                for i, (m, enrolled) in enumerate(members)
                if enrolled < when and (i != 5 or when > enrolled + datetime.timedelta(days=40))
            ]
            sales.append(
                record_sale(
                    store,
                    when,
                    lines=[line(sku="SKU-A", quantity=rng.randint(1, 3), price="39.90")],
                    staff=rng.choice([clerk, manager]),
                    member=rng.choice(eligible + [None]),
                )
            )
    january_sale = record_sale(
        store,
        _at(tenant, datetime.date(2026, 1, 28), 12),
        lines=[line(sku="SKU-B", quantity=3, price="100.00")],
        staff=clerk,
    )
    # Refunded on Feb 20 (rate 3 % by then) by the manager: claws back 2 % from the clerk.
    refund = record_sale(
        store,
        _at(tenant, datetime.date(2026, 2, 20), 11),
        lines=[line(sku="SKU-B", quantity=2, price="100.00")],
        staff=manager,
        refund_of=january_sale,
    )
    won = LeadFactory(store=store, owner=clerk, status=LeadStatus.WON, sale_reference="x")
    Lead.objects.filter(pk=won.pk).update(closed_at=_at(tenant, datetime.date(2026, 1, 20), 15))
    LeadFactory(store=store, owner=clerk, status=LeadStatus.LOST)
    won_feb = LeadFactory(store=store, owner=manager, status=LeadStatus.WON, sale_reference="y")
    Lead.objects.filter(pk=won_feb.pk).update(closed_at=_at(tenant, datetime.date(2026, 2, 3), 9))
    case = ServiceCaseFactory(store=store, assignee=manager)
    answers = [
        (SurveyFactory(store=store, case=case), 5, datetime.date(2026, 1, 15)),
        (SurveyFactory(store=store, sale_reference=str(sales[40].pk)), 5, FEB),
        (SurveyFactory(store=store, sale_reference=str(sales[41].pk)), 4, FEB),
    ]
    for survey, score, day in answers:
        response = SurveyResponse.objects.create(survey=survey, score=score)
        SurveyResponse.objects.filter(pk=response.pk).update(answered_at=_at(tenant, day, 20))
    return {"january_sale": january_sale, "refund": refund, "clerk": clerk}


def _recompute(month: datetime.date) -> dict[int, Decimal]:
    """The brute-force answer: every object read one by one, every rule looked up by hand."""
    start, end = month_bounds(month)
    zone = Customer.objects.first().tenant.zone
    rules = list(IncentiveRule.objects.all())

    def rule_on(kind, moment):
        day = moment.astimezone(zone).date()
        valid = [r for r in rules if r.kind == kind and r.effective_from <= day]
        return max(valid, key=lambda r: r.effective_from) if valid else None

    totals: dict[int, Decimal] = defaultdict(Decimal)
    for sale in Sale.objects.all():
        if start <= sale.occurred_at < end:
            origin = sale.refund_of or sale
            rule = rule_on(IncentiveKind.SALES_PERCENT, origin.occurred_at)
            if origin.staff_id and rule:
                amount = sale.total * rule.amount / 100
                totals[origin.staff_id] += amount.quantize(FEN, rounding=ROUND_HALF_UP)
    for member in Customer.objects.exclude(enrolled_by=None):
        bought = [s.occurred_at for s in Sale.objects.filter(member=member, refund_of=None)]
        if bought and start <= min(bought) < end:
            if min(bought) <= member.created_at + datetime.timedelta(days=30):
                totals[member.enrolled_by_id] += rule_on(
                    IncentiveKind.ENROLLED_BUYER, min(bought)
                ).amount
    for lead in Lead.objects.filter(status=LeadStatus.WON):
        if start <= lead.closed_at < end:
            totals[lead.owner_id] += rule_on(IncentiveKind.LEAD_WON, lead.closed_at).amount
    for response in SurveyResponse.objects.filter(score=5):
        if start <= response.answered_at < end:
            survey = response.survey
            staff_id = (
                survey.case.assignee_id
                if survey.case
                else Sale.objects.get(pk=int(survey.sale_reference)).staff_id
            )
            totals[staff_id] += rule_on(IncentiveKind.FIVE_STAR, response.answered_at).amount
    return {staff_id: total for staff_id, total in totals.items() if total}


def _statements(month) -> dict[int, Decimal]:
    return {
        s.staff_id: s.total
        for s in IncentiveStatement.objects.filter(month=month)
        if s.total or s.lines.exists()
    }


def test_statement_totals_equal_a_recomputation_from_sales_and_events(world, scheme):
    with tenant_context(world.tenant_a):
        _generate(world)
        for month in (JAN, FEB):
            incentive_statements_compute(month=month)
            expected = _recompute(month)
            assert expected, "the generated data earns something every month"
            assert _statements(month) == expected
            for statement in IncentiveStatement.objects.filter(month=month):
                assert statement.total == sum(line.amount for line in statement.lines.all())

        # Every kind earned something, and every line names an existing source.
        assert set(IncentiveLine.objects.values_list("kind", flat=True)) == set(
            IncentiveKind.values
        )
        for line_ in IncentiveLine.objects.all():
            model = {
                IncentiveSource.SALE: Sale,
                IncentiveSource.MEMBER: Customer,
                IncentiveSource.LEAD: Lead,
                IncentiveSource.SURVEY: SurveyResponse.survey.field.related_model,
            }[line_.source_type]
            assert model.objects.filter(pk=line_.source_id).exists()


def test_refund_in_a_later_month_claws_back_in_that_month_at_the_original_rate(world, scheme):
    with tenant_context(world.tenant_a):
        data = _generate(world)
        refund, clerk = data["refund"], data["clerk"]
        incentive_statements_compute(month=FEB)
        claw_back = IncentiveLine.objects.get(source_type=IncentiveSource.SALE, source_id=refund.pk)
        assert claw_back.statement.staff == clerk  # the seller, not who refunded
        assert claw_back.statement.month == FEB
        assert refund.total < 0
        assert claw_back.amount == (refund.total * Decimal("0.02")).quantize(FEN)
        # January keeps the sale's full earning: nothing of the refund is in it.
        incentive_statements_compute(month=JAN)
        jan_line = IncentiveLine.objects.get(source_id=data["january_sale"].pk)
        assert jan_line.amount == Decimal("6.00")
        assert not IncentiveLine.objects.filter(statement__month=JAN, source_id=refund.pk).exists()


def _snapshot(month):
    return sorted(
        IncentiveLine.objects.filter(statement__month=month).values_list(
            "statement__staff_id", "kind", "source_type", "source_id", "rule_id", "amount"
        )
    )


def test_any_past_month_rebuilds_to_the_same_lines(world, scheme):
    with tenant_context(world.tenant_a):
        _generate(world)
        call_command("incentive_statements", "2026-01", "--tenant", world.tenant_a.slug)
        january = _snapshot(JAN)
        incentive_statements_compute(month=FEB)
        # Rebuilt later (after February's events and statements exist): the same lines.
        incentive_statements_compute(month=JAN)
        assert _snapshot(JAN) == january
        assert january


def test_a_confirmed_statement_is_kept_and_audited(world, scheme):
    manager, clerk = world.staff_a[Role.STORE_MANAGER], world.staff_a[Role.CLERK]
    with tenant_context(world.tenant_a):
        _generate(world)
        incentive_statements_compute(month=JAN)
        statement = IncentiveStatement.objects.get(staff=clerk, month=JAN)
        with pytest.raises(ValidationError):
            incentive_statement_confirm(
                statement=IncentiveStatement.objects.get(staff=manager, month=JAN), actor=manager
            )
        incentive_statement_confirm(statement=statement, actor=manager)
        assert AuditEvent.objects.filter(
            action="incentive_statement.confirm", object_id=str(statement.pk)
        ).exists()
        before = _snapshot(JAN)
        # A late January sale: drafts would change, the confirmed statement does not.
        record_sale(
            world.store_a1,
            _at(world.tenant_a, datetime.date(2026, 1, 30), 10),
            lines=[line(price="500.00")],
            staff=clerk,
        )
        result = incentive_statements_compute(month=JAN)
        assert result["skipped"] == 1
        statement.refresh_from_db()
        assert statement.status == StatementStatus.CONFIRMED
        assert [row for row in _snapshot(JAN) if row[0] == clerk.pk] == [
            row for row in before if row[0] == clerk.pk
        ]
        # A rule may not change a confirmed month.
        with pytest.raises(ValidationError):
            incentive_rule_create(
                actor=world.staff_a[Role.HQ_ADMIN],
                kind=IncentiveKind.LEAD_WON,
                amount=Decimal("50"),
                effective_from=datetime.date(2026, 1, 25),
            )


def test_the_monthly_job_builds_last_month(world, scheme):
    with tenant_context(world.tenant_a):
        _generate(world)
        incentive_statements_run_monthly()  # the clock says March: February is built
        assert IncentiveStatement.objects.filter(month=FEB).exists()
        assert not IncentiveStatement.objects.filter(month=JAN).exists()
        with pytest.raises(ValidationError):
            incentive_statements_compute(month=datetime.date(2026, 4, 1))


def test_the_monthly_job_is_scheduled_in_production(settings):
    from analytics.tasks import incentive_statements

    entry = settings.CELERY_BEAT_SCHEDULE["analytics-incentive-statements"]
    assert entry["task"] == "tenancy.fan_out"
    assert entry["args"] == ["analytics.incentive_statements"]
    assert incentive_statements.name == "analytics.incentive_statements"
