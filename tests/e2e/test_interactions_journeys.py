"""Real-browser journeys: the counter's quick entry and the store manager's case queue."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from interactions.models import CaseStatus, Channel, Interaction, ServiceCase
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.e2e.conftest import open_nav, screenshot
from tests.factories import CustomerFactory
from tests.interactions.factories import CaseCategoryFactory, ServiceCaseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_clerk_logs_a_wechat_contact_at_the_counter(world, page, sign_in):
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1, name="张伟", phone="13812345678")
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(world.staff_a[Role.CLERK])
    page.goto("/interactions/counter/")
    page.get_by_label("查找会员").fill("5678")
    page.get_by_role("button", name="搜索").click()
    page.get_by_role("link", name="记录与 张伟 的互动").click()
    page.get_by_text("微信消息", exact=True).click()
    page.get_by_label("内容").fill("询问新款到货")
    screenshot(page, "interactions-counter-entry")
    page.get_by_role("button", name="保存").click()
    assert page.get_by_text("已为 张伟 记录。").is_visible()
    screenshot(page, "interactions-counter-saved")
    with tenant_context(world.tenant_a):
        logged = Interaction.objects.get(member=member)
    assert (logged.channel, logged.text, logged.store_id) == (
        Channel.WECHAT,
        "询问新款到货",
        world.store_a1.pk,
    )


def test_manager_works_the_case_queue(world, page, sign_in):
    with tenant_context(world.tenant_a):
        category = CaseCategoryFactory(name="商品质量投诉", sla_hours=24)
        late = ServiceCaseFactory(
            store=world.store_a1,
            category=category,
            subject="鞋底开胶",
            priority="high",
            due_at=timezone.now() - datetime.timedelta(hours=2),
        )
        ServiceCaseFactory(store=world.store_a1, category=category, subject="换尺码")
        ServiceCaseFactory(store=world.store_a2, category=category, subject="别店的工单")
    sign_in(world.staff_a[Role.STORE_MANAGER])
    open_nav(page, "客诉工单")
    assert page.get_by_role("link", name="鞋底开胶").is_visible()
    assert page.get_by_text("别店的工单").count() == 0
    screenshot(page, "interactions-manager-queue")
    page.get_by_role("link", name="鞋底开胶").click()
    page.get_by_label("处理人").select_option(str(world.staff_a[Role.CLERK].pk))
    page.get_by_role("button", name="分配", exact=True).click()
    page.get_by_role("button", name="标记为“处理中”").click()
    assert page.get_by_text("状态已更新。").is_visible()
    screenshot(page, "interactions-manager-case")
    with tenant_context(world.tenant_a):
        case = ServiceCase.objects.get(pk=late.pk)
    assert case.status == CaseStatus.IN_PROGRESS
    assert case.assignee_id == world.staff_a[Role.CLERK].pk


def test_member_answers_a_survey_on_a_phone_and_a_low_score_opens_a_case(world, page):
    from interactions.models import SurveyResponse
    from interactions.services import survey_path
    from tests.interactions.factories import SurveyFactory

    with tenant_context(world.tenant_a):
        survey = SurveyFactory(store=world.store_a1)
        path = survey_path(survey)
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(path)
    assert page.get_by_role("heading", name="请评价我们的服务").is_visible()
    page.get_by_text("2", exact=True).click()
    page.get_by_label("还有什么想告诉我们的吗？").fill("排队太久")
    screenshot(page, "interactions-survey-phone")
    page.get_by_role("button", name="提交").click()
    assert page.get_by_role("heading", name="感谢您的反馈").is_visible()
    page.goto(path)
    assert page.get_by_role("heading", name="已经回答过了").is_visible()
    with tenant_context(world.tenant_a):
        answer = SurveyResponse.objects.get()
        assert answer.score == 2 and answer.follow_up_case_id is not None


def test_member_timeline_with_profile(world, page, sign_in):
    from interactions import services

    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1, name="周文武")
        clerk = world.staff_a[Role.CLERK]
        services.member_profile_update(
            staff=clerk, member=member, wechat_id="zww_88", occupation="设计师"
        )
        services.interaction_record(
            staff=clerk, member=member, store=world.store_a1, channel=Channel.VISIT, text="试穿"
        )
    sign_in(world.staff_a[Role.CLERK])
    page.goto("/interactions/counter/")
    page.get_by_label("查找会员").fill("zww")
    page.get_by_role("button", name="搜索").click()
    page.get_by_role("link", name="记录与 周文武 的互动").click()
    page.get_by_role("link", name="时间线").click()
    assert page.get_by_text("zww_88").is_visible()
    screenshot(page, "interactions-member-timeline")


def test_overdue_case_reaches_the_managers_inbox_on_a_phone(world, page, sign_in):
    from interactions.tasks import escalate_overdue_cases

    with tenant_context(world.tenant_a):
        ServiceCaseFactory(
            store=world.store_a1,
            subject="特殊订货未到",
            due_at=timezone.now() - datetime.timedelta(hours=1),
        )
    escalate_overdue_cases.delay(world.tenant_a.pk)
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(world.staff_a[Role.STORE_MANAGER])
    page.get_by_role("link", name="消息 1 条未读").click()
    assert page.get_by_text("已逾期：特殊订货未到").is_visible()
    screenshot(page, "interactions-inbox-phone")
    page.get_by_role("button", name="打开").click()
    assert page.get_by_role("heading", name="特殊订货未到").is_visible()
