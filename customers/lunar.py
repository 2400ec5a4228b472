"""Lunar (农历) birthdays: dates from the `lunardate` library (1900-2099), never our own tables.

A lunar birthday is (month, day, is_leap_month). Its greeting in a solar year falls on the
solar date of that lunar date, with two rules for dates a lunar year may lack:

- a leap-month birthday (闰月) is greeted in the regular month of the same number when the
  lunar year has no such leap month (most years);
- day 30 of a month that has 29 days this lunar year is greeted on the 29th.

A lunar year straddles two solar years, so a lunar date can fall twice in one solar year (a
late-winter date, once from each lunar year) or not at all. The birthday job greets on every
such date, and the (member, solar year) claim lets only the first of them through.

The job asks the other way round: which (month, day, leap) birthdays fall on today? That is a
handful of triples (`birthdays_on`), matched against an index, instead of converting every
member's birthday.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Iterable

from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from lunardate import LunarDate

LunarBirthday = tuple[int, int, bool]  # (month 1-12, day 1-30, is_leap_month)
ONE_DAY = datetime.timedelta(days=1)

# Names of months and days as printed on calendars: display words, not date tables.
MONTH_NAMES = ("正", "二", "三", "四", "五", "六", "七", "八", "九", "十", "冬", "腊")
DIGITS = "一二三四五六七八九十"


def day_name(day: int) -> str:
    """初一 … 初十, 十一 … 十九, 二十, 廿一 … 廿九, 三十."""
    if day <= 10:
        return "初" + DIGITS[day - 1]
    if day < 20:
        return "十" + DIGITS[day - 11]
    if day == 20:
        return "二十"
    if day < 30:
        return "廿" + DIGITS[day - 21]
    return "三十"


def month_name(month: int, leap: bool) -> str:
    return ("闰" if leap else "") + MONTH_NAMES[month - 1] + "月"


def lunar_text(month: int | None, day: int | None, leap: bool) -> str:
    """农历 五月初八 in Chinese, "Lunar calendar: month 5, day 8" otherwise; "" without."""
    if not (month and day):
        return ""
    if not (1 <= month <= 12 and 1 <= day <= 30):
        return lunar_code(month, day, leap)  # not a lunar date: as written (an import preview)
    if (get_language() or "zh-hans").startswith("zh"):
        return f"农历 {month_name(month, leap)}{day_name(day)}"
    if leap:
        return _("Lunar calendar: leap month %(month)s, day %(day)s") % {
            "month": month,
            "day": day,
        }
    return _("Lunar calendar: month %(month)s, day %(day)s") % {"month": month, "day": day}


def lunar_code(month: int | None, day: int | None, leap: bool) -> str:
    """The file form: 05-08, or 闰04-15 for a leap month ("" without a lunar birthday)."""
    if not (month and day):
        return ""
    return f"{'闰' if leap else ''}{month:02d}-{day:02d}"


_NUMERIC = re.compile(r"^(?:(\d{4})[-/.年])?\s*(闰|leap\s*|l)?\s*(\d{1,2})[-/.月]\s*(\d{1,2})日?$")
_CHINESE = re.compile(r"^(?:农历|阴历)?\s*(闰)?([正二三四五六七八九十冬腊]|十一|十二)月(.{2})$")
_DAY_NAMES = {day_name(day): day for day in range(1, 31)}
_MONTH_NUMBERS = {name: index + 1 for index, name in enumerate(MONTH_NAMES)} | {
    "十一": 11,
    "十二": 12,
}


def parse_lunar(text: str) -> tuple[int | None, int, int, bool]:
    """(year or None, month, day, leap) from 05-08, 5/8, 闰04-15, L04-15, 1990-05-08 or
    五月初八 / 闰四月十五 / 腊月廿三. Range checks are validate_lunar_birthday's; ValueError
    when the text has none of these shapes."""
    value = re.sub(r"\s+", "", str(text)).lower()
    value = value.removeprefix("农历").removeprefix("阴历")
    match = _NUMERIC.match(value)
    if match:
        year, leap, month, day = match.groups()
        return (int(year) if year else None, int(month), int(day), bool(leap))
    match = _CHINESE.match(value)
    if match and match.group(3) in _DAY_NAMES:
        leap, month, day = match.groups()
        return None, _MONTH_NUMBERS[month], _DAY_NAMES[day], bool(leap)
    raise ValueError(text)


def occurrence(lunar_year: int, month: int, day: int, leap: bool) -> datetime.date:
    """The solar date a lunar birthday is greeted on in one lunar year, with the two rules."""
    if leap and LunarDate.leap_month_for_year(lunar_year) != month:
        leap = False  # no such leap month this year: the regular month
    try:
        return LunarDate(lunar_year, month, day, leap).to_solar_date()
    except ValueError:
        if day != 30:
            raise
        return LunarDate(lunar_year, month, 29, leap).to_solar_date()  # a 29-day month


def solar_dates_in_year(month: int, day: int, leap: bool, year: int) -> list[datetime.date]:
    """Every solar date in `year` a lunar birthday falls on (from lunar years year-1 and
    year), in order; the first is the one greeted, the claim skips a second."""
    dates = []
    for lunar_year in (year - 1, year):
        try:
            solar = occurrence(lunar_year, month, day, leap)
        except ValueError:  # outside the library's years
            continue
        if solar.year == year:
            dates.append(solar)
    return sorted(dates)


def greeting_date(month: int, day: int, leap: bool, year: int) -> datetime.date | None:
    """The solar date this year's greeting goes out on (None in the rare year without one)."""
    dates = solar_dates_in_year(month, day, leap, year)
    return dates[0] if dates else None


