"""Lunar (农历) birthday greetings: on the solar date of the lunar birthday this year,
through the same (member, year) claim as solar birthdays, so twice run greets once."""

from __future__ import annotations

import datetime

import pytest
from lunardate import LunarDate

from campaigns import services
from campaigns.models import BirthdayGreeting, Delivery
from customers import lunar
from customers.models import Customer
from tenancy.context import current_tenant
from tests.campaigns.factories_services import MemberFactory
from tests.campaigns.test_birthday import CountingSender
from tests.factories import StoreFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock, pytest.mark.postgres]


def at_nine(day: datetime.date) -> datetime.datetime:
    """09:00 on the tenant's wall clock, the default greeting time."""
    return datetime.datetime(day.year, day.month, day.day, 9, tzinfo=current_tenant().zone)


@pytest.fixture
def store(in_tenant):
    return StoreFactory(name="南京路店")


@pytest.fixture
def counting(settings):
    settings.CAMPAIGN_SENDERS = {"sms": "tests.campaigns.test_birthday.CountingSender"}
    CountingSender.calls, CountingSender.fail_with = [], None
    yield CountingSender
    CountingSender.calls, CountingSender.fail_with = [], None


def lunar_member(store, month, day, leap=False, **kwargs) -> Customer:
    return MemberFactory(
        home_store=store,
        birth_month=None,
        birth_day=None,
        lunar_birth_month=month,
        lunar_birth_day=day,
        lunar_birth_leap=leap,
        **kwargs,
    )


def run_job(day: datetime.date) -> int:
    """The fan-out and its batches, inline, at 09:00 on `day`: members greeted."""
    now = at_nine(day)
    today, batches = services.birthday_batches(now=now)
    return sum(
        services.birthday_send_batch(member_ids=batch, today=today, now=now) for batch in batches
    )


def greeted_on(members, year: int) -> dict[int, list[datetime.date]]:
    """Walk every day of `year`: the days each member was greeted. On each day someone is
    due the whole job runs twice (a claim row is the greeting's record)."""
    days: dict[int, list[datetime.date]] = {member.pk: [] for member in members}
    day = datetime.date(year, 1, 1)
    while day.year == year:
        # The job's own "who is due" query: one indexed query for a day nobody is due.
        if services.birthday_due_ids(today=day):
            before = set(BirthdayGreeting.objects.values_list("pk", flat=True))
            first, second = run_job(day), run_job(day)
            assert second == 0
            new = BirthdayGreeting.objects.exclude(pk__in=before)
            assert new.count() == first
            for member_id in new.values_list("member_id", flat=True):
                days[member_id].append(day)
        day += datetime.timedelta(days=1)
    return days


def test_a_lunar_member_is_greeted_once_on_the_solar_date_of_the_birthday(store, counting):
    # 农历五月初八 in 2026, as the library has it.
    member = lunar_member(store, 5, 8, name="端午后")
    solar_member = MemberFactory(home_store=store, birth_month=1, birth_day=2)
    birthday = LunarDate(2026, 5, 8).to_solar_date()
    assert lunar.greeting_date(5, 8, False, 2026) == birthday

    assert run_job(birthday - datetime.timedelta(days=1)) == 0
    assert run_job(birthday) == 1
    assert run_job(birthday) == 0  # the second run of the day
    assert run_job(birthday + datetime.timedelta(days=1)) == 0

    assert counting.calls == [member.pk]
    assert list(BirthdayGreeting.objects.values_list("member_id", "year")) == [(member.pk, 2026)]
    assert Delivery.objects.get().key == f"birthday:2026:{member.pk}"
    assert solar_member.pk not in counting.calls


def test_leap_month_birthday_in_a_year_with_and_without_the_leap_month(store, counting):
    leap = lunar_member(store, 6, 10, leap=True, name="闰六月")
    regular = lunar_member(store, 6, 10, name="六月")
    # 2025 has 闰六月: each in its own month.
    assert run_job(LunarDate(2025, 6, 10).to_solar_date()) == 1
    assert run_job(LunarDate(2025, 6, 10, True).to_solar_date()) == 1
    assert counting.calls == [regular.pk, leap.pk]
    # 2026 has none: both on the regular 六月初十.
    assert run_job(LunarDate(2026, 6, 10).to_solar_date()) == 2
    assert run_job(LunarDate(2026, 6, 10).to_solar_date()) == 0
    assert sorted(counting.calls[2:]) == sorted([regular.pk, leap.pk])


