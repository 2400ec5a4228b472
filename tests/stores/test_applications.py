"""The application workflow: draft -> submitted -> approved | rejected -> resubmitted."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from stores import services
from stores.models import ApplicationStatus
from tenancy.models import AuditEvent
from tests.stores.factories import (
    PNG,
    hq_staff,
    pdf_upload,
    region,
    store_type,
    submitted_application,
)

pytestmark = pytest.mark.django_db


def draft(applicant=None):
    return services.application_create(
        applicant=applicant or hq_staff(),
        store_name="草稿店",
        region=region("BJ"),
        store_type=store_type("ZY"),
    )


def test_submitting_needs_a_qualification_document(in_tenant):
    application = draft()
    with pytest.raises(ValidationError, match="资质文件"):
        services.application_submit(application=application, actor=hq_staff())
    services.document_add(application=application, upload=pdf_upload(), actor=hq_staff())
    services.application_submit(application=application, actor=hq_staff())
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SUBMITTED


def test_a_submitted_application_is_read_only(in_tenant):
    application = submitted_application()
    with pytest.raises(ValidationError):
        services.application_update(application=application, actor=hq_staff(), store_name="改")
    with pytest.raises(ValidationError):
        services.document_add(application=application, upload=pdf_upload(), actor=hq_staff())
    application.refresh_from_db()
    assert application.store_name == "新店"


def test_rejection_needs_a_reason_and_returns_to_the_applicant(in_tenant):
    application = submitted_application()
    with pytest.raises(ValidationError):
        services.application_reject(application=application, reviewer=hq_staff(), reason=" ")
    services.application_reject(application=application, reviewer=hq_staff(), reason="地址不全")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.REJECTED
    assert application.review_note == "地址不全"
    # The applicant corrects and resubmits; HQ then approves.
    services.application_update(application=application, actor=hq_staff(), address="完整地址")
    services.application_submit(application=application, actor=hq_staff())
    store = services.application_approve(application=application, reviewer=hq_staff())
    assert store.code == "BJ-ZY-001" and store.address == "完整地址"
    actions = list(
        AuditEvent.objects.filter(
            object_type="stores.storecodeapplication", object_id=str(application.pk)
        )
        .order_by("id")
        .values_list("action", "reason")
    )
    assert ("stores.application_reject", "地址不全") in actions
    assert [a for a, _ in actions][-3:] == [
        "stores.application_update",
        "stores.application_resubmit",
        "stores.application_approve",
    ]


def test_deactivated_region_cannot_be_applied_for_or_approved(in_tenant):
    application = submitted_application()
    bj = region("BJ")
    bj.is_active = False
    bj.save()
    with pytest.raises(ValidationError):
        services.application_approve(application=application, reviewer=hq_staff())
    with pytest.raises(ValidationError):
        draft()


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("licence.pdf", b"%PDF-" + b"0" * (5 * 1024 * 1024), "最大 5 MB"),
        ("tool.exe", b"MZ\x90\x00", "请上传 PDF、JPG 或 PNG"),
        ("fake.pdf", b"MZ\x90\x00 not a pdf", "内容与文件类型不符"),
        ("empty.png", b"", "文件为空"),
    ],
)
def test_documents_are_checked_for_size_and_type(in_tenant, name, content, message):
    application = draft()
    upload = SimpleUploadedFile(name, content)
    with pytest.raises(ValidationError, match=message):
        services.document_add(application=application, upload=upload, actor=hq_staff())
    assert not application.documents.exists()


def test_png_and_pdf_documents_are_accepted(in_tenant):
    application = draft()
    services.document_add(
        application=application, upload=SimpleUploadedFile("门头.PNG", PNG), actor=hq_staff()
    )
    services.document_add(application=application, upload=pdf_upload(), actor=hq_staff())
    types = sorted(application.documents.values_list("content_type", flat=True))
    assert types == ["application/pdf", "image/png"]
    stored = application.documents.get(content_type="image/png")
    assert stored.file.name.endswith(".png") and "门头" not in stored.file.name
