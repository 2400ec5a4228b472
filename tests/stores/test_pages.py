"""Store pages through the Django test client: who may do what, and what they see."""

from __future__ import annotations

import pytest
from django.urls import reverse

from stores import services
from stores.models import (
    ApplicationKind,
    ApplicationStatus,
    Region,
    Store,
    StoreCodeApplication,
    StoreStatus,
)
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.stores.factories import approved_store, pdf_upload, region, submitted_application

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(world):
    """A submitted application of tenant A (its counters agree with the world's stores)."""
    with tenant_context(world.tenant_a):
        services.counters_sync_with_stores()
        return submitted_application(region_code="SH", type_code="JM", name="上海新店")


def test_store_manager_applies_for_a_new_store_with_a_document(world, client_for):
    manager = world.staff_a[Role.STORE_MANAGER]
    client = client_for(manager)
    with tenant_context(world.tenant_a):
        bj, zy = region("BJ"), world.store_a1.store_type
    response = client.post(
        reverse("stores:application_create"),
        {
            "store_name": "北京望京店",
            "region": bj.pk,
            "store_type": zy.pk,
            "address": "望京街1号",
            "contact_name": "张三",
            "contact_phone": "13800000000",
            "planned_opening_on": "2027-01-01",
            "reason": "商圈成熟",
            "document": pdf_upload(),
        },
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        application = StoreCodeApplication.objects.get(store_name="北京望京店")
        assert application.applicant == manager and application.documents.count() == 1
    response = client.post(reverse("stores:application_submit", args=[application.pk]))
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        application.refresh_from_db()
        assert application.status == ApplicationStatus.SUBMITTED
    page = client.get(reverse("stores:application_detail", args=[application.pk]))
    assert "已提交" in page.content.decode()
    # Read-only now: the edit page sends the applicant back.
    edit = client.get(reverse("stores:application_edit", args=[application.pk]))
    assert edit.status_code == 302


def test_an_oversized_or_wrong_document_is_shown_as_a_form_error(world, client_for):
    client = client_for(world.staff_a[Role.HQ_STAFF])
    with tenant_context(world.tenant_a):
        bj, zy = region("BJ"), world.store_a1.store_type
    response = client.post(
        reverse("stores:application_create"),
        {
            "store_name": "x",
            "region": bj.pk,
            "store_type": zy.pk,
            "address": "a",
            "contact_name": "b",
            "contact_phone": "1",
            "planned_opening_on": "2027-01-01",
            "document": pdf_upload("virus.exe", b"MZ"),
        },
    )
    assert response.status_code == 200
    assert "请上传 PDF、JPG 或 PNG 文件" in response.content.decode()
    with tenant_context(world.tenant_a):
        assert not StoreCodeApplication.objects.filter(store_name="x").exists()


@pytest.mark.parametrize("role", [Role.CLERK, Role.STORE_MANAGER])
def test_store_staff_cannot_approve_reject_or_change_status(world, client_for, pending, role):
    client = client_for(world.staff_a[role])
    for name in ("stores:application_approve", "stores:application_reject"):
        response = client.post(reverse(name, args=[pending.pk]), {"reason": "不行"})
        assert response.status_code == 403, name
    response = client.post(
        reverse("stores:store_status", args=[world.store_a1.pk]),
        {"status": StoreStatus.CLOSED, "reason": "x"},
    )
    assert response.status_code == 403
    with tenant_context(world.tenant_a):
        pending.refresh_from_db()
        assert pending.status == ApplicationStatus.SUBMITTED
        assert not Store.objects.filter(region__code="SH").exists()
        assert Store.objects.get(pk=world.store_a1.pk).status == StoreStatus.OPEN


def test_clerk_cannot_apply(world, client_for):
    client = client_for(world.staff_a[Role.CLERK])
    assert client.get(reverse("stores:application_create")).status_code == 403
    assert client.get(reverse("stores:application_list")).status_code == 403


@pytest.mark.parametrize("role", [Role.HQ_ADMIN, Role.HQ_STAFF])
def test_hq_of_another_tenant_gets_404(world, client_for, pending, role):
    client = client_for(world.staff_b[role])
    assert client.get(reverse("stores:application_detail", args=[pending.pk])).status_code == 404
    for name in ("stores:application_approve", "stores:application_reject"):
        assert client.post(reverse(name, args=[pending.pk]), {"reason": "x"}).status_code == 404
    with tenant_context(world.tenant_a):
        document = pending.documents.get()
        pending.refresh_from_db()
        assert pending.status == ApplicationStatus.SUBMITTED
    assert client.get(reverse("stores:document_download", args=[document.pk])).status_code == 404


def test_hq_approves_from_the_page_and_sees_the_code(world, client_for, pending):
    hq = world.staff_a[Role.HQ_STAFF]
    client = client_for(hq)
    response = client.post(
        reverse("stores:application_approve", args=[pending.pk]), {"note": "同意"}, follow=True
    )
    assert "SH-JM-001" in response.content.decode()
    with tenant_context(world.tenant_a):
        store = Store.objects.get(code="SH-JM-001")
        event = AuditEvent.objects.get(action="stores.application_approve")
        assert event.actor == hq.user and event.reason == "同意"
    detail = client.get(reverse("stores:store_detail", args=[store.pk])).content.decode()
    assert "SH-JM-001" in detail and "筹备" in detail


def test_rejection_without_reason_is_refused_with_a_message(world, client_for, pending):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    response = client.post(
        reverse("stores:application_reject", args=[pending.pk]), {"reason": ""}, follow=True
    )
    assert "驳回需要填写理由" in response.content.decode()
    with tenant_context(world.tenant_a):
        pending.refresh_from_db()
        assert pending.status == ApplicationStatus.SUBMITTED


def test_review_queue_opens_on_submitted_and_filters_by_region(world, client_for, pending):
    with tenant_context(world.tenant_a):
        other = submitted_application(region_code="GZ", type_code="JM", name="广州新店")
        draft = services.application_create(
            applicant=pending.applicant,
            store_name="草稿不显示",
            region=region("SH"),
            store_type=pending.store_type,
        )
        sh = Region.objects.get(code="SH")
    client = client_for(world.staff_a[Role.HQ_STAFF])
    html = client.get(reverse("stores:application_list")).content.decode()
    assert "上海新店" in html and "广州新店" in html and draft.store_name not in html
    filtered = client.get(
        reverse("stores:application_list"), {"region": sh.pk, "status": "submitted"}
    ).content.decode()
    assert "上海新店" in filtered and other.store_name not in filtered


def test_store_manager_lists_only_their_own_applications(world, client_for, pending):
    manager = world.staff_a[Role.STORE_MANAGER]
    with tenant_context(world.tenant_a):
        mine = submitted_application(applicant=manager, name="店长的申请")
    html = client_for(manager).get(reverse("stores:application_list")).content.decode()
    assert mine.store_name in html and pending.store_name not in html
    response = client_for(manager).get(reverse("stores:application_detail", args=[pending.pk]))
    assert response.status_code == 404


def test_store_manager_requests_a_code_change_that_hq_approves(world, client_for):
    manager = world.staff_a[Role.STORE_MANAGER]
    with tenant_context(world.tenant_a):
        services.counters_sync_with_stores()
        jm = submitted_application(type_code="JM").store_type  # creates type JM
    response = client_for(manager).post(
        reverse("stores:code_change_create", args=[world.store_a1.pk]),
        {"region": world.store_a1.region_id, "store_type": jm.pk, "reason": "转加盟"},
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        change = StoreCodeApplication.objects.get(kind=ApplicationKind.CODE_CHANGE)
        change.documents.exists()
    client_for(manager).post(reverse("stores:application_submit", args=[change.pk]))
    hq = client_for(world.staff_a[Role.HQ_ADMIN])
    hq.post(reverse("stores:application_approve", args=[change.pk]))
    with tenant_context(world.tenant_a):
        store = Store.objects.get(pk=world.store_a1.pk)
        assert store.code == "BJ-JM-001"
    html = hq.get(reverse("stores:store_list"), {"q": "BJ-ZY-001"}).content.decode()
    # Found by its former code, and nothing else is.
    assert reverse("stores:store_detail", args=[store.pk]) in html
    assert reverse("stores:store_detail", args=[world.store_a2.pk]) not in html
    detail = hq.get(reverse("stores:store_detail", args=[store.pk])).content.decode()
    assert "BJ-ZY-001" in detail and "编码变更" in detail


def test_store_staff_see_only_their_stores(world, client_for):
    html = client_for(world.staff_a[Role.CLERK]).get(reverse("stores:store_list")).content.decode()
    assert world.store_a1.name in html and world.store_a2.name not in html


def test_store_list_query_count_does_not_grow_with_stores(
    world, client_for, django_assert_max_num_queries
):
    with tenant_context(world.tenant_a):
        services.counters_sync_with_stores()
        for _ in range(15):
            approved_store(region_code="SH", type_code="ZY")
    client = client_for(world.staff_a[Role.HQ_STAFF])
    client.get(reverse("stores:store_list"))  # warm the session
    with django_assert_max_num_queries(6):
        response = client.get(reverse("stores:store_list"))
    assert response.content.decode().count("SH-ZY-0") == 15


def test_setup_validates_codes_and_refuses_deleting_what_is_in_use(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    response = client.post(reverse("stores:region_create"), {"code": "b1", "name": "坏"})
    assert response.status_code == 200 and "大写字母" in response.content.decode()
    response = client.post(reverse("stores:region_create"), {"code": "hz", "name": "杭州"})
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        hz = Region.objects.get(code="HZ")
        bj = world.store_a1.region
    response = client.post(reverse("stores:setup_delete", args=["region", bj.pk]), follow=True)
    assert "正在使用" in response.content.decode()
    client.post(reverse("stores:setup_delete", args=["region", hz.pk]))
    with tenant_context(world.tenant_a):
        assert Region.objects.filter(pk=bj.pk).exists()
        assert not Region.objects.filter(pk=hz.pk).exists()
    # In use: it can be deactivated, but its code cannot change.
    response = client.post(
        reverse("stores:setup_edit", args=["region", bj.pk]),
        {"code": "BX", "name": "北京", "is_active": ""},
    )
    assert response.status_code == 200
    response = client.post(
        reverse("stores:setup_edit", args=["region", bj.pk]), {"code": "BJ", "name": "北京"}
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        bj.refresh_from_db()
        assert bj.code == "BJ" and bj.is_active is False


def test_setup_is_for_hq_admin_only(world, client_for):
    assert client_for(world.staff_a[Role.HQ_STAFF]).get(reverse("stores:setup")).status_code == 403


def test_admin_shows_the_code_read_only(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    url = reverse("admin:stores_store_change", args=[world.store_a1.pk])
    html = client.get(url).content.decode()
    assert 'name="code"' not in html and "BJ-ZY-001" in html
    client.post(url, {"code": "BJ-ZY-999", "name": "改名"})
    with tenant_context(world.tenant_a):
        assert Store.objects.get(pk=world.store_a1.pk).code == "BJ-ZY-001"
    assert client.get(reverse("admin:stores_store_add")).status_code == 403


def test_documents_download_within_scope(world, client_for, pending):
    with tenant_context(world.tenant_a):
        document = pending.documents.get()
    url = reverse("stores:document_download", args=[document.pk])
    response = client_for(world.staff_a[Role.HQ_STAFF]).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF-")
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    # The store manager did not make this application and it concerns no store of theirs.
    assert client_for(world.staff_a[Role.STORE_MANAGER]).get(url).status_code == 404


def test_review_queue_query_count_does_not_grow_with_applications(
    world, client_for, django_assert_max_num_queries
):
    with tenant_context(world.tenant_a):
        for index in range(12):
            submitted_application(region_code="SH", type_code="ZY", name=f"批量{index}")
    client = client_for(world.staff_a[Role.HQ_STAFF])
    client.get(reverse("stores:application_list"))
    with django_assert_max_num_queries(6):
        response = client.get(reverse("stores:application_list"))
    assert response.content.decode().count("批量") == 12
