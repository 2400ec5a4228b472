"""The four interaction writes that had no audit row now leave one, in their transaction."""

from __future__ import annotations

import pytest

from interactions import services
from interactions.models import SurveyKind
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.interactions.factories import LeadFactory, ServiceCaseFactory, SurveyFactory

pytestmark = pytest.mark.django_db


def test_contact_comment_follow_up_and_survey_answer_are_audited(world, member_a):
    clerk = world.staff_a[Role.CLERK]
    with tenant_context(world.tenant_a):
        services.interaction_record(
            staff=clerk, member=member_a, store=world.store_a1, channel="visit", text="试穿"
        )
        case = ServiceCaseFactory(store=world.store_a1, member=member_a)
        services.case_comment_add(actor=clerk, case=case, text="已联系顾客")
        lead = LeadFactory(store=world.store_a1, owner=clerk, member=member_a)
        services.lead_follow_up(staff=clerk, lead=lead, note="再约时间", next_step="周六到店")
        survey = SurveyFactory(member=member_a, store=world.store_a1, kind=SurveyKind.CSAT)
        services.survey_answer(survey=survey, score=5)

        events = {
            event.action: event
            for event in AuditEvent.objects.filter(
                action__in=["interaction.record", "case.comment", "lead.follow_up", "survey.answer"]
            )
        }
    assert set(events) == {"interaction.record", "case.comment", "lead.follow_up", "survey.answer"}
    assert events["interaction.record"].actor_label.startswith(clerk.display_name)
    assert events["lead.follow_up"].after["next_step"] == "周六到店"
    assert events["survey.answer"].after == {"score": 5}
