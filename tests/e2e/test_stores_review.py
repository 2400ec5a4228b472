"""A store's code application from the store manager to HQ and back, in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from stores.models import Region, Store, StoreCodeApplication
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.e2e.conftest import open_nav, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PDF = {"name": "营业执照.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%e2e\n"}


def sign_out(page):
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url("**/accounts/login/**")


def open_application(page, name):
    open_nav(page, "门店编码申请")
    page.get_by_role("link", name=name).first.click()


def test_apply_reject_resubmit_approve_journey(world, page, sign_in, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    with tenant_context(world.tenant_a):
        Region.objects.create(code="SH", name="上海")
    manager = world.staff_a[Role.STORE_MANAGER]
    hq = world.staff_a[Role.HQ_STAFF]

    # The store manager applies for a new store and submits it.
    sign_in(manager)
    open_nav(page, "门店编码申请")
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
    expect(page.get_by_text("申请已保存为草稿。")).to_be_visible()
    expect(page.get_by_role("link", name="营业执照.pdf")).to_be_visible()
    page.get_by_role("button", name="提交审核").click()
    expect(page.get_by_text("申请已提交审核。")).to_be_visible()
    sign_out(page)

    # HQ finds it in the review queue and sends it back with a reason.
    sign_in(hq)
    open_nav(page, "门店编码申请")
    expect(page.get_by_role("heading", name="审核队列")).to_be_visible()
    screenshot(page, "stores-review-queue")
    page.get_by_role("link", name="上海陆家嘴店").click()
    page.get_by_role("button", name="驳回").click()  # no reason: the browser refuses
    assert page.get_by_label("驳回理由").evaluate("el => !el.checkValidity()")
    page.get_by_label("驳回理由").fill("请补充租赁合同")
    page.get_by_role("button", name="驳回").click()
    expect(page.get_by_text("申请已退回申请人。")).to_be_visible()
    sign_out(page)

    # The manager sees why, corrects the application and resubmits it.
    sign_in(manager)
    open_application(page, "上海陆家嘴店")
    expect(page.get_by_text("请补充租赁合同").first).to_be_visible()
    page.get_by_role("link", name="编辑").click()
    page.get_by_label("地址").fill("浦东新区世纪大道100号")
    page.get_by_role("button", name="保存草稿").click()
    page.get_by_role("button", name="重新提交").click()
    expect(page.get_by_text("申请已提交审核。")).to_be_visible()
    sign_out(page)

    # HQ approves: the store exists with its code, in preparation.
    sign_in(hq)
    open_application(page, "上海陆家嘴店")
    screenshot(page, "stores-application-review")
    page.get_by_role("button", name="批准").click()
    expect(page.get_by_text("已批准：门店编码为 SH-ZY-001。")).to_be_visible()
    page.get_by_role("link", name="SH-ZY-001").click()
    expect(page.get_by_role("heading", name="SH-ZY-001 上海陆家嘴店")).to_be_visible()
    expect(page.get_by_text("筹备").first).to_be_visible()
    screenshot(page, "stores-store-detail")

    with tenant_context(world.tenant_a):
        store = Store.objects.get(code="SH-ZY-001")
        assert store.address == "浦东新区世纪大道100号"
        assert StoreCodeApplication.objects.get(store=store).status == "approved"


def test_store_pages_fit_a_phone(world, page, sign_in):
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(world.staff_a[Role.HQ_ADMIN])
    page.goto("/stores/")
    expect(page.get_by_role("link", name="BJ-ZY-001")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    screenshot(page, "stores-list-phone")


def test_hq_changes_a_code_and_records_a_re_review_in_the_browser(world, page, sign_in):
    from stores import services
    from stores.models import StoreReview, StoreType

    with tenant_context(world.tenant_a):
        services.counters_sync_with_stores()
        StoreType.objects.create(code="JM", name="加盟")
        Store.objects.filter(pk=world.store_a2.pk).update(next_review_on="2020-01-01")
        services.reviews_mark_due()
    sign_in(world.staff_a[Role.HQ_ADMIN])

    # Code change: BJ-ZY-001 becomes a franchise store, BJ-JM-001.
    page.goto(f"/stores/{world.store_a1.pk}/")
    page.get_by_role("link", name="申请编码变更").click()
    page.get_by_label("新门店类型").select_option(label="JM 加盟")
    page.get_by_label("原因", exact=True).fill("转为加盟经营")
    page.get_by_role("button", name="保存草稿").click()
    page.get_by_role("button", name="提交审核").click()
    # Four eyes: the submitter is told a colleague must review, and has no review buttons.
    expect(page.get_by_text("须由另一位总部同事批准或驳回")).to_be_visible()
    expect(page.get_by_role("button", name="批准")).to_have_count(0)
    application_url = page.url
    sign_out(page)
    sign_in(world.staff_a[Role.HQ_STAFF])
    page.goto(application_url)
    page.get_by_role("button", name="批准").click()
    expect(page.get_by_text("已批准：门店编码为 BJ-JM-001。")).to_be_visible()
    page.get_by_role("link", name="BJ-JM-001").click()
    expect(page.get_by_role("heading", name="BJ-JM-001 甲一店")).to_be_visible()
    expect(page.locator("dl.props dd code", has_text="BJ-ZY-001")).to_be_visible()  # former
    screenshot(page, "stores-code-change")

    # The former code still finds the store.
    open_nav(page, "门店")
    page.get_by_label("编码或名称").fill("BJ-ZY-001")
    page.get_by_label("编码或名称").press("Enter")
    expect(page.get_by_role("link", name="BJ-JM-001")).to_be_visible()

    # Re-review: the overdue store is confirmed and leaves the queue.
    open_nav(page, "定期复核")
    expect(page.get_by_text("已逾期")).to_be_visible()
    screenshot(page, "stores-review-queue-due")
    row = page.get_by_role("row").filter(has_text="BJ-ZY-002")
    row.get_by_label("复核结果").select_option(label="确认无误")
    row.get_by_role("button", name="记录").click()
    expect(page.get_by_text("复核结果已记录。")).to_be_visible()
    expect(page.get_by_text("暂无待复核门店。")).to_be_visible()
    with tenant_context(world.tenant_a):
        assert StoreReview.objects.get().status == "confirmed"
        assert Store.objects.get(pk=world.store_a2.pk).next_review_on.year > 2020
