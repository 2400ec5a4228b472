import pytest

from customers.models import Customer
from tenancy.context import tenant_context
from tenancy.encryption import phone_index
from tenancy.models import Role
from tests.e2e.conftest import open_nav, screenshot
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_clerk_looks_up_by_last4_then_enrols_a_new_member(world, page, sign_in):
    with tenant_context(world.tenant_a):
        CustomerFactory(phone="13812345678", name="王芳", home_store=world.store_a1)
        CustomerFactory(phone="13900005678", name="李娜", home_store=world.store_a2)
    sign_in(world.staff_a[Role.CLERK])
    open_nav(page, "会员查询")

    # Results appear as the clerk types, without a page load.
    page.get_by_label("手机号、手机尾号后4位或会员卡号").fill("5678")
    results = page.locator("#lookup-results")
    results.get_by_role("link", name="王芳").wait_for()
    assert results.get_by_text("138****5678").is_visible()
    assert "13812345678" not in results.inner_text()
    assert results.get_by_role("link", name="李娜").is_visible()
    screenshot(page, "customers-lookup-last4")

    # An unknown full number offers to enrol it, prefilled.
    page.get_by_label("手机号、手机尾号后4位或会员卡号").fill("13911112222")
    page.get_by_role("link", name="用此号码登记会员").click()
    assert page.get_by_label("手机号").input_value() == "13911112222"
    page.get_by_label("姓名").fill("张伟")
    page.get_by_label("出生月份").select_option("2")
    page.get_by_label("出生日").fill("29")
    page.get_by_label("会员同意接收营销信息").check()
    screenshot(page, "customers-enrol-form")
    page.get_by_role("button", name="登记", exact=True).click()
    page.get_by_role("heading", name="张伟").wait_for()
    assert page.get_by_text("139****2222", exact=True).is_visible()
    assert page.get_by_text("已同意").first.is_visible()
    screenshot(page, "customers-profile-after-enrol")
    with tenant_context(world.tenant_a):
        member = Customer.objects.get(phone_hash=phone_index("13911112222"))
    assert member.home_store_id == world.store_a1.pk
    assert member.birth_month == 2 and member.birth_day == 29


def test_enrolling_a_known_phone_shows_the_existing_member(world, page, sign_in):
    with tenant_context(world.tenant_a):
        CustomerFactory(phone="13812345678", name="王芳", home_store=world.store_a1)
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(world.staff_a[Role.CLERK])
    page.goto("/members/enrol/")
    page.get_by_label("手机号").fill("138 1234 5678")
    page.get_by_label("姓名").fill("王芳")
    page.get_by_role("button", name="登记", exact=True).click()
    page.get_by_role("heading", name="该号码已是会员").wait_for()
    screenshot(page, "customers-enrol-duplicate-phone")
    page.get_by_role("link", name="打开该会员").click()
    page.get_by_role("heading", name="王芳").wait_for()
