"""The staff inbox: each person sees and marks only their own notifications."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from tenancy.context import tenant_context
from tenancy.models import Notification, NotificationSetting, Role
from tenancy.services import notification_mark_read, notify

pytestmark = pytest.mark.django_db


def test_notify_writes_one_row_per_active_recipient(world):
    clerk = world.staff_a[Role.CLERK]
    manager = world.staff_a[Role.STORE_MANAGER]
    with tenant_context(world.tenant_a):
        manager.is_active = False
        manager.save()
        created = notify(recipients=[clerk, clerk, manager], kind="test", title="Hello")
        assert [n.recipient_id for n in created] == [clerk.pk]
        assert Notification.objects.count() == 1


def test_inbox_shows_own_notifications_only_and_counts_unread(world, client_for):
    clerk = world.staff_a[Role.CLERK]
    manager = world.staff_a[Role.STORE_MANAGER]
    with tenant_context(world.tenant_a):
        notify(recipients=[clerk], kind="test", title="For the clerk")
        notify(recipients=[manager], kind="test", title="For the manager")
    with tenant_context(world.tenant_b):
        notify(recipients=[world.staff_b[Role.CLERK]], kind="test", title="Other tenant")
    page = client_for(clerk).get(reverse("inbox")).content.decode()
    assert "For the clerk" in page
    assert "For the manager" not in page
    assert "Other tenant" not in page
    assert '<span class="badge warn">1<' in page


def test_marking_someone_elses_notification_changes_nothing(world, client_for):
    clerk = world.staff_a[Role.CLERK]
    manager = world.staff_a[Role.STORE_MANAGER]
    with tenant_context(world.tenant_a):
        (theirs,) = notify(recipients=[manager], kind="test", title="Manager only")
        (mine,) = notify(recipients=[clerk], kind="test", title="Mine", link="/inbox/")
    client = client_for(clerk)
    client.post(reverse("inbox_read"), {"id": theirs.pk})
    response = client.post(reverse("inbox_read"), {"id": mine.pk, "open": "1"})
    assert response.status_code == 302 and response["Location"] == "/inbox/"
    with tenant_context(world.tenant_a):
        assert Notification.objects.get(pk=theirs.pk).read_at is None
        assert Notification.objects.get(pk=mine.pk).read_at is not None
        assert notification_mark_read(staff=clerk, pk=mine.pk) == 0


def test_an_outside_link_is_not_followed(world, client_for):
    clerk = world.staff_a[Role.CLERK]
    with tenant_context(world.tenant_a):
        (item,) = notify(recipients=[clerk], kind="t", title="x", link="https://evil.example/")
    response = client_for(clerk).post(reverse("inbox_read"), {"id": item.pk, "open": "1"})
    assert response["Location"] == reverse("inbox")


def test_email_copy_only_for_those_who_asked(world, django_capture_on_commit_callbacks):
    clerk = world.staff_a[Role.CLERK]
    manager = world.staff_a[Role.STORE_MANAGER]
    for person in (clerk, manager):
        person.user.email = f"{person.user.username}@example.com"
        person.user.save()
    with tenant_context(world.tenant_a):
        NotificationSetting.objects.create(staff=clerk, email_copy=True)
        with django_capture_on_commit_callbacks(execute=True):
            notify(recipients=[clerk, manager], kind="t", title="Case overdue")
        assert Notification.objects.get(recipient=clerk).emailed
    assert [m.to for m in mail.outbox] == [[clerk.user.email]]


def test_the_badge_is_cached_and_follows_new_and_read_notifications(
    world, client_for, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    clerk = world.staff_a[Role.CLERK]
    client = client_for(clerk)
    home = reverse("home")
    with tenant_context(world.tenant_a), django_capture_on_commit_callbacks(execute=True):
        (first,) = notify(recipients=[clerk], kind="t", title="One")
    assert '<span class="badge warn">1<' in client.get(home).content.decode()
    with CaptureQueriesContext(connection) as captured:
        client.get(home)
    assert not any("tenancy_notification" in q["sql"] for q in captured.captured_queries)
    with tenant_context(world.tenant_a), django_capture_on_commit_callbacks(execute=True):
        notify(recipients=[clerk], kind="t", title="Two")
    assert '<span class="badge warn">2<' in client.get(home).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("inbox_read"))
    assert 'class="badge warn"' not in client.get(home).content.decode()
