"""Service cases: SLA due dates, the status machine, assignment, comments, attachments."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from interactions import services
from interactions.models import CaseAttachment, CaseStatus, ServiceCase
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Notification, Role

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def open_case(world, member, category, **kwargs):
    with tenant_context(world.tenant_a):
        return services.case_open(
            actor=kwargs.pop("actor", world.staff_a[Role.CLERK]),
            member=member,
            store=kwargs.pop("store", world.store_a1),
            category=category,
            subject=kwargs.pop("subject", "鞋底开胶"),
            **kwargs,
        )


def test_a_case_is_due_after_its_category_sla(world, member_a, category_a):
    before = timezone.now()
    case = open_case(world, member_a, category_a)
    assert case.status == CaseStatus.NEW
    expected = before + datetime.timedelta(hours=24)
    assert expected <= case.due_at <= expected + datetime.timedelta(seconds=5)
    with tenant_context(world.tenant_a):
        assert AuditEvent.objects.filter(action="case.open", object_id=str(case.pk)).exists()


def test_case_lifecycle_follows_the_allowed_transitions(world, member_a, category_a):
    case = open_case(world, member_a, category_a)
    manager = world.staff_a[Role.STORE_MANAGER]
    with tenant_context(world.tenant_a):
        with pytest.raises(ValidationError):
            services.case_transition(actor=manager, case=case, status=CaseStatus.CLOSED)
        with pytest.raises(ValidationError):
            services.case_transition(actor=manager, case=case, status=CaseStatus.WAITING)
        for status in (
            CaseStatus.IN_PROGRESS,
            CaseStatus.WAITING,
            CaseStatus.IN_PROGRESS,
            CaseStatus.RESOLVED,
        ):
            case = services.case_transition(actor=manager, case=case, status=status)
        assert case.resolved_at is not None
        case = services.case_transition(actor=manager, case=case, status=CaseStatus.CLOSED)
        assert case.closed_at is not None
        with pytest.raises(ValidationError):
            services.case_transition(actor=manager, case=case, status=CaseStatus.IN_PROGRESS)
        assert ServiceCase.objects.get(pk=case.pk).status == CaseStatus.CLOSED
        assert AuditEvent.objects.filter(action="case.transition").count() == 5


def test_a_refused_transition_shows_a_chinese_message_and_changes_nothing(
    world, client_for, member_a, category_a
):
    case = open_case(world, member_a, category_a)
    url = reverse("interactions:case_transition", kwargs={"pk": case.pk})
    response = client_for(world.staff_a[Role.CLERK]).post(url, {"status": CaseStatus.CLOSED})
    assert response.status_code == 400
    assert "不能变为" in response.content.decode()
    with tenant_context(world.tenant_a):
        assert ServiceCase.objects.get(pk=case.pk).status == CaseStatus.NEW


def test_assigning_notifies_the_assignee_once(world, client_for, member_a, category_a):
    case = open_case(world, member_a, category_a)
    clerk = world.staff_a[Role.CLERK]
    url = reverse("interactions:case_assign", kwargs={"pk": case.pk})
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    assert client.post(url, {"assignee": clerk.pk}).status_code == 302
    assert client.post(url, {"assignee": clerk.pk}).status_code == 302
    with tenant_context(world.tenant_a):
        assert ServiceCase.objects.get(pk=case.pk).assignee == clerk
        assert Notification.objects.filter(recipient=clerk, kind="case.assigned").count() == 1
    # A clerk may not reassign.
    assert client_for(clerk).post(url, {"assignee": ""}).status_code == 403


def test_the_assignee_must_work_for_the_cases_store(world, member_a, category_a):
    with tenant_context(world.tenant_a):
        from tests.conftest import make_staff

    other = make_staff(world.tenant_a, Role.CLERK, world.store_a2)
    with pytest.raises(ValidationError):
        open_case(world, member_a, category_a, assignee=other)


def test_comments_and_checked_attachments(world, client_for, member_a, category_a):
    case = open_case(world, member_a, category_a)
    client = client_for(world.staff_a[Role.CLERK])
    comment_url = reverse("interactions:case_comment", kwargs={"pk": case.pk})
    attach_url = reverse("interactions:case_attach", kwargs={"pk": case.pk})
    assert client.post(comment_url, {"text": "已电话联系"}).status_code == 302
    good = SimpleUploadedFile("photo.png", PNG, content_type="image/png")
    assert client.post(attach_url, {"file": good}).status_code == 302
    fake = SimpleUploadedFile("photo.png", b"MZ\x90\x00not an image", content_type="image/png")
    response = client.post(attach_url, {"file": fake})
    assert response.status_code == 400 and "不符" in response.content.decode()
    exe = SimpleUploadedFile("tool.exe", b"MZ", content_type="application/octet-stream")
    assert client.post(attach_url, {"file": exe}).status_code == 400
    big = SimpleUploadedFile("big.pdf", b"%PDF-" + b"0" * (5 * 1024 * 1024), "application/pdf")
    assert client.post(attach_url, {"file": big}).status_code == 400
    with tenant_context(world.tenant_a):
        (attachment,) = CaseAttachment.objects.all()
        assert attachment.content_type == "image/png"
        assert case.comments.get().text == "已电话联系"
    download = client.get(reverse("interactions:attachment_download", kwargs={"pk": attachment.pk}))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PNG
    outsider = client_for(world.staff_b[Role.HQ_ADMIN])
    url = reverse("interactions:attachment_download", kwargs={"pk": attachment.pk})
    assert outsider.get(url).status_code == 404


def test_open_case_page_creates_a_case(world, client_for, member_a, category_a):
    client = client_for(world.staff_a[Role.CLERK])
    page = client.get(reverse("interactions:case_create"), {"member": member_a.pk})
    assert page.context["form"]["member"].value() == "张伟 · 138****5678 · " + member_a.card_number
    response = client.post(
        reverse("interactions:case_create"),
        {
            "member_id": member_a.pk,
            "member": page.context["form"]["member"].value(),
            "store": world.store_a1.pk,
            "category": category_a.pk,
            "priority": "high",
            "subject": "退换货",
        },
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        case = ServiceCase.objects.get()
        assert (case.member, case.priority, case.opened_by) == (
            member_a,
            "high",
            world.staff_a[Role.CLERK],
        )
