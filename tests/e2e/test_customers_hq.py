import pytest

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
    page.wait_for_function("document.querySelector('#segment-count').textContent.trim() === '3'")
    page.get_by_label("所属门店").select_option(label="BJ-ZY-002 甲二店")
    page.wait_for_function("document.querySelector('#segment-count').textContent.trim() === '0'")
    assert count.inner_text().strip() == "0"
    page.get_by_label("所属门店").select_option(label="BJ-ZY-001 甲一店")
    page.wait_for_function("document.querySelector('#segment-count').textContent.trim() === '3'")
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
    page.get_by_role("button", name="上传并导入").click()
    page.get_by_text("未保存任何数据").wait_for()
    rows = page.locator("table tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).inner_text().startswith("3")
    assert "门店编码 XX 不存在" in rows.nth(1).inner_text()
    screenshot(page, "customers-import-rejected")
