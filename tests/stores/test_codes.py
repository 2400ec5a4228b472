"""Store codes: format, counters per prefix and tenant, never reused, 999 -> 1000."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from stores import services
from stores.models import (
    ApplicationKind,
    ApplicationStatus,
    Store,
    StoreCodeApplication,
    StoreCodeCounter,
    StoreCodeHistory,
    StoreStatus,
)
from tenancy.context import tenant_context
from tenancy.models import AuditEvent
from tests.factories import TenantFactory
from tests.stores.factories import (
    approved_store,
    hq_applicant,
    hq_staff,
    region,
    store_type,
    submitted_application,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "code, parts",
    [
        ("BJ-ZY-001", ("BJ", "ZY", 1)),
        ("BJ-ZY-999", ("BJ", "ZY", 999)),
        ("BJ-ZY-1000", ("BJ", "ZY", 1000)),
        ("NMGX-LY-12345", ("NMGX", "LY", 12345)),
    ],
)
def test_valid_codes_parse(code, parts):
    parsed = services.store_code_parse(code)
    assert (parsed.region, parsed.store_type, parsed.sequence) == parts


@pytest.mark.parametrize(
    "code",
    [
        "BJ-ZY-01",  # fewer than 3 digits
        "BJ-ZY-0001",  # padded past 3 digits
        "BJ-ZY-000",  # sequences start at 1
        "bj-ZY-001",  # capitals only
        "B-ZY-001",  # region of 2 to 4 letters
        "BJ-ZYXWV-001",
        "BJZY001",
        "BJ-ZY-001 ",
        "",
    ],
)
def test_malformed_codes_are_refused(code):
    with pytest.raises(ValidationError):
        services.store_code_parse(code)


def test_format_pads_to_three_and_grows_to_four():
    assert services.store_code_format(region_code="BJ", type_code="ZY", sequence=7) == "BJ-ZY-007"
    assert services.store_code_format(region_code="BJ", type_code="ZY", sequence=999) == (
        "BJ-ZY-999"
    )
    assert services.store_code_format(region_code="BJ", type_code="ZY", sequence=1000) == (
        "BJ-ZY-1000"
    )


def test_approval_issues_codes_per_prefix(in_tenant):
    codes = [
        approved_store(region_code="BJ", type_code="ZY").code,
        approved_store(region_code="BJ", type_code="ZY").code,
        approved_store(region_code="SH", type_code="JM").code,
        approved_store(region_code="BJ", type_code="JM").code,
    ]
    assert codes == ["BJ-ZY-001", "BJ-ZY-002", "SH-JM-001", "BJ-JM-001"]
    store = Store.objects.get(code="BJ-ZY-002")
    assert store.status == StoreStatus.PREPARING
    assert list(store.code_history.values_list("code", flat=True)) == ["BJ-ZY-002"]


def test_approval_writes_store_and_audit_in_one_go(in_tenant):
    application = submitted_application()
    reviewer = hq_staff()
    store = services.application_approve(application=application, reviewer=reviewer, note="好")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED
    assert application.store == store and application.issued_code == store.code
    event = AuditEvent.objects.get(action="stores.application_approve")
    assert event.actor == reviewer.user and event.reason == "好"
    assert AuditEvent.objects.filter(action="stores.store_create", object_id=str(store.pk)).exists()


def test_sequence_grows_from_999_to_1000(in_tenant):
    counter = StoreCodeCounter.objects.create(
        region=region("BJ"), store_type=store_type("ZY"), last_sequence=998
    )
    assert approved_store().code == "BJ-ZY-999"
    assert approved_store().code == "BJ-ZY-1000"
    assert approved_store().code == "BJ-ZY-1001"
    counter.refresh_from_db()
    assert counter.last_sequence == 1001


def test_each_tenant_has_its_own_sequence(db):
    first, second = TenantFactory(slug="t-one"), TenantFactory(slug="t-two")
    with tenant_context(first):
        assert approved_store().code == "BJ-ZY-001"
        assert approved_store().code == "BJ-ZY-002"
    with tenant_context(second):
        assert approved_store().code == "BJ-ZY-001"


def test_rejected_application_consumes_no_number(in_tenant):
    rejected = submitted_application()
    services.application_reject(application=rejected, reviewer=hq_staff(), reason="资料不全")
    assert approved_store().code == "BJ-ZY-001"


def test_rolled_back_approval_consumes_no_number(in_tenant):
    application = submitted_application()
    with pytest.raises(RuntimeError), transaction.atomic():
        assert services.application_approve(application=application, reviewer=hq_staff())
        raise RuntimeError("the surrounding transaction fails after the approval")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SUBMITTED
    assert not Store.objects.exists()
    store = services.application_approve(application=application, reviewer=hq_staff())
    assert store.code == "BJ-ZY-001"


def test_an_application_is_approved_only_once(in_tenant):
    application = submitted_application()
    services.application_approve(application=application, reviewer=hq_staff())
    with pytest.raises(ValidationError):
        services.application_approve(application=application, reviewer=hq_staff())
    with pytest.raises(ValidationError):
        services.application_reject(application=application, reviewer=hq_staff(), reason="x")
    assert Store.objects.count() == 1


def test_closed_store_keeps_its_code_and_the_code_is_not_reused(in_tenant):
    closed = approved_store()
    services.store_set_status(
        store=closed, status=StoreStatus.CLOSED, actor=hq_staff(), reason="租约到期"
    )
    following = approved_store()
    closed.refresh_from_db()
    assert closed.code == "BJ-ZY-001" and closed.status == StoreStatus.CLOSED
    assert following.code == "BJ-ZY-002"
    with pytest.raises(ValidationError):
        services.store_set_status(
            store=closed, status=StoreStatus.OPEN, actor=hq_staff(), reason="重开"
        )


def test_code_change_issues_a_new_code_and_keeps_the_old_one_on_record(in_tenant):
    store = approved_store(region_code="BJ", type_code="JM")
    assert store.code == "BJ-JM-001"
    change = services.application_create(
        applicant=hq_applicant(),
        kind=ApplicationKind.CODE_CHANGE,
        store=store,
        region=region("BJ"),
        store_type=store_type("ZY"),
        reason="收归直营",
    )
    services.application_submit(application=change, actor=hq_applicant())
    services.application_approve(application=change, reviewer=hq_staff())
    store.refresh_from_db()
    assert store.code == "BJ-ZY-001" and store.store_type.code == "ZY"
    former = StoreCodeHistory.objects.get(code="BJ-JM-001")
    assert former.store == store and former.retired_at is not None
    # The former code stays searchable and is never issued again.
    assert list(services.store_code_search(query="BJ-JM-001")) == [store]
    assert approved_store(region_code="BJ", type_code="JM").code == "BJ-JM-002"
    event = AuditEvent.objects.get(action="stores.store_code_change")
    assert event.before == {"code": "BJ-JM-001"} and event.after == {"code": "BJ-ZY-001"}
    assert event.reason == "收归直营"


def test_code_change_must_change_something(in_tenant):
    store = approved_store()
    with pytest.raises(ValidationError):
        services.application_create(
            applicant=hq_staff(),
            kind=ApplicationKind.CODE_CHANGE,
            store=store,
            region=store.region,
            store_type=store.store_type,
        )


def test_history_backstop_refuses_a_second_store_with_a_former_code(in_tenant):
    from django.db import IntegrityError

    store = approved_store()
    with pytest.raises(IntegrityError), transaction.atomic():
        StoreCodeHistory.objects.create(store=store, code="BJ-ZY-001")


def test_sync_records_codes_of_stores_made_outside_the_counters(in_tenant):
    from tests.factories import StoreFactory

    StoreFactory(code="BJ-ZY-041", region=region("BJ"), store_type=store_type("ZY"))
    services.counters_sync_with_stores()
    services.counters_sync_with_stores()  # idempotent
    assert StoreCodeHistory.objects.filter(code="BJ-ZY-041").count() == 1
    assert approved_store().code == "BJ-ZY-042"


def test_demo_seed_gives_codes_through_the_counters_and_is_idempotent(db):
    from stores import demo as stores_demo
    from tenancy import demo as tenancy_demo

    tenant = tenancy_demo.ensure_tenants()[0]
    with tenant_context(tenant):
        for _ in range(2):
            tenancy_demo.seed(tenant, quick=True)
            stores_demo.seed(tenant, quick=True)
        codes = sorted(Store.objects.values_list("code", flat=True))
        assert codes == [
            "BJ-JM-001",
            "BJ-ZY-001",
            "BJ-ZY-002",
            "GZ-ZY-001",
            "SH-JM-001",
            "SH-ZY-001",
        ]
        counters = {
            f"{c.region.code}-{c.store_type.code}": c.last_sequence
            for c in StoreCodeCounter.objects.select_related("region", "store_type")
        }
        assert counters == {"BJ-ZY": 2, "BJ-JM": 1, "SH-ZY": 1, "SH-JM": 1, "GZ-ZY": 1}
        statuses = set(StoreCodeApplication.objects.values_list("status", flat=True))
        assert statuses == {"draft", "submitted", "approved", "rejected"}
