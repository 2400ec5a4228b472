"""Store registry test data. Tenant-owned rows take their tenant from the current context."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from stores import services
from stores.models import Region, StoreCodeApplication, StoreType
from tenancy.models import Role, StaffMember
from tests.factories import StaffMemberFactory

PDF = b"%PDF-1.4\n%test\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def pdf_upload(name: str = "licence.pdf", content: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def region(code: str = "BJ", name: str | None = None) -> Region:
    return Region.objects.get_or_create(code=code, defaults={"name": name or code})[0]


def store_type(code: str = "ZY", name: str | None = None) -> StoreType:
    return StoreType.objects.get_or_create(code=code, defaults={"name": name or code})[0]


APPLICANT_NAME = "总部申请人"


def hq_staff() -> StaffMember:
    """The HQ reviewer. Never the default applicant: the four-eyes rule refuses self-review."""
    staff = (
        StaffMember.objects.filter(role=Role.HQ_STAFF).exclude(display_name=APPLICANT_NAME).first()
    )
    return staff or StaffMemberFactory(role=Role.HQ_STAFF)


def hq_applicant() -> StaffMember:
    """A second HQ staff member who submits applications that hq_staff() then reviews."""
    staff = StaffMember.objects.filter(role=Role.HQ_STAFF, display_name=APPLICANT_NAME).first()
    return staff or StaffMemberFactory(role=Role.HQ_STAFF, display_name=APPLICANT_NAME)


def submitted_application(
    *, region_code: str = "BJ", type_code: str = "ZY", applicant=None, name: str = "新店"
) -> StoreCodeApplication:
    applicant = applicant or hq_applicant()
    application = services.application_create(
        applicant=applicant,
        store_name=name,
        region=region(region_code),
        store_type=store_type(type_code),
        address="测试路1号",
        reason="测试",
    )
    services.document_add(application=application, upload=pdf_upload(), actor=applicant)
    return services.application_submit(application=application, actor=applicant)


def approved_store(**kwargs):
    application = submitted_application(**kwargs)
    return services.application_approve(application=application, reviewer=hq_staff())