def test_the_30th_in_a_29_day_month_is_greeted_on_the_29th(store, counting):
    year = 2026
    month = next(m for m in range(1, 11) if _has_29_days(year, m))
    member = lunar_member(store, month, 30)
    day_29 = LunarDate(year, month, 29).to_solar_date()
    assert run_job(day_29) == 1
    assert run_job(day_29 + datetime.timedelta(days=1)) == 0  # 初一 of the next month
    assert counting.calls == [member.pk]


def _has_29_days(year: int, month: int) -> bool:
    try:
        LunarDate(year, month, 30).to_solar_date()
    except ValueError:
        return True
    return False


def test_a_full_year_walked_day_by_day_greets_each_lunar_member_once(store, counting):
    members = {
        "五月初八": lunar_member(store, 5, 8),
        "闰六月初十": lunar_member(store, 6, 10, leap=True),
        "腊月三十": lunar_member(store, 12, 30),
        "冬月廿九": lunar_member(store, 11, 29),
    }
    expected = {
        member.pk: lunar.solar_dates_in_year(
            member.lunar_birth_month, member.lunar_birth_day, member.lunar_birth_leap, 2025
        )[:1]
        for member in members.values()
    }
    assert greeted_on(members.values(), 2025) == expected
    assert sorted(counting.calls) == sorted(pk for pk, days in expected.items() if days)


def test_opted_out_lunar_members_get_nothing(store, counting):
    lunar_member(store, 5, 8, marketing_consent=False)
    assert run_job(LunarDate(2026, 5, 8).to_solar_date()) == 0
    assert counting.calls == []


def test_the_due_query_uses_both_birthday_indexes_at_scale(store):
    """The job's query as PostgreSQL really plans it (no planner switches), over 20,000 members,
    a tenth with lunar birthdays: index scans on the solar and the lunar birthday index."""
    from django.db import connection

    from tenancy.context import without_tenant_settings

    day = LunarDate(2026, 5, 8).to_solar_date()
    rows = []
    for n in range(20_000):
        lunar_one = n % 10 == 0
        rows.append(
            Customer(
                phone=f"139{n:08d}",
                phone_last4=f"{n:08d}"[-4:],
                card_number=f"8{n:09d}",
                name=f"会员{n}",
                home_store=store,
                marketing_consent=True,
                birth_month=None if lunar_one else n % 12 + 1,
                birth_day=None if lunar_one else n % 28 + 1,
                lunar_birth_month=n % 12 + 1 if lunar_one else None,
                lunar_birth_day=n % 30 + 1 if lunar_one else None,
                lunar_birth_leap=lunar_one and n % 40 == 0,
            )
        )
    Customer.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
    captured = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        due = services.birthday_due_ids(today=day)
    # The one SELECT on members, without the tenant settings it travelled with.
    [(sql, params)] = [
        (without_tenant_settings(q), p) for q, p in captured if 'FROM "customers_customer"' in q
    ]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    print(plan)  # shown with -s
    assert "customer_lunar_birthday_idx" in plan, plan
    assert "customer_birthday_idx" in plan, plan
    assert "Seq Scan on customers_customer" not in plan, plan
    lunar_due = Customer.objects.filter(pk__in=due, lunar_birth_month__isnull=False)
    assert {(c.lunar_birth_month, c.lunar_birth_day) for c in lunar_due} <= {(5, 8)}


def test_a_campaign_can_target_this_months_lunar_birthdays(store, clock):
    from campaigns.views import _audience_lines
    from customers.selectors import criteria_queryset
    from tests.campaigns.factories_services import CampaignFactory

    clock.move_to(datetime.datetime(2026, 3, 15, 12, tzinfo=current_tenant().zone))
    inside = lunar_member(store, 1, 20)  # 正月二十 2026 is in March
    lunar_member(store, 6, 1)
    campaign = CampaignFactory(criteria={"lunar_birthday_this_month": True})
    assert list(criteria_queryset(campaign.criteria).values_list("pk", flat=True)) == [inside.pk]
    assert ("本月农历生日", "是") in _audience_lines(campaign)
