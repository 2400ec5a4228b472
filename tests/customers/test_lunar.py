"""Lunar (农历) birthdays: the dates come from the lunardate library, the rules are ours.

Checked over 2024-2035 against the library two independent ways: converting each lunar
birthday to its solar dates, and walking every solar day to ask whose birthday it is.
"""

from __future__ import annotations

import datetime

import pytest
from lunardate import LunarDate

from customers import lunar

YEARS = range(2024, 2036)
ALL_BIRTHDAYS = [(m, d, leap) for m in range(1, 13) for d in range(1, 31) for leap in (False, True)]


def days_of(year: int):
    day = datetime.date(year, 1, 1)
    while day.year == year:
        yield day
        day += datetime.timedelta(days=1)


def expected_occurrence(lunar_year: int, month: int, day: int, leap: bool) -> datetime.date:
    """The rules, spelled out on the library: leap month only if it exists, else the regular
    month; the 30th only if the month has 30 days, else the 29th."""
    has_leap = LunarDate.leap_month_for_year(lunar_year) == month
    in_leap = leap and has_leap
    first = LunarDate(lunar_year, month, 1, in_leap).to_solar_date()
    # The month's length: where the next lunar month starts.
    day_30 = first + datetime.timedelta(days=29)
    length = 29 if LunarDate.from_solar_date(day_30.year, day_30.month, day_30.day).day == 1 else 30
    return first + datetime.timedelta(days=min(day, length) - 1)


@pytest.mark.parametrize("year", YEARS)
def test_solar_dates_match_the_library_every_birthday_every_year(year):
    for month, day, leap in ALL_BIRTHDAYS:
        expected = sorted(
            solar
            for lunar_year in (year - 1, year)
            if (solar := expected_occurrence(lunar_year, month, day, leap)).year == year
        )
        assert lunar.solar_dates_in_year(month, day, leap, year) == expected, (month, day, leap)
        assert lunar.greeting_date(month, day, leap, year) == (expected[0] if expected else None)


@pytest.mark.parametrize("year", YEARS)
def test_walking_the_days_finds_each_birthday_exactly_on_its_dates(year):
    found: dict[tuple, list[datetime.date]] = {}
    for day in days_of(year):
        due = lunar.birthdays_on(day)
        assert len(due) <= 4
        for birthday in due:
            found.setdefault(birthday, []).append(day)
    for birthday in ALL_BIRTHDAYS:
        assert found.get(birthday, []) == lunar.solar_dates_in_year(*birthday, year), birthday


def test_a_date_that_exists_converts_back_to_itself():
    for year in YEARS:
        for month, day, leap in ALL_BIRTHDAYS:
            if leap and LunarDate.leap_month_for_year(year) != month:
                continue
            solar = lunar.occurrence(year, month, day, leap)
            back = LunarDate.from_solar_date(solar.year, solar.month, solar.day)
            if day == 30 and back.day == 29:
                continue  # a 29-day month this year
            assert (back.year, back.month, back.day, back.is_leap_month) == (year, month, day, leap)


def test_well_known_dates():
    # 春节 and 中秋, as every calendar prints them.
    assert lunar.greeting_date(1, 1, False, 2024) == datetime.date(2024, 2, 10)
    assert lunar.greeting_date(1, 1, False, 2025) == datetime.date(2025, 1, 29)
    assert lunar.greeting_date(1, 1, False, 2026) == datetime.date(2026, 2, 17)
    assert lunar.greeting_date(8, 15, False, 2024) == datetime.date(2024, 9, 17)
    assert lunar.greeting_date(8, 15, False, 2025) == datetime.date(2025, 10, 6)


def test_leap_month_birthdays_in_years_with_and_without_that_leap_month():
    assert LunarDate.leap_month_for_year(2025) == 6  # 闰六月 in 2025
    assert LunarDate.leap_month_for_year(2026) is None
    leap_2025 = LunarDate(2025, 6, 10, True).to_solar_date()
    regular_2025 = LunarDate(2025, 6, 10, False).to_solar_date()
    assert lunar.greeting_date(6, 10, True, 2025) == leap_2025  # the leap month itself
    assert lunar.greeting_date(6, 10, False, 2025) == regular_2025  # not the leap twin
    assert leap_2025 - regular_2025 in (datetime.timedelta(days=29), datetime.timedelta(days=30))
    # 2026 has no 闰六月: the regular sixth month.
    assert lunar.greeting_date(6, 10, True, 2026) == LunarDate(2026, 6, 10).to_solar_date()


def test_the_30th_of_a_29_day_month_is_greeted_on_the_29th():
    short = [
        (year, month)
        for year in YEARS
        for month in range(1, 13)
        if expected_occurrence(year, month, 30, False)
        == expected_occurrence(year, month, 29, False)
    ]
    assert len(short) > 30  # about half the months
    for year, month in short:
        with pytest.raises(ValueError):
            LunarDate(year, month, 30).to_solar_date()
        assert (
            lunar.occurrence(year, month, 30, False) == LunarDate(year, month, 29).to_solar_date()
        )


def test_a_winter_birthday_can_fall_twice_in_one_solar_year_and_the_first_is_greeted():
    twice = [
        (birthday, year)
        for year in YEARS
        for birthday in ALL_BIRTHDAYS
        if len(lunar.solar_dates_in_year(*birthday, year)) == 2
    ]
    assert twice  # late lunar 11th/12th-month days
    for (month, day, leap), year in twice:
        assert month in (11, 12)
        first, second = lunar.solar_dates_in_year(month, day, leap, year)
        assert first.month <= 2 and second.month == 12
        assert lunar.greeting_date(month, day, leap, year) == first


def test_month_lists_cover_every_day_of_the_month():
    for month in range(1, 13):
        combined = set()
        for day in days_of(2026):
            if day.month == month:
                combined |= lunar.birthdays_on(day)
        assert lunar.birthdays_in_month(2026, month) == combined


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("05-08", (None, 5, 8, False)),
        ("5/8", (None, 5, 8, False)),
        ("闰04-15", (None, 4, 15, True)),
        ("L4-15", (None, 4, 15, True)),
        ("1990-05-08", (1990, 5, 8, False)),
        ("五月初八", (None, 5, 8, False)),
        ("农历 闰四月十五", (None, 4, 15, True)),
        ("腊月廿三", (None, 12, 23, False)),
        ("正月三十", (None, 1, 30, False)),
        ("十一月初一", (None, 11, 1, False)),
    ],
)
def test_file_values_parse(text, parsed):
    assert lunar.parse_lunar(text) == parsed


@pytest.mark.parametrize("text", ["", "五月", "05", "1990-05", "十三月初一", "abc"])
def test_unreadable_values_raise(text):
    with pytest.raises(ValueError):
        lunar.parse_lunar(text)


def test_names():
    from django.utils import translation

    with translation.override("zh-hans"):
        assert lunar.lunar_text(5, 8, False) == "农历 五月初八"
        assert lunar.lunar_text(4, 15, True) == "农历 闰四月十五"
        assert lunar.lunar_text(12, 23, False) == "农历 腊月廿三"
        assert lunar.lunar_text(1, 30, False) == "农历 正月三十"
        assert lunar.lunar_text(None, None, False) == ""
    with translation.override("en"):
        assert lunar.lunar_text(5, 8, False) == "Lunar calendar: month 5, day 8"
        assert lunar.lunar_text(4, 15, True) == "Lunar calendar: leap month 4, day 15"
    assert lunar.lunar_code(4, 15, True) == "闰04-15"
    assert lunar.parse_lunar(lunar.lunar_code(4, 15, True)) == (None, 4, 15, True)
