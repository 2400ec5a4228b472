"""Staff performance figures, targets and who may see whose figures."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from analytics.models import IncentiveKind, IncentiveStatement, StaffTarget
from analytics.performance import staff_performance, store_progress
from analytics.services import (
    incentive_rule_create,
    incentive_statements_compute,
    staff_target_set,
)
from customers.models import Customer
from interactions.models import CaseStatus, Lead, LeadStatus, ServiceCase, SurveyResponse
from interactions.services.leads import lead_follow_up
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.analytics.factories import line, record_sale
from tests.conftest import make_staff
from tests.factories import CustomerFactory
from tests.interactions.factories import LeadFactory, ServiceCaseFactory, SurveyFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

MARCH = datetime.date(2026, 3, 1)


def _at(tenant, day: int, hour: int = 10) -> datetime.datetime:
    return datetime.datetime(2026, 3, day, hour, tzinfo=tenant.zone)


@pytest.fixture
def march(world, clock):
    clock.move_to(_at(world.tenant_a, 20, 12))
    return world


def test_figures_per_staff_member_for_a_month(march):
    world = march
    tenant, store = world.tenant_a, world.store_a1
    clerk, manager = world.staff_a[Role.CLERK], world.staff_a[Role.STORE_MANAGER]
    with tenant_context(tenant):
        member = CustomerFactory(home_store=store, enrolled_by=clerk)
        Customer.objects.filter(pk=member.pk).update(created_at=_at(tenant, 2))
        sale = record_sale(store, _at(tenant, 3), lines=[line(price="100.00")], staff=clerk)
        record_sale(store, _at(tenant, 4), lines=[line(price="300.00")], staff=clerk, member=member)
        # The manager refunds the clerk's sale: it counts against the clerk.
        record_sale(
            store, _at(tenant, 5), lines=[line(price="100.00")], staff=manager, refund_of=sale
        )
        record_sale(store, _at(tenant, 6), lines=[line(price="50.00")], staff=manager)

        lead = LeadFactory(store=store, owner=clerk, follow_up_on=datetime.date(2026, 3, 25))
        first = lead_follow_up(staff=clerk, lead=lead, note="打过电话")  # due 3-25, on time
        assert first.due_on == datetime.date(2026, 3, 25)
        Lead.objects.filter(pk=lead.pk).update(follow_up_on=datetime.date(2026, 3, 1))
        lead.refresh_from_db()
        lead_follow_up(staff=clerk, lead=lead, note="又打了")  # due 3-1, done 3-20: late
        Lead.objects.filter(pk=lead.pk).update(status=LeadStatus.WON, closed_at=_at(tenant, 19))

        case = ServiceCaseFactory(store=store, assignee=manager, due_at=_at(tenant, 8))
        late = ServiceCaseFactory(store=store, assignee=manager, due_at=_at(tenant, 8))
        ServiceCase.objects.filter(pk=case.pk).update(
            status=CaseStatus.RESOLVED, resolved_at=_at(tenant, 7)
        )
        ServiceCase.objects.filter(pk=late.pk).update(
            status=CaseStatus.CLOSED, resolved_at=_at(tenant, 9)
        )
        for score in (5, 4):
            SurveyResponse.objects.create(survey=SurveyFactory(store=store, case=case), score=score)

        figures = staff_performance(month=MARCH, store_ids=[store.pk])

    mine = figures[clerk.pk]
    assert mine.gross_sales == Decimal("400.00")
    assert mine.refunds == Decimal("-100.00")
    assert mine.net_sales == Decimal("300.00")
    assert mine.transactions == 2
    assert mine.average_ticket == Decimal("200.00")
    assert mine.member_share == Decimal("0.7500")
    assert mine.members_enrolled == 1
    assert (mine.follow_ups, mine.follow_ups_on_time) == (2, 1)
    assert mine.leads_won == 1
    theirs = figures[manager.pk]
    assert theirs.net_sales == Decimal("50.00")
    assert (theirs.cases_resolved, theirs.cases_within_sla) == (2, 1)
    assert theirs.survey_average == Decimal("4.50")


def test_figures_take_the_same_number_of_queries_for_any_number_of_staff(
    march, django_assert_max_num_queries
):
    world = march
    tenant, store = world.tenant_a, world.store_a1
    with tenant_context(tenant):
        for _ in range(8):
            seller = make_staff(tenant, Role.CLERK, store)
            with tenant_context(tenant):
                record_sale(store, _at(tenant, 2), lines=[line()], staff=seller)
        with django_assert_max_num_queries(10):
            figures = staff_performance(month=MARCH, store_ids=[store.pk])
    assert len(figures) >= 8


def test_targets_progress_for_the_store_and_each_staff_member(march, client_for):
    world = march
    tenant, store = world.tenant_a, world.store_a1
    clerk, manager = world.staff_a[Role.CLERK], world.staff_a[Role.STORE_MANAGER]
    response = client_for(manager).post(
        reverse("analytics:target_list"),
        {
            "store": store.pk,
            "staff": clerk.pk,
            "month": "2026-03",
            "net_sales": "1000",
            "members_enrolled": "4",
        },
    )
    assert response.status_code == 302
    with tenant_context(tenant):
        staff_target_set(
            actor=manager,
            store=store,
            staff=None,
            month=MARCH,
            net_sales=Decimal("5000"),
            members_enrolled=10,
        )
        # Saving again changes the same target (one row per store, staff and month).
        staff_target_set(
            actor=manager,
            store=store,
            staff=clerk,
            month=datetime.date(2026, 3, 15),
            net_sales=Decimal("2000"),
            members_enrolled=4,
        )
        assert StaffTarget.objects.filter(store=store, month=MARCH).count() == 2
        assert AuditEvent.objects.filter(action="staff_target.set").count() == 3
        record_sale(store, _at(tenant, 3), lines=[line(price="500.00")], staff=clerk)
        figures = staff_performance(month=MARCH, store_ids=[store.pk])
        progress = store_progress(store_id=store.pk, month=MARCH)
    assert figures[clerk.pk].sales_progress == Decimal("0.2500")
    assert progress.sales_progress == Decimal("0.1000")

    page = client_for(manager).get(
        reverse("analytics:performance_store"), {"store": store.pk, "month": "2026-03"}
    )
    assert page.status_code == 200
    assert "25.0%" in page.content.decode()
    assert "10.0%" in page.content.decode()
    own = client_for(clerk).get(reverse("analytics:performance_me"), {"month": "2026-03"})
    assert "¥500.00" in own.content.decode() and "25.0%" in own.content.decode()


def test_a_clerk_sees_only_their_own_figures(march, client_for):
    world = march
    tenant, store = world.tenant_a, world.store_a1
    clerk, manager = world.staff_a[Role.CLERK], world.staff_a[Role.STORE_MANAGER]
    colleague = make_staff(tenant, Role.CLERK, store, display_name="同事小王")
    with tenant_context(tenant):
        incentive_rule_create(
            actor=world.staff_a[Role.HQ_ADMIN],
            kind=IncentiveKind.SALES_PERCENT,
            amount=Decimal("2"),
            effective_from=datetime.date(2026, 1, 1),
        )
        record_sale(store, _at(tenant, 3), lines=[line(price="777.00")], staff=colleague)
        record_sale(store, _at(tenant, 3), lines=[line(price="100.00")], staff=clerk)
        incentive_statements_compute(month=MARCH)
        theirs = IncentiveStatement.objects.get(staff=colleague)
        own = IncentiveStatement.objects.get(staff=clerk)

    me = client_for(clerk)
    page = me.get(reverse("analytics:performance_me"), {"month": "2026-03"}).content.decode()
    assert "¥100.00" in page and "777" not in page and "同事小王" not in page
    # The store's staff table, another's statement and its export are closed to a clerk.
    assert me.get(reverse("analytics:performance_store")).status_code == 403
    assert me.get(reverse("analytics:target_list")).status_code == 403
    for name in ("analytics:statement_detail", "analytics:statement_export"):
        assert me.get(reverse(name, kwargs={"statement_id": theirs.pk})).status_code == 404
        assert me.get(reverse(name, kwargs={"statement_id": own.pk})).status_code == 200
    # Nor may a clerk compute statements or confirm their own.
    assert me.post(reverse("analytics:statements_compute"), {"month": "2026-03"}).status_code == 403
    assert me.post(reverse("analytics:statement_confirm", args=[own.pk])).status_code == 403
    listing = me.get(reverse("analytics:statement_list"), {"month": "2026-03"}).content.decode()
    assert "同事小王" not in listing
    # The manager of their store sees both, and confirms the colleague's.
    boss = client_for(manager)
    assert (
        "同事小王"
        in boss.get(reverse("analytics:performance_store"), {"month": "2026-03"}).content.decode()
    )
    assert boss.get(reverse("analytics:statement_detail", args=[theirs.pk])).status_code == 200


def test_statement_export_names_each_source_and_is_audited(march, client_for):
    world = march
    tenant, store = world.tenant_a, world.store_a1
    clerk, manager = world.staff_a[Role.CLERK], world.staff_a[Role.STORE_MANAGER]
    with tenant_context(tenant):
        incentive_rule_create(
            actor=world.staff_a[Role.HQ_ADMIN],
            kind=IncentiveKind.SALES_PERCENT,
            amount=Decimal("1.5"),
            effective_from=datetime.date(2026, 1, 1),
        )
        sale = record_sale(store, _at(tenant, 3), lines=[line(price="200.00")], staff=clerk)
        incentive_statements_compute(month=MARCH)
        statement = IncentiveStatement.objects.get(staff=clerk)
    url = reverse("analytics:statement_export", args=[statement.pk])
    csv_text = client_for(manager).get(url, {"format": "csv"}).content.decode("utf-8-sig")
    assert str(sale.pk) in csv_text and "3.00" in csv_text
    xlsx = client_for(manager).get(url, {"format": "xlsx"})
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    with tenant_context(tenant):
        assert AuditEvent.objects.filter(action="incentive_statement.export").count() == 2
    detail = client_for(manager).get(reverse("analytics:statement_detail", args=[statement.pk]))
    assert reverse("analytics:sale_detail", kwargs={"sale_id": sale.pk}) in detail.content.decode()
