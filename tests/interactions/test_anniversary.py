"""Membership anniversary greeting: on the tenant's day, at most once a year."""

from __future__ import annotations

import datetime

import pytest

from customers.models import Customer
from interactions import hooks, services
from interactions.models import AnniversaryGreeting, MemberProfile
from tenancy.context import tenant_context
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def greetings():
    sent = []
    hooks.register("greeting_sender", lambda **kwargs: sent.append(kwargs))
    yield sent
    hooks.unregister("greeting_sender")


def enrolled(world, when: datetime.datetime, **kwargs) -> Customer:
    """A member whose enrolment time is `when` (UTC), with the keys recomputed."""
    with tenant_context(world.tenant_a):
        kwargs.setdefault("marketing_consent", True)
        member = CustomerFactory(home_store=world.store_a1, **kwargs)
        Customer.objects.filter(pk=member.pk).update(created_at=when)
        member.refresh_from_db()
        member.save()  # the receiver rewrites the anniversary key from created_at
        return member


def utc(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=datetime.UTC)


def test_greeted_once_on_the_anniversary_in_the_tenants_zone(world, greetings):
    # 20:00 UTC on March 4 is already March 5 in Shanghai.
    member = enrolled(world, utc(2023, 3, 4, 20, 0), name="李娜")
    with tenant_context(world.tenant_a):
        assert MemberProfile.objects.get(member=member).anniversary == "03-05"
        assert services.anniversaries_greet(today=datetime.date(2026, 3, 4)) == 0
        assert services.anniversaries_greet(today=datetime.date(2026, 3, 5)) == 1
        assert services.anniversaries_greet(today=datetime.date(2026, 3, 5)) == 0
        assert AnniversaryGreeting.objects.get().sent_at is not None
        assert services.anniversaries_greet(today=datetime.date(2027, 3, 5)) == 1
    assert [g["member"].pk for g in greetings] == [member.pk, member.pk]
    assert "3" in greetings[0]["text"] and "李娜" in greetings[0]["text"]


def test_leap_day_members_are_greeted_on_feb_28_in_common_years(world, greetings):
    member = enrolled(world, utc(2024, 2, 29, 2, 0))
    with tenant_context(world.tenant_a):
        assert services.anniversaries_greet(today=datetime.date(2025, 2, 28)) == 1
        assert services.anniversaries_greet(today=datetime.date(2025, 3, 1)) == 0
        assert services.anniversaries_greet(today=datetime.date(2028, 2, 28)) == 0
        assert services.anniversaries_greet(today=datetime.date(2028, 2, 29)) == 1
    assert len(greetings) == 2 and greetings[0]["member"].pk == member.pk


def test_no_consent_no_sender_or_enrolled_today_means_no_greeting(world, greetings):
    enrolled(world, utc(2023, 6, 1, 4, 0), marketing_consent=False)
    with tenant_context(world.tenant_a):
        assert services.anniversaries_greet(today=datetime.date(2026, 6, 1)) == 0
    enrolled(world, utc(2026, 6, 2, 4, 0))
    with tenant_context(world.tenant_a):
        assert services.anniversaries_greet(today=datetime.date(2026, 6, 2)) == 0
    hooks.unregister("greeting_sender")
    enrolled(world, utc(2023, 6, 3, 4, 0))
    with tenant_context(world.tenant_a):
        assert services.anniversaries_greet(today=datetime.date(2026, 6, 3)) == 0
        assert not AnniversaryGreeting.objects.exists()
    assert greetings == []
