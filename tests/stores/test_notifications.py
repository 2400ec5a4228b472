"""Store-code events reach the people concerned through their inbox: HQ recipients when an
application is submitted, the applicant, the store's managers and HQ when it is decided, HQ
and the store's managers when a re-review falls due."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import translation

from stores import services
from stores.models import Store
from tenancy.context import tenant_context
from tenancy.models import Notification, Role
from tests.factories import StaffMemberFactory, StoreAssignmentFactory
from tests.stores.factories import pdf_upload, region, store_type

pytestmark = pytest.mark.django_db


def inbox(staff) -> list[str]:
    # Titles are stored as message keys and read in the reader's language: Chinese here.
    with translation.override("zh-hans"):
        return [n.title_text for n in Notification.objects.filter(recipient=staff).order_by("pk")]


def apply(applicant, name="望京店"):
    application = services.application_create(
        applicant=applicant,
        store_name=name,
        region=region("GZ"),  # a prefix the world's stores do not use
        store_type=store_type("ZY"),
        address="望京街1号",
        reason="新开门店",
    )
    services.document_add(application=application, upload=pdf_upload(), actor=applicant)
    return services.application_submit(application=application, actor=applicant)


def test_hq_hears_of_a_submission_and_the_applicant_of_the_approval(world, client_for):
    manager = world.staff_a[Role.STORE_MANAGER]
    admin = world.staff_a[Role.HQ_ADMIN]
    hq = world.staff_a[Role.HQ_STAFF]
    with tenant_context(world.tenant_a):
        application = apply(manager)
        assert inbox(admin) == ["门店编码申请待审核：望京店"]
        assert inbox(hq) == []  # HQ staff only when chosen as a recipient

        store = services.application_approve(application=application, reviewer=hq, note="资料齐全")
        assert inbox(manager) == [f"门店编码申请已批准：{store.code} 望京店"]
        assert inbox(admin)[-1] == f"门店编码申请已批准：{store.code} 望京店"
        assert inbox(hq) == []  # the reviewer is not told what they just did
    page = client_for(manager).get(reverse("inbox")).content.decode()
    assert f"门店编码申请已批准：{store.code} 望京店" in page


def test_a_rejection_tells_the_applicant_why(world):
    manager = world.staff_a[Role.STORE_MANAGER]
    with tenant_context(world.tenant_a):
        application = apply(manager, name="国贸店")
        services.application_reject(
            application=application, reviewer=world.staff_a[Role.HQ_STAFF], reason="地址不全"
        )
        notification = Notification.objects.filter(recipient=manager).get()
        with translation.override("zh-hans"):
            read = (notification.title_text, notification.body_text)
        assert read == (
            "门店编码申请被退回：国贸店",
            "地址不全",
        )


def test_chosen_hq_recipients_replace_the_default_and_other_tenants_hear_nothing(world, client_for):
    admin = world.staff_a[Role.HQ_ADMIN]
    hq = world.staff_a[Role.HQ_STAFF]
    client = client_for(admin)
    answer = client.post(reverse("stores:setup"), {"form": "recipients", "recipients": [hq.pk]})
    assert answer.status_code == 302
    world.tenant_a.refresh_from_db()  # as the next request would load it
    with tenant_context(world.tenant_a):
        apply(world.staff_a[Role.STORE_MANAGER])
        assert inbox(hq) == ["门店编码申请待审核：望京店"]
        assert inbox(admin) == []
    with tenant_context(world.tenant_b):
        assert Notification.objects.count() == 0


def test_a_code_change_tells_the_stores_managers_old_and_new_code(world):
    hq = world.staff_a[Role.HQ_STAFF]
    with tenant_context(world.tenant_a):
        store = Store.objects.get(pk=world.store_a1.pk)
        other_manager = StaffMemberFactory(role=Role.STORE_MANAGER)
        StoreAssignmentFactory(staff=other_manager, store=store)
        application = services.application_create(
            applicant=hq,
            kind="code_change",
            store=store,
            region=region("SH"),
            store_type=store_type("JM"),
            reason="转为加盟",
        )
        services.application_submit(application=application, actor=hq)
        changed = services.application_approve(
            application=application, reviewer=world.staff_a[Role.HQ_ADMIN]
        )
        assert inbox(other_manager) == [
            f"门店编码已变更：{store.code} → {changed.code}（{store.name}）"
        ]


def test_due_re_reviews_tell_hq_once_and_each_stores_managers(world):
    manager = world.staff_a[Role.STORE_MANAGER]
    with tenant_context(world.tenant_a):
        Store.objects.update(next_review_on=datetime.date(2026, 1, 1))
        count = services.reviews_mark_due(today=datetime.date(2026, 1, 2))
        assert inbox(world.staff_a[Role.HQ_ADMIN]) == [f"{count} 家门店到了定期复审时间"]
        store = world.store_a1
        assert f"您的门店 {store.code} {store.name} 到了定期复审时间" in inbox(manager)
        services.reviews_mark_due(today=datetime.date(2026, 1, 2))  # a re-run tells nobody
        assert len(inbox(world.staff_a[Role.HQ_ADMIN])) == 1
