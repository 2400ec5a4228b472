"""Overdue cases escalate by a job: store manager first, HQ later, each exactly once."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from interactions.models import CaseStatus, Escalation, ServiceCase
from interactions.tasks import escalate_overdue_cases
from tenancy.context import tenant_context
from tenancy.models import HQ_ROLES, Notification, Role
from tenancy.tasks import fan_out
from tests.interactions.factories import ServiceCaseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def overdue_case(world, *, hours_late: float, **kwargs):
    with tenant_context(world.tenant_a):
        return ServiceCaseFactory(
            store=world.store_a1,
            due_at=timezone.now() - datetime.timedelta(hours=hours_late),
            **kwargs,
        )


def overdue_notes(world, role):
    with tenant_context(world.tenant_a):
        return Notification.objects.filter(
            kind="case.overdue", recipient=world.staff_a[role]
        ).count()


def test_overdue_case_escalates_to_the_store_manager_once(world):
    case = overdue_case(world, hours_late=1, assignee=world.staff_a[Role.CLERK])
    with tenant_context(world.tenant_a):
        on_time = ServiceCaseFactory(store=world.store_a1)
    escalate_overdue_cases.delay(world.tenant_a.pk)
    escalate_overdue_cases.delay(world.tenant_a.pk)  # a repeat run changes nothing
    assert overdue_notes(world, Role.STORE_MANAGER) == 1
    assert overdue_notes(world, Role.CLERK) == 1  # the assignee hears of it too
    assert overdue_notes(world, Role.HQ_ADMIN) == 0
    with tenant_context(world.tenant_a):
        assert ServiceCase.objects.get(pk=case.pk).escalation == Escalation.STORE_MANAGER
        assert ServiceCase.objects.get(pk=on_time.pk).escalation == Escalation.NONE


def test_a_day_late_goes_to_hq_and_only_once(world):
    case = overdue_case(world, hours_late=1)
    fan_out("interactions.escalate_overdue_cases")
    assert overdue_notes(world, Role.STORE_MANAGER) == 1
    with tenant_context(world.tenant_a):
        ServiceCase.objects.filter(pk=case.pk).update(
            due_at=timezone.now() - datetime.timedelta(hours=25)
        )
    for _ in range(2):
        fan_out("interactions.escalate_overdue_cases")
    for role in HQ_ROLES:
        assert overdue_notes(world, role) == 1
    assert overdue_notes(world, Role.STORE_MANAGER) == 1
    with tenant_context(world.tenant_a):
        assert ServiceCase.objects.get(pk=case.pk).escalation == Escalation.HQ


def test_resolved_cases_and_other_tenants_are_left_alone(world):
    overdue_case(world, hours_late=30, status=CaseStatus.RESOLVED)
    with tenant_context(world.tenant_b):
        ServiceCaseFactory(
            store=world.store_b1, due_at=timezone.now() - datetime.timedelta(hours=2)
        )
    result = escalate_overdue_cases.delay(world.tenant_a.pk).get()
    assert result == {"store_manager": 0, "hq": 0}
    with tenant_context(world.tenant_b):
        assert not Notification.objects.exists()
