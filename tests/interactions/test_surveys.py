"""Satisfaction surveys: the signed one-time link, refusals that write nothing, low scores."""

from __future__ import annotations

import datetime
import random
import re

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from interactions import hooks, services
from interactions.models import CaseStatus, ServiceCase, SurveyKind, SurveyResponse
from tenancy.context import tenant_context
from tenancy.models import Notification, Role
from tests.interactions.factories import ServiceCaseFactory, SurveyFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def link(survey) -> str:
    return reverse("interactions:survey_answer", kwargs={"token": services.survey_token(survey)})


def responses(tenant) -> int:
    with tenant_context(tenant):
        return SurveyResponse.objects.count()


@pytest.fixture
def survey(world):
    with tenant_context(world.tenant_a):
        return SurveyFactory(store=world.store_a1)


def test_a_member_answers_without_signing_in(world, survey):
    client = Client()
    page = client.get(link(survey))
    assert page.status_code == 200 and "您对本次服务满意吗" in page.content.decode()
    response = client.post(link(survey), {"score": 5, "comment": "很好"})
    assert response.status_code == 200 and "感谢" in response.content.decode()
    with tenant_context(world.tenant_a):
        answer = SurveyResponse.objects.get()
        assert (answer.survey_id, answer.score, answer.comment) == (survey.pk, 5, "很好")
        assert answer.follow_up_case is None


def test_a_second_answer_is_refused(world, survey):
    client = Client()
    client.post(link(survey), {"score": 4})
    second = client.post(link(survey), {"score": 1})
    assert second.status_code == 409
    with tenant_context(world.tenant_a):
        assert SurveyResponse.objects.get().score == 4
        assert not ServiceCase.objects.exists()
        with pytest.raises(services.SurveyRefused):
            services.survey_answer(survey=survey, score=1)


def test_a_bad_signature_is_refused(world, survey):
    token = services.survey_token(survey)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    url = reverse("interactions:survey_answer", kwargs={"token": tampered})
    assert Client().post(url, {"score": 5}).status_code == 404
    forged = signing.dumps({"t": world.tenant_a.pk, "s": survey.pk}, salt="another.salt")
    url = reverse("interactions:survey_answer", kwargs={"token": forged})
    assert Client().post(url, {"score": 5}).status_code == 404
    assert responses(world.tenant_a) == 0


def test_an_expired_link_is_refused(world, survey):
    with tenant_context(world.tenant_a):
        survey.expires_at = timezone.now() - datetime.timedelta(minutes=1)
        survey.save()
    assert Client().post(link(survey), {"score": 5}).status_code == 410
    assert responses(world.tenant_a) == 0


def test_a_link_older_than_the_signature_allows_is_refused(world, survey, monkeypatch):
    token = services.survey_token(survey)
    later = timezone.now() + datetime.timedelta(days=services.SURVEY_LINK_MAX_DAYS + 1)
    monkeypatch.setattr(signing.time, "time", lambda: later.timestamp())
    url = reverse("interactions:survey_answer", kwargs={"token": token})
    assert Client().post(url, {"score": 5}).status_code == 410
    assert responses(world.tenant_a) == 0


def test_another_tenants_survey_cannot_be_reached_through_a_link(world, survey):
    with tenant_context(world.tenant_b):
        theirs = SurveyFactory(store=world.store_b1)
    # Signed for tenant A but naming tenant B's survey: A has no such survey.
    crossed = signing.dumps({"t": world.tenant_a.pk, "s": theirs.pk}, salt=services.SURVEY_SALT)
    url = reverse("interactions:survey_answer", kwargs={"token": crossed})
    assert Client().post(url, {"score": 1}).status_code == 404
    # Signed in as tenant A's staff, tenant B's own link still works for B only.
    client = Client()
    client.force_login(world.staff_a[Role.HQ_ADMIN].user)
    assert client.post(link(theirs), {"score": 5}).status_code == 200
    assert responses(world.tenant_a) == 0
    assert responses(world.tenant_b) == 1


def test_an_out_of_range_score_is_refused(world, survey):
    response = Client().post(link(survey), {"score": 9})
    assert response.status_code == 200  # the form again, with the error
    assert responses(world.tenant_a) == 0


def test_a_low_score_opens_a_follow_up_case_for_the_store(world, survey):
    Client().post(link(survey), {"score": 2, "comment": "等太久"})
    with tenant_context(world.tenant_a):
        answer = SurveyResponse.objects.get()
        case = answer.follow_up_case
        assert case.store_id == world.store_a1.pk and case.member_id == survey.member_id
        assert case.status == CaseStatus.NEW and case.priority == "high"
        assert case.description == "等太久"
        assert case.category.for_low_scores
        assert Notification.objects.filter(
            kind="survey.low_score", recipient=world.staff_a[Role.STORE_MANAGER]
        ).exists()


