"""Store codes under real concurrency on PostgreSQL: separate connections, real row locks."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from stores import services
from stores.models import (
    ApplicationStatus,
    Region,
    Store,
    StoreCodeApplication,
    StoreCodeCounter,
    StoreType,
)
from tenancy.context import tenant_context
from tenancy.models import Role, StaffMember
from tests.factories import StaffMemberFactory, TenantFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PREFIXES = [("BJ", "ZY"), ("BJ", "JM"), ("SH", "ZY")]


def make_tenant(slug: str):
    tenant = TenantFactory(slug=slug)
    with tenant_context(tenant):
        reviewer = StaffMemberFactory(role=Role.HQ_STAFF)
        for code in ("BJ", "SH"):
            Region.objects.create(code=code, name=code)
        for code in ("ZY", "JM"):
            StoreType.objects.create(code=code, name=code)
    return tenant, reviewer


def submitted(tenant, reviewer, region_code: str, type_code: str, n: int) -> list[int]:
    with tenant_context(tenant):
        region = Region.objects.get(code=region_code)
        store_type = StoreType.objects.get(code=type_code)
        # Four-eyes: somebody other than the reviewer submits.
        applicant = StaffMember.objects.filter(role=Role.HQ_STAFF).exclude(pk=reviewer.pk).first()
        applicant = applicant or StaffMemberFactory(role=Role.HQ_STAFF)
        return [
            StoreCodeApplication.objects.create(
                store_name=f"{region_code}{type_code}{i}",
                region=region,
                store_type=store_type,
                applicant=applicant,
                status=ApplicationStatus.SUBMITTED,
            ).pk
            for i in range(n)
        ]


def approve_in_thread(tenant, reviewer, application_id: int) -> str:
    """One approval on this thread's own connection, as its own request would do it."""
    try:
        with tenant_context(tenant):
            application = StoreCodeApplication.objects.get(pk=application_id)
            return services.application_approve(application=application, reviewer=reviewer).code
    finally:
        connection.close()


def test_100_parallel_approvals_give_unique_contiguous_codes_per_prefix():
    tenant, reviewer = make_tenant("race")
    ids = []
    for index, (region_code, type_code) in enumerate(PREFIXES):
        ids += submitted(tenant, reviewer, region_code, type_code, 34 if index == 0 else 33)
    assert len(ids) == 100
    # Interleave the prefixes so that every prefix is contended at the same time.
    ids.sort()
    ids = ids[0::3] + ids[1::3] + ids[2::3]
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda pk: approve_in_thread(tenant, reviewer, pk), ids))

    assert len(codes) == 100 and len(set(codes)) == 100
    by_prefix = defaultdict(list)
    for code in codes:
        parsed = services.store_code_parse(code)
        by_prefix[(parsed.region, parsed.store_type)].append(parsed.sequence)
    assert sorted(by_prefix) == sorted(PREFIXES)
    for prefix, sequences in by_prefix.items():
        expected = 34 if prefix == PREFIXES[0] else 33
        assert sorted(sequences) == list(range(1, expected + 1)), prefix  # from 001, no gaps
    with tenant_context(tenant):
        counters = {
            (c.region.code, c.store_type.code): c.last_sequence
            for c in StoreCodeCounter.objects.select_related("region", "store_type")
        }
        assert counters == {p: len(s) for p, s in by_prefix.items()}
        stored = set(StoreCodeApplication.objects.values_list("issued_code", flat=True))
        assert stored == set(codes)


def _wait_until_a_session_waits_for_a_lock(deadline_seconds: float = 30) -> None:
    """Poll PostgreSQL until another session is blocked on a lock (bounded, not a timing test)."""
    deadline = time.monotonic() + deadline_seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    pytest.fail("the second approval never waited for the counter lock")


class Boom(Exception):
    pass


def test_an_approval_that_rolls_back_consumes_no_number():
    tenant, reviewer = make_tenant("rollback")
    first, failing, waiting, last = submitted(tenant, reviewer, "BJ", "ZY", 4)
    assert approve_in_thread(tenant, reviewer, first) == "BJ-ZY-001"

    holding = threading.Event()
    release = threading.Event()
    results: dict[str, str] = {}

    def approve_then_fail():
        try:
            with tenant_context(tenant), transaction.atomic():
                application = StoreCodeApplication.objects.get(pk=failing)
                store = services.application_approve(application=application, reviewer=reviewer)
                results["failing_saw"] = store.code
                holding.set()  # the counter row stays locked until this transaction ends
                release.wait(timeout=30)
                raise Boom
        except Boom:
            results["failing"] = "rolled back"
        finally:
            holding.set()
            connection.close()

    def approve_meanwhile():
        results["waiting"] = approve_in_thread(tenant, reviewer, waiting)

    failing_thread = threading.Thread(target=approve_then_fail)
    failing_thread.start()
    assert holding.wait(timeout=30)
    waiting_thread = threading.Thread(target=approve_meanwhile)
    waiting_thread.start()
    try:
        _wait_until_a_session_waits_for_a_lock()
    finally:
        release.set()
        failing_thread.join(timeout=60)
        waiting_thread.join(timeout=60)

    assert results["failing_saw"] == "BJ-ZY-002"  # it had taken 002 ...
    assert results["failing"] == "rolled back"  # ... and gave it back
    assert results["waiting"] == "BJ-ZY-002"
    assert approve_in_thread(tenant, reviewer, last) == "BJ-ZY-003"
    with tenant_context(tenant):
        assert StoreCodeApplication.objects.get(pk=failing).status == ApplicationStatus.SUBMITTED
        assert StoreCodeCounter.objects.get().last_sequence == 3


def test_two_tenants_approving_at_once_each_get_their_own_bj_zy_001():
    tenant_a, reviewer_a = make_tenant("first")
    tenant_b, reviewer_b = make_tenant("second")
    jobs = [(tenant_a, reviewer_a, pk) for pk in submitted(tenant_a, reviewer_a, "BJ", "ZY", 3)] + [
        (tenant_b, reviewer_b, pk) for pk in submitted(tenant_b, reviewer_b, "BJ", "ZY", 3)
    ]
    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(lambda job: (job[0].slug, approve_in_thread(*job)), jobs))
    for slug in ("first", "second"):
        assert sorted(code for s, code in codes if s == slug) == [
            "BJ-ZY-001",
            "BJ-ZY-002",
            "BJ-ZY-003",
        ]


def test_two_reviewers_approving_the_same_application_make_one_store():
    tenant, reviewer = make_tenant("double")
    (application_id,) = submitted(tenant, reviewer, "BJ", "ZY", 1)
    start = threading.Barrier(2)

    def approve():
        start.wait(timeout=30)
        try:
            return approve_in_thread(tenant, reviewer, application_id)
        except ValidationError:
            return "refused"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(lambda _: approve(), range(2)))
    assert outcomes == ["BJ-ZY-001", "refused"]
    with tenant_context(tenant):
        assert list(Store.objects.values_list("code", flat=True)) == ["BJ-ZY-001"]
        assert StoreCodeCounter.objects.get().last_sequence == 1
