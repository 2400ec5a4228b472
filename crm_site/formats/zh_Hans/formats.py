"""Dates read YYYY-MM-DD in every language (issue 16: a birthday read `2001-5-13`).

Django's own zh_Hans formats print `Y年n月j日` and `Y/m/d`; en prints `N j, Y`. Ours are the
same ISO-style formats in both languages, so a date never changes shape with the language.
"""

DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
YEAR_MONTH_FORMAT = "Y-m"
MONTH_DAY_FORMAT = "m-d"
DATE_INPUT_FORMATS = ["%Y-%m-%d", "%Y/%m/%d"]
DATETIME_INPUT_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]
