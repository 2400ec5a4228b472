"""Things that must happen once, tried from parallel threads on PostgreSQL."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from interactions import services
from interactions.models import ServiceCase, SurveyResponse
from tenancy.context import tenant_context
from tenancy.models import Notification, Role
from tests.concurrency.threads import run_threads
from tests.interactions.factories import ServiceCaseFactory, SurveyFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.clock]


def in_parallel(tenant, work, count: int = 6) -> list:
    """`work(n)` in `count` threads started together (tests/concurrency/threads.py); a refused
    survey answer counts as its reason."""

    def run(number: int):
        with tenant_context(tenant):
            try:
                return work(number)
            except services.SurveyRefused as refused:
                return refused.reason

    return run_threads(count, run)


def test_parallel_answers_to_one_survey_keep_one(world):
    with tenant_context(world.tenant_a):
        survey = SurveyFactory(store=world.store_a1)
    results = in_parallel(
        world.tenant_a, lambda n: services.survey_answer(survey=survey, score=1 + n % 5).pk
    )
    assert sorted(map(str, results)).count("answered") == 5
    with tenant_context(world.tenant_a):
        assert SurveyResponse.objects.count() == 1
        low = SurveyResponse.objects.get().score <= 2
        assert ServiceCase.objects.count() == (1 if low else 0)


def test_parallel_escalation_runs_notify_once(world):
    with tenant_context(world.tenant_a):
        case = ServiceCaseFactory(
            store=world.store_a1, due_at=timezone.now() - datetime.timedelta(hours=1)
        )
    results = in_parallel(world.tenant_a, lambda n: services.cases_escalate_overdue())
    assert sum(result["store_manager"] for result in results) == 1
    with tenant_context(world.tenant_a):
        assert (
            Notification.objects.filter(
                kind="case.overdue", recipient=world.staff_a[Role.STORE_MANAGER]
            ).count()
            == 1
        )
        assert ServiceCase.objects.get(pk=case.pk).escalation == 1
