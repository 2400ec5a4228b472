"""A store's code application from the store manager to HQ and back, in a real browser."""

from __future__ import annotations

import pytest

from stores.models import Region, Store, StoreCodeApplication
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PDF = {"name": "营业执照.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%e2e\n"}


def sign_out(page):
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url("**/accounts/login/**")


def open_application(page, name):
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="门店编码申请").click()
    page.get_by_role("link", name=name).first.click()


def test_apply_reject_resubmit_approve_journey(world, page, sign_in, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    with tenant_context(world.tenant_a):
        Region.objects.create(code="SH", name="上海")
    manager = world.staff_a[Role.STORE_MANAGER]
    hq = world.staff_a[Role.HQ_STAFF]

    # The store manager applies for a new store and submits it.
    sign_in(manager)
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="门店编码申请").click()
    page.get_by_role("link", name="申请新店编码").click()
    page.get_by_label("门店名称").fill("上海陆家嘴店")
    page.get_by_label("区域").select_option(label="SH 上海")
    page.get_by_label("门店类型").select_option(label="ZY 直营")
    page.get_by_label("地址").fill("浦东新区世纪大道1号")
    page.get_by_label("联系人").fill("张店长")
    page.get_by_label("联系电话").fill("021-55556666")
    page.get_by_label("计划开业日期").fill("2027-03-01")
    page.get_by_label("原因", exact=True).fill("陆家嘴商圈客流大")
    page.get_by_label("资质文件").set_input_files(PDF)
    screenshot(page, "stores-application-form")
    page.get_by_role("button", name="保存草稿").click()
    assert page.get_by_text("申请已保存为草稿。").is_visible()
    assert page.get_by_role("link", name="营业执照.pdf").is_visible()
    page.get_by_role("button", name="提交审核").click()
    assert page.get_by_text("申请已提交审核。").is_visible()
    sign_out(page)

    # HQ finds it in the review queue and sends it back with a reason.
    sign_in(hq)
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="门店编码申请").click()
    assert page.get_by_role("heading", name="审核队列").is_visible()
    screenshot(page, "stores-review-queue")
    page.get_by_role("link", name="上海陆家嘴店").click()
    page.get_by_role("button", name="驳回").click()  # no reason: the browser refuses
    assert page.get_by_label("驳回理由").evaluate("el => !el.checkValidity()")
    page.get_by_label("驳回理由").fill("请补充租赁合同")
    page.get_by_role("button", name="驳回").click()
    assert page.get_by_text("申请已退回申请人。").is_visible()
    sign_out(page)

    # The manager sees why, corrects the application and resubmits it.
    sign_in(manager)
    open_application(page, "上海陆家嘴店")
    assert page.get_by_text("请补充租赁合同").first.is_visible()
    page.get_by_role("link", name="编辑").click()
    page.get_by_label("地址").fill("浦东新区世纪大道100号")
    page.get_by_role("button", name="保存草稿").click()
    page.get_by_role("button", name="重新提交").click()
    assert page.get_by_text("申请已提交审核。").is_visible()
    sign_out(page)

    # HQ approves: the store exists with its code, in preparation.
    sign_in(hq)
    open_application(page, "上海陆家嘴店")
    screenshot(page, "stores-application-review")
    page.get_by_role("button", name="批准").click()
    assert page.get_by_text("已批准：门店编码为 SH-ZY-001。").is_visible()
    page.get_by_role("link", name="SH-ZY-001").click()
    assert page.get_by_role("heading", name="SH-ZY-001 上海陆家嘴店").is_visible()
    assert page.get_by_text("筹备").first.is_visible()
    screenshot(page, "stores-store-detail")

    with tenant_context(world.tenant_a):
        store = Store.objects.get(code="SH-ZY-001")
        assert store.address == "浦东新区世纪大道100号"
        assert StoreCodeApplication.objects.get(store=store).status == "approved"


def test_store_pages_fit_a_phone(world, page, sign_in):
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(world.staff_a[Role.HQ_ADMIN])
    page.goto("/stores/")
    assert page.get_by_role("link", name="BJ-ZY-001").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    screenshot(page, "stores-list-phone")
