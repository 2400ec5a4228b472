"""Retention: members inactive for the tenant's N years are anonymised every night.

The preview page and the job read one selector; the job erases through customer_erase, so
sales, member totals and the daily aggregates keep their numbers.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from celery import current_app
from django.conf import settings
from django.urls import reverse

from analytics.aggregation import aggregates_refresh_dirty, daily_stats_compute
from analytics.models import Sale, StoreDailyStats
from customers.models import Customer, DataRequest, RequestChannel, RequestKind
from customers.privacy import (
    RETENTION_YEARS_SETTING,
    privacy_settings_update,
    retention_candidates,
    retention_run,
)
from customers.services import ERASED_NAME
from customers.tasks import retention_anonymise
from interactions.models import Channel
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.analytics.factories import record_sale
from tests.factories import CustomerFactory
from tests.interactions.factories import InteractionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def now(in_a, clock):
    return clock.move_to(datetime.datetime(2026, 12, 7, 10, 0, tzinfo=in_a.tenant_a.zone))


def _aged(customer: Customer, *, years: float) -> Customer:
    """Backdate the enrolment (auto_now_add cannot be set through the factory)."""
    moment = customer.created_at - datetime.timedelta(days=round(365.25 * years))
    Customer.objects.filter(pk=customer.pk).update(created_at=moment)
    customer.refresh_from_db()
    return customer


@pytest.fixture
def members(in_a, now):
    """Who the 2-year policy takes, and who it keeps (and why)."""
    store = in_a.store_a1
    years_ago = lambda n: now - datetime.timedelta(days=round(365.25 * n))  # noqa: E731
    taken = {
        "never_bought": _aged(CustomerFactory(home_store=store, name="王小明"), years=5),
        "bought_long_ago": _aged(
            CustomerFactory(
                home_store=store,
                last_purchase_at=years_ago(3),
                purchase_count=4,
                total_spent=Decimal("388.50"),
            ),
            years=6,
        ),
        "old_note_only": _aged(CustomerFactory(home_store=store), years=4),
    }
    InteractionFactory(
        member=taken["old_note_only"], store=store, channel=Channel.NOTE, occurred_at=now
    )
    kept = {
        "bought_recently": _aged(
            CustomerFactory(home_store=store, last_purchase_at=years_ago(1)), years=5
        ),
        "enrolled_recently": _aged(CustomerFactory(home_store=store), years=1),
        "visited_recently": _aged(CustomerFactory(home_store=store), years=5),
        "open_request": _aged(CustomerFactory(home_store=store), years=5),
    }
    InteractionFactory(
        member=kept["visited_recently"],
        store=store,
        channel=Channel.VISIT,
        occurred_at=years_ago(0.5),
    )
    DataRequest.objects.create(
        kind=RequestKind.ACCESS,
        customer=kept["open_request"],
        channel=RequestChannel.COUNTER,
        received_on=now.date(),
        due_on=now.date() + datetime.timedelta(days=21),
    )
    return taken, kept


def _turn_on(world, years: int = 2) -> None:
    privacy_settings_update(
        actor=world.staff_a[Role.HQ_ADMIN], retention_years=years, request_days=15, reminder_days=3
    )


def test_the_policy_is_off_by_default(members, in_a):
    assert not in_a.tenant_a.setting(RETENTION_YEARS_SETTING)
    assert retention_candidates().count() == 0
    assert retention_run() == 0
    assert not Customer.objects.filter(is_erased=True).exists()


def test_preview_equals_what_the_job_anonymises_and_a_second_run_changes_nothing(
    members, in_a, client_for
):
    taken, kept = members
    _turn_on(in_a)
    preview = set(retention_candidates().values_list("pk", flat=True))
    assert preview == {m.pk for m in taken.values()}

    page = client_for(in_a.staff_a[Role.HQ_STAFF]).get(reverse("customers:retention"))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="retention-count">3<' in html
    assert "王**" in html and "王小明" not in html  # masked list
    assert taken["never_bought"].phone not in html
    assert taken["never_bought"].masked_phone in html

    assert retention_run(batch_size=2) == 3  # two batches
    erased = set(Customer.objects.filter(is_erased=True).values_list("pk", flat=True))
    assert erased == preview
    for member in Customer.objects.filter(pk__in=preview):
        assert member.name == ERASED_NAME and member.phone is None
    assert not Customer.objects.filter(pk__in=[m.pk for m in kept.values()], is_erased=True)

    events = AuditEvent.objects.filter(action="customer.erased")
    assert {int(e.object_id) for e in events} == preview
    assert all("Retention policy" in e.reason or "保留" in e.reason for e in events)
    assert AuditEvent.objects.filter(action="customer.retention_run").count() == 1

    # Second run: nobody is left, nothing is written.
    audit_count = AuditEvent.objects.count()
    assert retention_run() == 0
    assert AuditEvent.objects.count() == audit_count
    assert retention_candidates().count() == 0


def test_totals_sales_and_aggregates_keep_their_numbers(members, in_a, now):
    taken, _kept = members
    member = taken["bought_long_ago"]
    sold_at = now - datetime.timedelta(days=round(365.25 * 3))
    record_sale(in_a.store_a1, sold_at, member=member)
    Customer.objects.filter(pk=member.pk).update(last_purchase_at=sold_at)
    aggregates_refresh_dirty()
    member.refresh_from_db()
    day_rows = list(StoreDailyStats.objects.order_by("id").values())
    totals = (member.purchase_count, member.total_spent)
    assert day_rows

    _turn_on(in_a)
    retention_run()

    member.refresh_from_db()
    assert member.is_erased
    assert (member.purchase_count, member.total_spent) == totals
    assert Sale.objects.filter(member=member).count() == 1
    daily_stats_compute(day=sold_at.astimezone(in_a.tenant_a.zone).date())
    after = list(StoreDailyStats.objects.order_by("id").values())
    strip = lambda rows: [  # noqa: E731
        {k: v for k, v in row.items() if k not in ("id", "updated_at", "computed_at")}
        for row in rows
    ]
    assert strip(after) == strip(day_rows)


def test_a_member_who_buys_between_the_batch_and_the_erase_is_kept(members, in_a, now, monkeypatch):
    from customers import privacy

    taken, _kept = members
    buyer = taken["never_bought"]  # the lowest id: the first one re-checked
    _turn_on(in_a)
    calls = []
    selector = privacy.retention_candidates

    def candidates(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:  # the batch is read; the first member buys before the lock
            Customer.objects.filter(pk=buyer.pk).update(last_purchase_at=now)
        return selector(**kwargs)

    monkeypatch.setattr(privacy, "retention_candidates", candidates)
    assert retention_run() == 2
    buyer.refresh_from_db()
    assert not buyer.is_erased


def test_the_nightly_beat_entry_runs_the_job_per_tenant(members, in_a, world):
    entry = settings.CELERY_BEAT_SCHEDULE["customers-retention"]
    assert entry["task"] == "tenancy.fan_out"
    assert entry["args"][0] in current_app.tasks
    _turn_on(in_a)
    with tenant_context(world.tenant_b):
        other = _aged(CustomerFactory(home_store=world.store_b1), years=9)
    assert retention_anonymise.delay(world.tenant_a.pk).get() == 3
    # Tenant B has no policy: its long-inactive member stays.
    assert retention_anonymise.delay(world.tenant_b.pk).get() == 0
    with tenant_context(world.tenant_b):
        other.refresh_from_db()
        assert not other.is_erased


def test_only_an_hq_admin_edits_the_policy(in_a, client_for):
    url = reverse("customers:privacy_settings")
    data = {"retention_years": "3", "request_days": "10", "reminder_days": "2"}
    for role in (Role.HQ_STAFF, Role.STORE_MANAGER, Role.CLERK):
        assert client_for(in_a.staff_a[role]).post(url, data).status_code == 403
    assert not in_a.tenant_a.setting(RETENTION_YEARS_SETTING)
    response = client_for(in_a.staff_a[Role.HQ_ADMIN]).post(url, data)
    assert response.status_code == 302
    in_a.tenant_a.refresh_from_db()
    assert in_a.tenant_a.setting(RETENTION_YEARS_SETTING) == 3
    assert AuditEvent.objects.filter(action="privacy.settings").count() == 1


@pytest.mark.parametrize("role", [Role.STORE_MANAGER, Role.CLERK])
def test_store_staff_cannot_see_the_preview(in_a, client_for, role):
    response = client_for(in_a.staff_a[role]).get(reverse("customers:retention"))
    assert response.status_code == 403


def test_a_run_stops_at_its_time_budget_and_the_next_one_finishes(members, in_a):
    _turn_on(in_a)
    assert retention_run(max_seconds=0) == 0
    assert retention_candidates().count() == 3
    assert retention_run(max_seconds=3600) == 3
    assert retention_candidates().count() == 0