def birthdays_on(today: datetime.date) -> set[LunarBirthday]:
    """The lunar birthdays greeted on `today`: at most four triples."""
    lunar = LunarDate.from_solar_date(today.year, today.month, today.day)
    month, day, leap = lunar.month, lunar.day, lunar.is_leap_month
    found = {(month, day, leap)}
    try:
        tomorrow = today + ONE_DAY
        month_ends = LunarDate.from_solar_date(tomorrow.year, tomorrow.month, tomorrow.day).day == 1
    except ValueError:  # the library's last day
        month_ends = False
    if month_ends and day == 29:
        found.add((month, 30, leap))  # the 30th, in a month of 29 days
    if not leap and LunarDate.leap_month_for_year(lunar.year) != month:
        # Leap-month birthdays of a month that has no leap twin this year.
        found |= {(m, d, True) for m, d, _leap in found}
    return found


@functools.lru_cache(maxsize=24)
def birthdays_in_month(year: int, month: int) -> frozenset[LunarBirthday]:
    """The lunar birthdays greeted on some day of a solar month (about 60 triples)."""
    day = datetime.date(year, month, 1)
    found: set[LunarBirthday] = set()
    while day.month == month:
        found |= birthdays_on(day)
        day += ONE_DAY
    return frozenset(found)


def birthdays_q(birthdays: Iterable[LunarBirthday]) -> Q:
    """Members with one of these lunar birthdays: one IN list per (month, leap), each served
    by the (tenant, lunar month, lunar day, leap) index. Matches nothing for an empty set."""
    days: dict[tuple[int, bool], list[int]] = {}
    for month, day, leap in sorted(birthdays):
        days.setdefault((month, leap), []).append(day)
    q = Q(pk__in=[])
    for (month, leap), numbers in sorted(days.items()):
        q |= Q(lunar_birth_month=month, lunar_birth_leap=leap, lunar_birth_day__in=numbers)
    return q


def validate_lunar_birthday(
    *, year: int | None, month: int | None, day: int | None, leap: bool, today: datetime.date
) -> str | None:
    """None when valid, else the message (callers raise it as their error type)."""
    if month is None or day is None:
        return _("Enter both the month and the day of the lunar birthday.")
    if not 1 <= month <= 12:
        return _("A lunar month is from 1 to 12.")
    if not 1 <= day <= 30:
        return _("A lunar day is from 1 to 30.")
    if year is None:
        return None
    if year < 1901:
        return _("Enter a birth year after 1900.")
    if year > today.year:
        return _("The birthday cannot be in the future.")
    if leap and LunarDate.leap_month_for_year(year) != month:
        return _("Lunar year %(year)s has no leap month %(month)s.") % {
            "year": year,
            "month": month,
        }
    try:
        born = LunarDate(year, month, day, leap).to_solar_date()
    except ValueError:
        return _("That lunar month has only 29 days in %(year)s.") % {"year": year}
    if born > today:
        return _("The birthday cannot be in the future.")
    return None
