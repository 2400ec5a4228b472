"""Four eyes: whoever submitted an application may not approve or reject it (issue 16)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from stores import services
from stores.models import ApplicationStatus
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.stores.factories import hq_applicant, hq_staff, submitted_application

pytestmark = pytest.mark.django_db

REFUSAL = "另一位总部同事"


def test_the_submitter_can_neither_approve_nor_reject(in_tenant):
    application = submitted_application(applicant=hq_staff())
    with pytest.raises(ValidationError, match="four-eyes|四眼"):
        services.application_approve(application=application, reviewer=hq_staff())
    with pytest.raises(ValidationError, match="four-eyes|四眼"):
        services.application_reject(application=application, reviewer=hq_staff(), reason="不行")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SUBMITTED
    assert application.issued_code == ""


def test_another_hq_colleague_may_approve(in_tenant):
    application = submitted_application(applicant=hq_applicant())
    store = services.application_approve(application=application, reviewer=hq_staff())
    assert store.code == "BJ-ZY-001"


def test_the_rule_is_on_by_default_and_a_tenant_may_turn_it_off(in_tenant):
    assert services.four_eyes_required()
    admin = hq_staff()
    services.four_eyes_set(required=False, actor=admin)
    assert not services.four_eyes_required()
    assert AuditEvent.objects.filter(action="stores.four_eyes_set").exists()
    application = submitted_application(applicant=admin)
    rejected = services.application_reject(application=application, reviewer=admin, reason="重填")
    assert rejected.status == ApplicationStatus.REJECTED


@pytest.fixture
def own(world):
    """An application that tenant A's HQ staff member submitted themself."""
    with tenant_context(world.tenant_a):
        services.counters_sync_with_stores()
        return submitted_application(applicant=world.staff_a[Role.HQ_STAFF], region_code="SH")


def test_the_page_offers_no_review_to_the_submitter_and_says_why(world, client_for, own):
    hq = client_for(world.staff_a[Role.HQ_STAFF])
    page = hq.get(reverse("stores:application_detail", args=[own.pk])).content.decode()
    assert REFUSAL in page
    assert reverse("stores:application_approve", args=[own.pk]) not in page
    other = client_for(world.staff_a[Role.HQ_ADMIN])
    page = other.get(reverse("stores:application_detail", args=[own.pk])).content.decode()
    assert reverse("stores:application_approve", args=[own.pk]) in page and REFUSAL not in page


def test_a_forged_post_by_the_submitter_is_refused_with_the_message(world, client_for, own):
    hq = client_for(world.staff_a[Role.HQ_STAFF])
    for name, data in (("application_approve", {}), ("application_reject", {"reason": "x"})):
        response = hq.post(reverse(f"stores:{name}", args=[own.pk]), data, follow=True)
        assert REFUSAL in response.content.decode()
    with tenant_context(world.tenant_a):
        own.refresh_from_db()
        assert own.status == ApplicationStatus.SUBMITTED


def test_the_setup_page_turns_the_rule_off(world, client_for):
    admin = client_for(world.staff_a[Role.HQ_ADMIN])
    response = admin.post(reverse("stores:setup"), {"form": "four_eyes"}, follow=True)
    assert response.status_code == 200
    world.tenant_a.refresh_from_db()
    with tenant_context(world.tenant_a):
        assert not services.four_eyes_required()
