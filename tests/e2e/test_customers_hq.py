import pytest
from playwright.sync_api import expect

from tenancy.context import tenant_context
from tenancy.models import Role
from tests.e2e.conftest import screenshot
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_segment_count_follows_the_criteria_live(world, page, sign_in):
    with tenant_context(world.tenant_a):
        for day in (1, 2, 3):
            CustomerFactory(birth_month=3, birth_day=day, home_store=world.store_a1)
        CustomerFactory(birth_month=4, birth_day=1, home_store=world.store_a2)
    sign_in(world.staff_a[Role.HQ_ADMIN])
    page.goto("/members/segments/new/")
    count = page.locator("#segment-count")
    page.get_by_label("生日月份").select_option("3")
    expect(count).to_have_text("3")
    page.get_by_label("所属门店").select_option(label="BJ-ZY-002 甲二店")
    expect(count).to_have_text("0")
    assert count.inner_text().strip() == "0"
    page.get_by_label("所属门店").select_option(label="BJ-ZY-001 甲一店")
    expect(count).to_have_text("3")
    page.get_by_label("分群名称").fill("三月生日")
    screenshot(page, "customers-segment-live-count")
    page.get_by_role("button", name="保存分群").click()
    page.get_by_text("分群已保存。").wait_for()


def test_import_with_bad_rows_lists_them_and_saves_nothing(
    world, page, sign_in, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    bad = tmp_path / "members.csv"
    bad.write_text(
        "手机号,姓名,门店编码\n13900000001,好会员,BJ-ZY-001\n12345,坏号码,BJ-ZY-001\n13900000003,,XX\n",
        encoding="utf-8",
    )
    sign_in(world.staff_a[Role.HQ_ADMIN])
    page.goto("/members/import/")
    page.get_by_label("CSV 或 XLSX 文件").set_input_files(str(bad))
    page.get_by_role("button", name="上传并检查").click()
    page.get_by_text("未保存任何数据").wait_for()
    errors = page.locator("table").first.locator("tbody tr")
    texts = [errors.nth(i).inner_text() for i in range(errors.count())]
    assert [text.split()[0] for text in texts] == ["3", "4", "4"]  # rows as Excel numbers them
    assert any("XX" in text for text in texts)
    screenshot(page, "customers-import-rejected")


def test_manager_reveals_a_phone_and_duplicates_page(world, page, sign_in):
    with tenant_context(world.tenant_a):
        member = CustomerFactory(
            phone="13812345678", name="王芳", birth_month=5, birth_day=5, home_store=world.store_a1
        )
        CustomerFactory(
            phone="13912345678", name="王芳", birth_month=5, birth_day=5, home_store=world.store_a2
        )
    sign_in(world.staff_a[Role.STORE_MANAGER])
    page.goto(f"/members/{member.pk}/")
    assert page.get_by_text("138****5678", exact=True).is_visible()
    page.get_by_role("button", name="显示完整号码").click()
    page.locator("[data-revealed-phone]").wait_for()
    assert page.locator("[data-revealed-phone]").inner_text() == "13812345678"
    screenshot(page, "customers-profile-revealed")
    page.get_by_role("button", name="退出登录").click()
    sign_in(world.staff_a[Role.HQ_ADMIN])
    page.goto("/members/duplicates/")
    assert page.get_by_role("link", name="合并到第一位").count() == 2  # birthday and last 4
    screenshot(page, "customers-duplicates")