def test_nps_detractor_opens_a_case_but_a_passive_does_not(world):
    with tenant_context(world.tenant_a):
        low = SurveyFactory(store=world.store_a1, kind=SurveyKind.NPS)
        mid = SurveyFactory(store=world.store_a1, kind=SurveyKind.NPS)
    Client().post(link(low), {"score": 6})
    Client().post(link(mid), {"score": 7})
    with tenant_context(world.tenant_a):
        assert ServiceCase.objects.count() == 1


def test_resolving_a_case_sends_a_survey_through_the_registered_sender(
    world, django_capture_on_commit_callbacks
):
    sent = []
    hooks.register("survey_sender", lambda *, member, text, kind: sent.append((member.pk, text)))
    try:
        with tenant_context(world.tenant_a):
            case = ServiceCaseFactory(store=world.store_a1, status=CaseStatus.IN_PROGRESS)
            with django_capture_on_commit_callbacks(execute=True):
                services.case_transition(
                    actor=world.staff_a[Role.CLERK], case=case, status=CaseStatus.RESOLVED
                )
            (survey,) = case.surveys.all()
            assert survey.sent_at is not None
    finally:
        hooks.unregister("survey_sender")
    ((member_pk, text),) = sent
    assert member_pk == case.member_id
    assert services.survey_token(survey) in text


def test_without_a_sender_the_survey_waits_unsent_and_staff_see_its_link(
    world, client_for, django_capture_on_commit_callbacks
):
    hooks.unregister("survey_sender")  # as if campaigns were not installed
    with tenant_context(world.tenant_a):
        case = ServiceCaseFactory(store=world.store_a1, status=CaseStatus.IN_PROGRESS)
        with django_capture_on_commit_callbacks(execute=True):
            services.case_transition(
                actor=world.staff_a[Role.CLERK], case=case, status=CaseStatus.RESOLVED
            )
        (survey,) = case.surveys.all()
        assert survey.sent_at is None
    page = client_for(world.staff_a[Role.CLERK]).get(
        reverse("interactions:case_detail", kwargs={"pk": case.pk})
    )
    # The token carries its signing second, so read the link back rather than re-sign it.
    prefix = reverse("interactions:survey_answer", kwargs={"token": "T"}).removesuffix("T/")
    tokens = re.findall(re.escape(prefix) + r"([^/\"]+)/", page.content.decode())
    assert [services.survey_from_token(token) for token in tokens][:1] == [
        (world.tenant_a, survey.pk)
    ]


def test_sampling_skips_cases_and_never_surveys_a_case_twice(world):
    with tenant_context(world.tenant_a):
        world.tenant_a.settings = {"survey_case_sample_rate": 0.5}
        world.tenant_a.save()
        case = ServiceCaseFactory(store=world.store_a1)
        rng = random.Random(0)
        outcomes = [services.survey_after_case(case=case, rng=rng) for _ in range(10)]
        assert sum(1 for item in outcomes if item is not None) == 1
        assert case.surveys.count() == 1


def test_results_per_store_and_category(world, client_for):
    with tenant_context(world.tenant_a):
        case = ServiceCaseFactory(store=world.store_a1)
        for score in (5, 3):
            SurveyResponse.objects.create(
                survey=SurveyFactory(store=world.store_a1, case=case), score=score
            )
        SurveyFactory(store=world.store_a1)  # unanswered
        nps = SurveyFactory(store=world.store_a2, kind=SurveyKind.NPS)
        for score in (10,):
            SurveyResponse.objects.create(survey=nps, score=score)
    response = client_for(world.staff_a[Role.HQ_STAFF]).get(reverse("interactions:survey_results"))
    rows = {row["label"]: row for row in response.context["by_store"]}
    first = rows[f"{world.store_a1.code} {world.store_a1.name}"]
    assert (first["surveys"], first["answers"], first["csat_average"]) == (3, 2, 4)
    assert first["response_rate"] == 67
    second = rows[f"{world.store_a2.code} {world.store_a2.name}"]
    assert second["nps"] == 100
    categories = {row["label"]: row for row in response.context["by_category"]}
    assert categories[case.category.name]["answers"] == 2
    manager = client_for(world.staff_a[Role.STORE_MANAGER]).get(
        reverse("interactions:survey_results")
    )
    assert [row["store__code"] for row in manager.context["by_store"]] == [world.store_a1.code]
