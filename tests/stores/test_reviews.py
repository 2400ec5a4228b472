"""Periodic re-review (定期复核): due dates, the nightly job, and HQ recording outcomes."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from stores import services
from stores.models import ReviewStatus, Store, StoreReview, StoreStatus
from tenancy.context import tenant_context
from tenancy.dates import add_months, tenant_today
from tenancy.models import AuditEvent, Role
from tenancy.tasks import fan_out
from tests.stores.factories import approved_store, hq_staff

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "day, months, expected",
    [
        (datetime.date(2026, 1, 31), 1, datetime.date(2026, 2, 28)),
        (datetime.date(2024, 1, 31), 1, datetime.date(2024, 2, 29)),
        (datetime.date(2026, 11, 25), 12, datetime.date(2027, 11, 25)),
        (datetime.date(2026, 11, 30), 3, datetime.date(2027, 2, 28)),
    ],
)
def test_add_months_clamps_to_month_end(day, months, expected):
    assert add_months(day, months) == expected


def test_approval_sets_the_next_review_from_the_tenant_setting(in_tenant):
    today = tenant_today()
    assert approved_store().next_review_on == add_months(today, 12)
    in_tenant.settings = {"store_review_months": 6}
    in_tenant.save()
    assert approved_store().next_review_on == add_months(today, 6)


def test_review_interval_is_set_by_hq_admin_and_audited(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    assert client.post(reverse("stores:setup"), {"months": 0}).status_code == 200
    assert client.post(reverse("stores:setup"), {"months": 6}).status_code == 302
    world.tenant_a.refresh_from_db()
    assert world.tenant_a.settings["store_review_months"] == 6
    with tenant_context(world.tenant_a):
        event = AuditEvent.objects.get(action="stores.review_interval_set")
        assert event.before == {"months": 12} and event.after == {"months": 6}


def _due(store, days_ago=1):
    Store.objects.filter(pk=store.pk).update(
        next_review_on=tenant_today() - datetime.timedelta(days=days_ago)
    )


def test_the_nightly_job_lists_due_and_overdue_stores_once(world):
    with tenant_context(world.tenant_a):
        _due(world.store_a1, days_ago=40)  # overdue
        _due(world.store_a2, days_ago=0)  # due today
    with tenant_context(world.tenant_b):
        Store.objects.update(next_review_on=tenant_today() + datetime.timedelta(days=1))
    assert fan_out("stores.reviews_mark_due") == 2  # one job per active tenant
    assert fan_out("stores.reviews_mark_due") == 2  # a re-run adds nothing
    with tenant_context(world.tenant_a):
        assert sorted(StoreReview.objects.values_list("store_id", flat=True)) == sorted(
            [world.store_a1.pk, world.store_a2.pk]
        )
        assert AuditEvent.objects.filter(action="stores.reviews_due").count() == 1
    with tenant_context(world.tenant_b):
        assert not StoreReview.objects.exists()


def test_closed_stores_are_not_reviewed(in_tenant):
    store = approved_store()
    services.store_set_status(store=store, status=StoreStatus.CLOSED, actor=hq_staff(), reason="x")
    Store.objects.filter(pk=store.pk).update(next_review_on=datetime.date(2020, 1, 1))
    assert services.reviews_mark_due() == 0


def test_confirmed_review_moves_the_next_review_forward(in_tenant):
    store = approved_store()
    _due(store)
    services.reviews_mark_due()
    review = StoreReview.objects.get()
    services.review_record(review=review, reviewer=hq_staff(), outcome=ReviewStatus.CONFIRMED)
    store.refresh_from_db()
    assert store.next_review_on == add_months(tenant_today(), 12)
    assert services.reviews_mark_due() == 0
    with pytest.raises(ValidationError):
        services.review_record(review=review, reviewer=hq_staff(), outcome=ReviewStatus.CONFIRMED)
    event = AuditEvent.objects.get(action="stores.review_confirmed")
    assert event.object_id == str(store.pk)


def test_close_outcome_closes_the_store_and_needs_a_note(in_tenant):
    store = approved_store()
    _due(store)
    services.reviews_mark_due()
    review = StoreReview.objects.get()
    with pytest.raises(ValidationError):
        services.review_record(review=review, reviewer=hq_staff(), outcome=ReviewStatus.CLOSED)
    services.review_record(
        review=review, reviewer=hq_staff(), outcome=ReviewStatus.CLOSED, note="长期亏损"
    )
    store.refresh_from_db()
    assert store.status == StoreStatus.CLOSED and store.next_review_on is None
    assert store.code == "BJ-ZY-001"
    assert AuditEvent.objects.get(action="stores.review_closed").reason == "长期亏损"


def test_hq_records_an_outcome_from_the_queue(world, client_for):
    with tenant_context(world.tenant_a):
        _due(world.store_a1, days_ago=5)
        services.reviews_mark_due()
        review = StoreReview.objects.get()
    client = client_for(world.staff_a[Role.HQ_STAFF])
    html = client.get(reverse("stores:review_queue")).content.decode()
    assert world.store_a1.code in html and "已逾期" in html
    response = client.post(
        reverse("stores:review_record", args=[review.pk]),
        {"outcome": ReviewStatus.NEEDS_CHANGE, "note": "地址已变更"},
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        review.refresh_from_db()
        assert review.status == ReviewStatus.NEEDS_CHANGE
        assert review.reviewed_by == world.staff_a[Role.HQ_STAFF]
    # Another tenant's HQ cannot record it; store staff may not use the queue.
    other = client_for(world.staff_b[Role.HQ_STAFF])
    assert other.post(reverse("stores:review_record", args=[review.pk])).status_code == 404
    manager = client_for(world.staff_a[Role.STORE_MANAGER])
    assert manager.get(reverse("stores:review_queue")).status_code == 403
