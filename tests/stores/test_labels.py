"""Labels of issue 16: 营业 for an open store, 筛选 on filter buttons, dates as YYYY-MM-DD."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import formats, translation

from stores.models import Store, StoreStatus
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.factories import CustomerFactory
from tests.stores.factories import approved_store

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _language_back_to_default():
    """A request in English leaves English active in this thread; later tests expect zh-Hans."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


# A date that is not YYYY-MM-DD: 2001-5-13, 13-05-2001, 2001/5/13, 5/13/2001, 2001年5月13日,
# May 13, 2001. Times (12:05) and codes (BJ-ZY-001) do not match.
OTHER_DATE = re.compile(
    r"\b\d{4}-\d(?!\d)|\b\d{4}-\d{2}-\d(?!\d)|\b\d{1,2}[-/.]\d{1,2}[-/.]\d{4}\b"
    r"|\b\d{4}/\d{1,2}/\d{1,2}\b|\d{4}年\d{1,2}月|\b[A-Z][a-z]{2,8}\.? \d{1,2}, \d{4}\b"
)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_date_formats_are_year_month_day_in_both_languages(language):
    with translation.override(language):
        day = datetime.date(2001, 5, 13)
        assert formats.date_format(day) == "2001-05-13"
        assert formats.date_format(day, "SHORT_DATE_FORMAT") == "2001-05-13"
        moment = datetime.datetime(2001, 5, 3, 9, 7)  # noqa: DTZ001 - formatting only
        assert formats.date_format(moment, "DATETIME_FORMAT") == "2001-05-03 09:07"


def test_an_open_store_reads_yingye_and_the_filter_button_shaixuan(world, client_for):
    with tenant_context(world.tenant_a):
        Store.objects.filter(pk=world.store_a1.pk).update(status=StoreStatus.OPEN)
    page = client_for(world.staff_a[Role.HQ_ADMIN]).get(reverse("stores:store_list"))
    text = page.content.decode()
    assert "营业" in text and "打开" not in text
    assert "筛选" in text and "过滤器" not in text


def test_no_template_asks_for_the_bare_filter_msgid():
    """Django admin's zh_Hans catalogue wins a bare "Filter" (过滤器): use the context."""
    templates = Path(settings.BASE_DIR, "templates")
    offenders = [
        str(path.relative_to(templates))
        for path in templates.rglob("*.html")
        if re.search(r'translate "Filter" ?%}', path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_pages_show_no_date_other_than_year_month_day(world, client_for, language):
    with tenant_context(world.tenant_a):
        store = approved_store(region_code="SH")
        member = CustomerFactory(
            home_store=world.store_a1, birth_year=2001, birth_month=5, birth_day=3
        )
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    client.post(reverse("set_language"), {"language": language, "next": "/"})
    urls = [
        reverse("stores:store_list"),
        reverse("stores:store_detail", args=[store.pk]),
        reverse("stores:application_list"),
        reverse("customers:profile", args=[member.pk]),
    ]
    for url in urls:
        text = client.get(url).content.decode()
        assert "2001-05-03" in text or url != urls[-1]
        assert not OTHER_DATE.findall(text), url
