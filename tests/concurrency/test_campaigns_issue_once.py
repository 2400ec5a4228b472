"""The hand-issue coupon form sent ten times at once: one coupon.

Each copy carries the same one-time key; the copies take turns on the offer's row, and every
answer after the first finds the coupon the first one issued.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from campaigns.models import Coupon
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.campaigns.factories import CouponOfferFactory
from tests.concurrency.threads import run_threads
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REPEATS = 10


def _signed_in(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def test_the_same_hand_issue_posted_ten_times_at_once_issues_one_coupon(world):
    hq = world.staff_a[Role.HQ_STAFF]
    with tenant_context(world.tenant_a):
        CustomerFactory(home_store=world.store_a1, phone="13812345678")
        offer = CouponOfferFactory()
    first = _signed_in(hq).get(reverse("campaigns:offer_detail", args=[offer.pk]))
    data = {
        "member_q": "13812345678",
        "reason": "顾客投诉补偿",
        "token": first.context["issue_form"].initial["token"],
    }
    clients = [_signed_in(hq) for _ in range(REPEATS)]
    url = reverse("campaigns:offer_issue", args=[offer.pk])

    answers = run_threads(REPEATS, lambda i: clients[i].post(url, data))

    assert [getattr(answer, "status_code", answer) for answer in answers] == [302] * REPEATS
    with tenant_context(world.tenant_a):
        assert Coupon.objects.count() == 1
        assert AuditEvent.objects.filter(action="coupon.issue").count() == 1
        offer.refresh_from_db()
        assert offer.issued_count == 1
