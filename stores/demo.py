"""Demo regions, store types, stores and applications, with the demo store staff assigned.

The stores get their codes the way real ones do: an application, approved by HQ, takes the
next number from its prefix's counter. Idempotent: a second run adds nothing.
"""

from __future__ import annotations

import datetime

from django.core.files.uploadedfile import SimpleUploadedFile

from stores import services
from stores.models import (
    ApplicationKind,
    ApplicationStatus,
    Ownership,
    Region,
    Store,
    StoreAssignment,
    StoreCodeApplication,
    StoreStatus,
    StoreType,
)
from tenancy.dates import tenant_today
from tenancy.demo import demo_username
from tenancy.models import StaffMember, Tenant

REGIONS = [("BJ", "北京"), ("SH", "上海"), ("GZ", "广州")]
STORE_TYPES = [
    ("ZY", "直营", Ownership.DIRECT),
    ("JM", "加盟", Ownership.FRANCHISE),
    ("LY", "联营", Ownership.JOINT),
]
# Approved in this order, so they get BJ-ZY-001, BJ-ZY-002, BJ-JM-001, ...
STORES = [
    ("北京朝阳大悦城店", "BJ", "ZY", "朝阳区朝阳北路101号"),
    ("北京西单店", "BJ", "ZY", "西城区西单北大街120号"),
    ("北京通州加盟店", "BJ", "JM", "通州区新华西街58号"),
    ("上海南京东路店", "SH", "ZY", "黄浦区南京东路300号"),
    ("上海徐汇加盟店", "SH", "JM", "徐汇区漕溪北路88号"),
    ("广州天河城店", "GZ", "ZY", "天河区天河路208号"),
]
# Applications left in other states: (name, region, type, state, rejection reason).
PENDING = [
    ("北京望京联营店", "BJ", "LY", ApplicationStatus.SUBMITTED, ""),
    ("上海静安店", "SH", "ZY", ApplicationStatus.DRAFT, ""),
    ("广州番禺加盟店", "GZ", "JM", ApplicationStatus.REJECTED, "营业执照照片不清晰，请重新上传。"),
]
# A tiny but real PDF, so the content check accepts it.
DEMO_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _staff(tenant: Tenant, name: str) -> StaffMember:
    return StaffMember.objects.get(user__username=demo_username(tenant, name))


def _apply(applicant, name, region, store_type, address="") -> StoreCodeApplication:
    application = services.application_create(
        applicant=applicant,
        store_name=name,
        region=region,
        store_type=store_type,
        address=address,
        contact_name=applicant.display_name,
        contact_phone="010-88886666",
        planned_opening_on=datetime.date(2025, 6, 1),
        reason="演示数据：新店开业申请",
    )
    services.document_add(
        application=application,
        upload=SimpleUploadedFile("营业执照.pdf", DEMO_PDF, content_type="application/pdf"),
        actor=applicant,
    )
    return application


def seed(tenant: Tenant, *, stdout=None, quick: bool = False) -> None:
    regions = {
        code: Region.objects.get_or_create(code=code, defaults={"name": name})[0]
        for code, name in REGIONS
    }
    types = {
        code: StoreType.objects.get_or_create(
            code=code, defaults={"name": name, "ownership": ownership}
        )[0]
        for code, name, ownership in STORE_TYPES
    }
    # Stores from before codes had counters: make the counters agree with them first.
    services.counters_sync_with_stores()
    admin, hq, manager = (_staff(tenant, n) for n in ("admin", "hq", "manager"))

    for name, region, store_type, address in STORES:
        if Store.objects.filter(name=name).exists():
            continue
        application = _apply(hq, name, regions[region], types[store_type], address)
        services.application_submit(application=application, actor=hq)
        store = services.application_approve(application=application, reviewer=admin)
        services.store_set_status(
            store=store, status=StoreStatus.OPEN, actor=admin, reason="演示数据：已开业"
        )

    for name, region, store_type, state, rejection in PENDING:
        if StoreCodeApplication.objects.filter(store_name=name).exists():
            continue
        application = _apply(manager, name, regions[region], types[store_type])
        if state != ApplicationStatus.DRAFT:
            services.application_submit(application=application, actor=manager)
        if state == ApplicationStatus.REJECTED:
            services.application_reject(application=application, reviewer=hq, reason=rejection)

    # A franchise store asks to become directly operated: a code change waiting for review.
    franchise = Store.objects.filter(name="北京通州加盟店").first()
    if (
        franchise is not None
        and not StoreCodeApplication.objects.filter(
            kind=ApplicationKind.CODE_CHANGE, store=franchise
        ).exists()
    ):
        change = services.application_create(
            applicant=hq,
            kind=ApplicationKind.CODE_CHANGE,
            store=franchise,
            region=franchise.region,
            store_type=types["ZY"],
            reason="演示数据：加盟店收归直营",
        )
        services.application_submit(application=change, actor=hq)

    # One store is past its re-review date, so the review queue has something to show.
    guangzhou = Store.objects.filter(name="广州天河城店").first()
    if guangzhou is not None and not guangzhou.reviews.exists():
        Store.objects.filter(pk=guangzhou.pk).update(
            next_review_on=tenant_today(tenant) - datetime.timedelta(days=3)
        )
        services.reviews_mark_due()

    first_store = Store.objects.get(name=STORES[0][0])
    for name in ("manager", "clerk"):
        StoreAssignment.objects.get_or_create(staff=_staff(tenant, name), store=first_store)
