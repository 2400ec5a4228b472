"""Concurrent retries of one POS sale: one row, and every answer is the first result."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from analytics.models import Sale, SaleLine
from analytics.services import api_token_create
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.concurrency.threads import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8


def test_concurrent_retries_of_the_same_pos_sale_record_it_once(world):
    with tenant_context(world.tenant_a):
        _token, plain = api_token_create(
            store=world.store_a1, name="till", actor=world.staff_a[Role.HQ_ADMIN]
        )
    body = json.dumps(
        {
            "sale_id": "POS-RACE-1",
            "store": "BJ-ZY-001",
            "occurred_at": "2026-01-31T14:05:00+08:00",
            "lines": [{"sku": "RACE-1", "name": "抢购", "quantity": 3, "unit_price": "9.90"}],
        }
    )
    clients = [Client() for _ in range(THREADS)]

    def retry(index: int) -> tuple[int, dict]:
        response = clients[index].post(
            "/api/v1/sales/",
            data=body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {plain}"},
        )
        return response.status_code, response.json()

    answers = run_threads(THREADS, retry)

    failures = [answer for answer in answers if isinstance(answer, BaseException)]
    assert not failures, failures
    assert len(answers) == THREADS
    assert {status for status, _ in answers} == {201}
    first = answers[0][1]
    assert all(answer == first for _, answer in answers)
    assert first["total"] == "29.70"
    with tenant_context(world.tenant_a):
        assert Sale.objects.filter(external_id="POS-RACE-1").count() == 1
        assert SaleLine.objects.count() == 1


def test_two_counters_using_one_coupon_at_once_make_one_sale_and_one_refusal(world):
    """Both tills send a different sale with the same coupon: campaigns' lock on the coupon
    makes the second wait for the first's commit, then refuse it; the refused sale is gone."""
    from campaigns.models import Coupon, CouponOffer, CouponStatus
    from tests.analytics.coupons import coupon_for
    from tests.factories import CustomerFactory

    with tenant_context(world.tenant_a):
        _token, plain = api_token_create(
            store=world.store_a1, name="till", actor=world.staff_a[Role.HQ_ADMIN]
        )
        member = CustomerFactory(home_store=world.store_a1)
        coupon = coupon_for(member, value="5.00")

    def body(sale_id: str) -> str:
        return json.dumps(
            {
                "sale_id": sale_id,
                "store": "BJ-ZY-001",
                "occurred_at": "2026-01-31T14:05:00+08:00",
                "member_card": member.card_number,
                "coupon_code": coupon.code,
                "lines": [{"sku": "RACE-C", "name": "抢券", "quantity": 1, "unit_price": "30.00"}],
            }
        )

    tills = [Client(), Client()]

    def till(index: int) -> tuple[int, dict]:
        response = tills[index].post(
            "/api/v1/sales/",
            data=body(f"POS-C-{index + 1}"),
            content_type="application/json",
            headers={"Authorization": f"Bearer {plain}"},
        )
        return response.status_code, response.json()

    answers = run_threads(2, till)

    failures = [answer for answer in answers if isinstance(answer, BaseException)]
    assert not failures, failures
    assert sorted(status for status, _ in answers) == [201, 400]
    won = next(answer for status, answer in answers if status == 201)
    lost = next(answer for status, answer in answers if status == 400)
    assert won["coupon_discount"] == "5.00" and won["total"] == "25.00"
    assert lost["errors"][0]["field"] == "coupon_code"
    with tenant_context(world.tenant_a):
        assert list(Sale.objects.values_list("external_id", flat=True)) == [won["sale_id"]]
        used = Coupon.objects.get(pk=coupon.pk)
        assert used.status == CouponStatus.USED and used.used_sale_id == won["id"]
        assert CouponOffer.objects.get(pk=coupon.offer_id).used_count == 1
