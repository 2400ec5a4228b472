import pytest

from tenancy.models import Role
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_hq_admin_signs_in_sees_navigation_and_signs_out(world, page, sign_in):
    staff = world.staff_a[Role.HQ_ADMIN]
    sign_in(staff)
    assert page.get_by_role("heading", name=f"您好，{staff.display_name}").is_visible()
    assert (
        page.get_by_role("navigation", name="主导航")
        .get_by_role("link", name="审计日志")
        .is_visible()
    )
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
