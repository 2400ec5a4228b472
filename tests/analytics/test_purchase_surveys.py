"""After a purchase, a sample of buyers is asked how it went: through the real sales and the
interactions survey (no fakes), at most once per member per period, never without consent."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from analytics import services, tasks
from interactions.models import Survey
from tenancy.context import tenant_context
from tests.analytics.factories import line, record_sale
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def buyers(world):
    """Three members who bought five hours ago: two agreed to marketing, one did not."""
    with tenant_context(world.tenant_a):
        world.tenant_a.settings = {
            **world.tenant_a.settings,
            services.SURVEY_RATE_SETTING: 1.0,
            services.SURVEY_GAP_SETTING: 30,
        }
        world.tenant_a.save()
        agreed = [
            CustomerFactory(home_store=world.store_a1, marketing_consent=True) for _ in range(2)
        ]
        refused = CustomerFactory(home_store=world.store_a1, marketing_consent=False)
        when = timezone.now() - datetime.timedelta(hours=5)
        for member in [*agreed, refused]:
            record_sale(world.store_a1, when, lines=[line("A", 1, "20.00")], member=member)
    return agreed, refused


def test_recent_buyers_who_agreed_are_asked_once(world, buyers):
    agreed, refused = buyers
    with tenant_context(world.tenant_a):
        assert tasks.purchase_surveys.apply(args=[world.tenant_a.pk]).get() == 2
        assert set(Survey.objects.values_list("member_id", flat=True)) == {m.pk for m in agreed}
        assert all(survey.sale_reference for survey in Survey.objects.all())
        # The next hourly run, and a new purchase within the period, ask nobody again.
        record_sale(
            world.store_a1,
            timezone.now() - datetime.timedelta(hours=3),
            lines=[line("B", 1, "20.00")],
            member=agreed[0],
        )
        assert services.purchase_surveys_send() == 0
        assert Survey.objects.count() == 2


def test_a_member_is_asked_again_only_after_the_period(world, buyers):
    agreed, _refused = buyers
    with tenant_context(world.tenant_a):
        services.purchase_surveys_send()
        Survey.objects.update(created_at=timezone.now() - datetime.timedelta(days=31))
        assert services.purchase_surveys_send() == 2


def test_the_sample_rate_holds_across_repeated_runs_and_zero_turns_it_off(world):
    with tenant_context(world.tenant_a):
        when = timezone.now() - datetime.timedelta(hours=5)
        for _ in range(200):
            member = CustomerFactory(home_store=world.store_a1, marketing_consent=True)
            record_sale(world.store_a1, when, lines=[line("A", 1, "20.00")], member=member)
        assert services.purchase_surveys_send() == 0  # off by default
        world.tenant_a.settings = {**world.tenant_a.settings, services.SURVEY_RATE_SETTING: 0.25}
        first = services.purchase_surveys_send()
        again = services.purchase_surveys_send()
        assert 30 <= first <= 70 and again == 0  # about a quarter, decided once per sale


def test_too_fresh_or_too_old_purchases_are_not_asked_about(world):
    with tenant_context(world.tenant_a):
        world.tenant_a.settings = {**world.tenant_a.settings, services.SURVEY_RATE_SETTING: 1.0}
        for hours in (1, 72):
            member = CustomerFactory(home_store=world.store_a1, marketing_consent=True)
            record_sale(
                world.store_a1,
                timezone.now() - datetime.timedelta(hours=hours),
                lines=[line("A", 1, "20.00")],
                member=member,
            )
        assert services.purchase_surveys_send() == 0
