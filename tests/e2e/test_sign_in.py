import pytest

from tenancy.models import Role
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_hq_admin_signs_in_sees_navigation_and_signs_out(world, page, sign_in):
    staff = world.staff_a[Role.HQ_ADMIN]
    sign_in(staff)
    assert page.get_by_role("heading", name=f"您好，{staff.display_name}").is_visible()
    # HQ uses many pages: they sit in one folded menu per area, so the bar stays one line.
    nav = page.get_by_role("navigation", name="主导航")
    audit = nav.get_by_role("link", name="审计日志")
    assert not audit.is_visible()
    nav.get_by_text("管理", exact=True).click()
    assert audit.is_visible()
    screenshot(page, "home-hq-admin-menu")
    nav.get_by_text("营销", exact=True).click()  # opening one menu folds the other
    assert not audit.is_visible()
    assert nav.get_by_role("link", name="营销活动").is_visible()
    page.keyboard.press("Escape")
    assert not nav.get_by_role("link", name="营销活动").is_visible()
    screenshot(page, "home-hq-admin")
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url("**/accounts/login/")
    assert page.get_by_role("heading", name="登录").is_visible()


def test_phone_width_collapses_navigation_behind_a_menu_button(world, page, sign_in):
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(world.staff_a[Role.CLERK])
    nav = page.get_by_role("navigation", name="主导航")
    assert not nav.is_visible()
    page.get_by_role("button", name="菜单").click()
    assert nav.is_visible()
    screenshot(page, "home-clerk-phone")
