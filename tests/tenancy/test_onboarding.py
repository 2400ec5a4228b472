"""The onboarding checklist ticks itself on the real actions; who may read whose."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.services import customer_enrol
from tenancy.context import tenant_context
from tenancy.models import OnboardingStep, Role
from tenancy.onboarding import checklist_for
from tests.analytics.factories import record_sale
from tests.conftest import make_staff
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
Step = OnboardingStep.Step


def done_steps(staff) -> set[str]:
    with tenant_context(staff.tenant):
        return set(OnboardingStep.objects.filter(staff=staff).values_list("step", flat=True))


def test_a_new_clerk_starts_with_nothing_done(world):
    clerk = world.staff_a[Role.CLERK]
    with tenant_context(world.tenant_a):
        checklist = checklist_for(clerk)
    assert [item.step for item in checklist.items] == [
        Step.READ_GUIDE,
        Step.LOOK_UP_MEMBER,
        Step.ENROL_MEMBER,
        Step.RECORD_SALE,
    ]
    assert checklist.done == 0 and not checklist.complete


def test_reading_the_guide_and_opening_a_member_tick_their_steps(world, client_for):
    clerk = world.staff_a[Role.CLERK]
    client = client_for(clerk)
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1)

    client.get(reverse("customers:lookup"), {"q": member.phone[-4:], "partial": "1"})
    assert done_steps(clerk) == set()  # the live lookup stays write-free

    assert client.get(reverse("help")).status_code == 200
    assert client.get(reverse("customers:profile", args=[member.pk])).status_code == 200
    assert done_steps(clerk) == {Step.READ_GUIDE, Step.LOOK_UP_MEMBER}


def test_enrolling_through_the_page_ticks_the_enrol_step(world, client_for):
    clerk = world.staff_a[Role.CLERK]
    response = client_for(clerk).post(
        reverse("customers:enrol"),
        {
            "name": "练习会员",
            "phone": "13911112222",
            "gender": "female",
            "home_store": world.store_a1.pk,
            "consent_channel": "counter",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert done_steps(clerk) == {Step.ENROL_MEMBER}


@pytest.mark.clock
def test_enrolling_and_selling_through_the_services_tick_once(
    world, django_capture_on_commit_callbacks
):
    clerk = world.staff_a[Role.CLERK]
    with tenant_context(world.tenant_a), django_capture_on_commit_callbacks(execute=True):
        customer_enrol(staff=clerk, phone="13911113333", name="甲", home_store=world.store_a1)
        record_sale(world.store_a1, timezone.now(), staff=clerk)
    with tenant_context(world.tenant_a):
        assert {s: n for s, n in _counts(clerk).items()} == {
            Step.ENROL_MEMBER: 1,
            Step.RECORD_SALE: 1,
        }
        # Done steps are remembered: a second sale neither reads nor writes a checklist row.
        with CaptureQueriesContext(connection) as captured:
            record_sale(world.store_a1, timezone.now(), staff=clerk)
        assert not [q for q in captured.captured_queries if "onboarding" in q["sql"]]
        assert _counts(clerk) == {Step.ENROL_MEMBER: 1, Step.RECORD_SALE: 1}


@pytest.mark.clock
def test_work_without_a_staff_member_ticks_nothing(world):
    """A POS upload (no staff) or a refund is not someone's practice sale."""
    clerk = world.staff_a[Role.CLERK]
    with tenant_context(world.tenant_a):
        record_sale(world.store_a1, timezone.now())
        assert OnboardingStep.objects.count() == 0
    assert done_steps(clerk) == set()


def _counts(staff) -> dict[str, int]:
    counts: dict[str, int] = {}
    for step in OnboardingStep.objects.filter(staff=staff).values_list("step", flat=True):
        counts[step] = counts.get(step, 0) + 1
    return counts


def test_a_clerk_sees_only_their_own_checklist(world, client_for):
    clerk = world.staff_a[Role.CLERK]
    colleague = make_staff(world.tenant_a, Role.CLERK, world.store_a1, display_name="同店同事")
    with tenant_context(world.tenant_a):
        OnboardingStep.objects.create(staff=colleague, step=Step.READ_GUIDE)
    client = client_for(clerk)

    with tenant_context(world.tenant_a):
        OnboardingStep.objects.create(staff=clerk, step=Step.LOOK_UP_MEMBER)

    page = client.get(reverse("onboarding")).content.decode()
    assert "同店同事" not in page
    assert "已完成 1/4 步" in page
    assert "您的入职清单：已完成 1/4 步。" in client.get(reverse("home")).content.decode()
    assert client.get(reverse("onboarding_team")).status_code == 403


def test_a_manager_sees_their_stores_staff_only(world, client_for):
    manager = world.staff_a[Role.STORE_MANAGER]
    own = make_staff(world.tenant_a, Role.CLERK, world.store_a1, display_name="本店新店员")
    other_store = make_staff(world.tenant_a, Role.CLERK, world.store_a2, display_name="二店店员")
    other_tenant = make_staff(world.tenant_b, Role.CLERK, world.store_b1, display_name="乙店员")
    with tenant_context(world.tenant_a):
        OnboardingStep.objects.create(staff=own, step=Step.READ_GUIDE)
        OnboardingStep.objects.create(staff=own, step=Step.RECORD_SALE)

    response = client_for(manager).get(reverse("onboarding_team"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "本店新店员" in page and "2/4" in page
    assert "二店店员" not in page and other_store.display_name not in page
    assert other_tenant.display_name not in page
    hq_page = client_for(world.staff_a[Role.HQ_ADMIN]).get(reverse("onboarding_team"))
    assert "二店店员" in hq_page.content.decode() and "乙店员" not in hq_page.content.decode()
