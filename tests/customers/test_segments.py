"""Saved segments: criteria become a queryset campaigns can use; counts on the page are live."""

from datetime import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from customers.models import CustomerTag, Segment
from customers.selectors import segment_queryset
from tenancy.models import Role
from tests.customers.factories import SegmentFactory, TagFactory
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def at(day: str) -> datetime:
    from tenancy.context import current_tenant

    return datetime.fromisoformat(day).replace(tzinfo=current_tenant().zone)


def test_every_criterion_filters(in_a):
    vip = TagFactory(name="VIP")
    match = CustomerFactory(
        home_store=in_a.store_a1,
        birth_month=3,
        birth_day=3,
        tier_code="GOLD",
        total_spent=Decimal("500.00"),
        last_purchase_at=at("2026-06-01T10:00"),
        rfm_segment="champions",
        marketing_consent=True,
    )
    CustomerTag.objects.create(customer=match, tag=vip)
    criteria = {
        "tags": [vip.pk],
        "tier_code": "GOLD",
        "home_stores": [in_a.store_a1.pk],
        "birth_month": 3,
        "last_purchase_after": "2026-05-01",
        "last_purchase_before": "2026-07-01",
        "total_spent_min": "100",
        "total_spent_max": "1000",
        "rfm_segment": "champions",
        "marketing_consent": True,
    }
    assert list(segment_queryset(SegmentFactory(criteria=criteria))) == [match]
    for key, wrong in [
        ("tier_code", "SILVER"),
        ("home_stores", [in_a.store_a2.pk]),
        ("birth_month", 4),
        ("last_purchase_after", "2026-06-02"),
        ("last_purchase_before", "2026-06-01"),
        ("total_spent_min", "501"),
        ("total_spent_max", "499.99"),
        ("rfm_segment", "at_risk"),
        ("tags", [TagFactory(name="其他").pk]),
    ]:
        assert not segment_queryset(SegmentFactory(criteria={**criteria, key: wrong})).exists(), key


def test_erased_members_never_match(in_a, member):
    from customers.services import customer_erase

    customer_erase(customer=member, staff=in_a.staff_a[Role.HQ_ADMIN], reason="本人要求")
    assert not segment_queryset(SegmentFactory(criteria={})).exists()


def test_member_with_two_matching_tags_counts_once(in_a, member):
    a, b = TagFactory(name="甲"), TagFactory(name="乙")
    CustomerTag.objects.create(customer=member, tag=a)
    CustomerTag.objects.create(customer=member, tag=b)
    assert segment_queryset(SegmentFactory(criteria={"tags": [a.pk, b.pk]})).count() == 1


def test_segment_pages_save_and_count_live(in_a, client_for):
    CustomerFactory(birth_month=3, birth_day=1)
    CustomerFactory(birth_month=3, birth_day=2)
    CustomerFactory(birth_month=5, birth_day=2)
    client = client_for(in_a.staff_a[Role.HQ_STAFF])
    assert (
        client.get(reverse("customers:segment_count"), {"birth_month": "3"})
        .content.decode()
        .strip()
        == "2"
    )
    response = client.post(reverse("customers:segment_new"), {"name": "三月", "birth_month": "3"})
    segment = Segment.objects.get(name="三月")
    assert response.status_code == 302
    assert segment.criteria == {"birth_month": 3}
    page = client.get(reverse("customers:segments")).content.decode()
    assert "三月" in page
    assert client.get(reverse("customers:segment_edit", args=[segment.pk])).context["count"] == 2


def test_segments_are_hq_only(in_a, client_for):
    assert (
        client_for(in_a.staff_a[Role.STORE_MANAGER]).get(reverse("customers:segments")).status_code
        == 403
    )
