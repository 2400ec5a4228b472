"""A case the system opens for a low survey score is named in the reader's language; so is its
inbox item (issue 16). Staff-typed subjects stay as typed; old cases still read."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from interactions.models import SurveyResponse
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.interactions.factories import ServiceCaseFactory, SurveyFactory
from tests.interactions.test_surveys import link

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def _visible(client, url: str, language: str) -> str:
    client.cookies["django_language"] = language
    response = client.get(url)
    assert response.status_code == 200
    return re.sub(r"<[^>]+>", " ", response.content.decode())


def test_a_low_score_case_reads_in_both_languages(world, client_for):
    with tenant_context(world.tenant_a):
        survey = SurveyFactory(store=world.store_a1)
        name = survey.member.name
    Client().post(link(survey), {"score": 2, "comment": "等太久"})
    with tenant_context(world.tenant_a):
        case = SurveyResponse.objects.get().follow_up_case
    assert case.subject_message == {
        "key": "survey.low_score.title",
        "params": {"score": 2, "name": name},
    }
    manager = client_for(world.staff_a[Role.STORE_MANAGER])
    url = reverse("interactions:case_detail", args=[case.pk])
    assert f"{name} 给出低满意度评分 2" in _visible(manager, url, "zh-hans")
    english = _visible(manager, url, "en")
    assert f"Low satisfaction score 2 from {name}" in english and "给出低满意度评分" not in english
    assert f"Low satisfaction score 2 from {name}" in _visible(
        manager, reverse("interactions:case_list"), "en"
    )
    assert f"Low satisfaction score 2 from {name}" in _visible(manager, reverse("inbox"), "en")


def test_old_system_subjects_are_read_back_and_typed_ones_stay(world, client_for):
    with tenant_context(world.tenant_a):
        old = ServiceCaseFactory(store=world.store_a1, subject="王芳 给出低满意度评分 1")
        typed = ServiceCaseFactory(store=world.store_a1, subject="鞋底开胶")
    importlib.import_module("interactions.migrations.0003_case_subject_message_key").to_keys(
        apps, None
    )
    with tenant_context(world.tenant_a):
        old.refresh_from_db()
        typed.refresh_from_db()
    assert old.subject_message["params"] == {"name": "王芳", "score": "1"}
    assert typed.subject_message == {}
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    english = _visible(client, reverse("interactions:case_list"), "en")
    assert "Low satisfaction score 1 from 王芳" in english and "鞋底开胶" in english
