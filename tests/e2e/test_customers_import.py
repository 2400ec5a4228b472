"""HQ migrates a chain's member list as Excel on Chinese Windows saves it (GBK, CRLF): the
first upload shows the bad row as Excel numbers it, the corrected file previews with its
encoding and columns, and confirming brings the members in."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from customers.models import Customer
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HEADER = "手机号码,会员姓名,生日,所属门店,微信号\r\n"


def gbk_file(tmp_path, name: str, rows: list[str]):
    path = tmp_path / name
    path.write_bytes((HEADER + "".join(row + "\r\n" for row in rows)).encode("gbk"))
    return path


def test_hq_imports_a_gbk_member_file_through_preview_and_confirm(
    world, page, sign_in, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path / "media"
    store = world.store_a1.code
    sign_in(world.staff_a[Role.HQ_ADMIN])

    page.goto("/members/import/")
    bad = gbk_file(
        tmp_path,
        "会员.csv",
        [f"13900001111,张伟,1990年1月2日,{store},zw01", f"13900002222,李娜,1990-13-45,{store},ln"],
    )
    page.get_by_label("CSV 或 XLSX 文件").set_input_files(str(bad))
    page.get_by_role("button", name="上传并检查").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("未保存任何数据")
    errors = page.locator("table").first
    expect(errors).to_contain_text("1990-13-45")
    expect(errors.locator("tbody tr").first.locator("td").first).to_have_text("3")
    screenshot(page, "customers-import-gbk-errors")

    page.goto("/members/import/")
    good = gbk_file(
        tmp_path,
        "会员-改.csv",
        [f"13900001111,张伟,1990年1月2日,{store},zw01", f"13900002222,李娜,1990/1/5,{store},ln"],
    )
    page.get_by_label("CSV 或 XLSX 文件").set_input_files(str(good))
    page.get_by_role("button", name="上传并检查").click()
    expect(page.get_by_text("GB18030").or_(page.get_by_text("GBK")).first).to_be_visible()
    expect(page.get_by_role("note")).to_contain_text("微信号")  # shown as not imported
    expect(page.locator("body")).to_contain_text("1990-01-05")
    screenshot(page, "customers-import-gbk-preview")
    with tenant_context(world.tenant_a):
        assert Customer.objects.count() == 0  # nothing before the confirm

    page.get_by_role("button", name="导入 2 行").click()
    expect(page.locator("body")).to_contain_text("已完成")
    with tenant_context(world.tenant_a):
        assert sorted(Customer.objects.values_list("name", flat=True)) == ["张伟", "李娜"]
    page.goto(reverse("customers:list"))
    expect(page.locator("body")).to_contain_text("李娜")
    screenshot(page, "customers-import-gbk-done")
