"""The navigation bar: a flat row at the counter, folded menus per area for HQ."""

import pytest
from django.urls import reverse

from tenancy import navigation
from tenancy.models import Role

pytestmark = pytest.mark.django_db


def test_a_clerk_keeps_every_page_one_click_away():
    items = navigation.items_for(Role.CLERK)
    assert 1 < len(items) <= navigation.FLAT_UP_TO
    assert navigation.entries_for(items) == [{"link": item} for item in items]


def test_hq_pages_fold_into_one_menu_per_area_in_order():
    items = navigation.items_for(Role.HQ_ADMIN)
    assert len(items) > navigation.FLAT_UP_TO

    entries = navigation.entries_for(items, current="campaigns:outbox")

    assert entries[0] == {"link": items[0]} and items[0]["url_name"] == "home"
    menus = {entry["key"]: entry for entry in entries if "key" in entry}
    assert list(menus) == ["stores", "members", "service", "sales", "marketing", "admin"]
    folded = [item["url_name"] for menu in menus.values() for item in menu["items"]]
    assert sorted(folded + ["home"]) == sorted(item["url_name"] for item in items)
    assert "loyalty:settings" in [i["url_name"] for i in menus["members"]["items"]]
    assert [key for key, menu in menus.items() if menu["current"]] == ["marketing"]


def test_the_hq_home_page_lists_pages_under_their_areas(world, client_for):
    page = client_for(world.staff_a[Role.HQ_ADMIN]).get(reverse("home")).content.decode()
    assert '<details data-nav-menu><summary class="current">' not in page  # home is a link
    assert "<h2>营销</h2>" in page and "<h2>管理</h2>" in page
    marketing = page.index("<h2>营销</h2>")
    assert marketing < page.index("发件箱", marketing) < page.index("<h2>管理</h2>")


def test_a_clerk_sees_no_menus(world, client_for):
    page = client_for(world.staff_a[Role.CLERK]).get(reverse("home")).content.decode()
    assert "data-nav-menu" not in page and "<h2>" not in page
