"""POST /api/v1/sales/: token auth, validation with field paths, idempotency, refunds."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from analytics.models import Sale, SaleLine, StoreApiToken
from analytics.services import api_token_create, api_token_revoke
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/sales/"


def payload(**overrides):
    body = {
        "sale_id": "POS-0001",
        "store": "BJ-ZY-001",
        "occurred_at": "2026-01-31T14:05:00+08:00",
        "lines": [
            {
                "sku": "TEA-1",
                "name": "绿茶",
                "category": "茶",
                "quantity": 2,
                "unit_price": "12.50",
            },
            {"sku": "CUP-1", "name": "杯子", "quantity": 1, "unit_price": 30, "discount": "5.00"},
        ],
    }
    body.update(overrides)
    return body


def post(token, body, client=None):
    client = client or Client(enforce_csrf_checks=True)
    return client.post(
        URL,
        data=json.dumps(body) if not isinstance(body, str | bytes) else body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"} if token is not None else {},
    )


@pytest.fixture
def token_a1(world):
    with tenant_context(world.tenant_a):
        _token, plain = api_token_create(
            store=world.store_a1, name="till", actor=world.staff_a[Role.HQ_ADMIN]
        )
    return plain


def sale_count(tenant) -> int:
    with tenant_context(tenant):
        return Sale.objects.count()


def test_url_is_the_documented_one():
    assert reverse("api:sales_create") == URL


def test_a_valid_sale_is_recorded_with_server_computed_totals(world, token_a1):
    response = post(token_a1, payload())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["total"] == "50.00"  # 2 x 12.50 + 30 - 5
    assert body["subtotal"] == "55.00" and body["discount_total"] == "5.00"
    assert body["items"] == 3 and body["store"] == "BJ-ZY-001"
    with tenant_context(world.tenant_a):
        sale = Sale.objects.get()
        assert sale.channel == "pos" and sale.external_id == "POS-0001"
        assert SaleLine.objects.filter(sale=sale).count() == 2
        assert AuditEvent.objects.filter(action="sale.record").exists()
        assert StoreApiToken.objects.get().last_used_at is not None


def test_a_retry_returns_the_first_result(world, token_a1):
    first = post(token_a1, payload())
    again = post(token_a1, payload())
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert sale_count(world.tenant_a) == 1


def test_the_same_sale_id_with_different_content_is_a_conflict(world, token_a1):
    post(token_a1, payload())
    response = post(token_a1, payload(occurred_at="2026-01-31T15:00:00+08:00"))
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "sale_id"
    assert sale_count(world.tenant_a) == 1


def test_a_member_sale_and_a_refund_by_reference(world, token_a1):
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1, card_number="CARD-9")
    assert post(token_a1, payload(member_card="CARD-9")).status_code == 201
    refund = payload(
        sale_id="POS-0002",
        refund_of="POS-0001",
        occurred_at="2026-01-31T16:00:00+08:00",
        lines=[{"sku": "TEA-1", "quantity": 1}],
    )
    refund.pop("member_card", None)
    response = post(token_a1, refund)
    assert response.status_code == 201, response.content
    assert response.json()["total"] == "-12.50"
    assert response.json()["member_card"] == "CARD-9"
    too_much = dict(refund, sale_id="POS-0003", lines=[{"sku": "TEA-1", "quantity": 2}])
    response = post(token_a1, too_much)
    assert response.status_code == 400
    assert "退" in response.json()["errors"][0]["message"]
    with tenant_context(world.tenant_a):
        assert Sale.objects.filter(member=member).count() == 2


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer nonsense", "Token abc", "Bearer 999999.abc.def", "Bearer x.y.z"],
)
def test_missing_and_malformed_tokens_are_refused(world, token_a1, header):
    client = Client()
    kwargs = {"headers": {"Authorization": header}} if header else {}
    response = client.post(
        URL, data=json.dumps(payload()), content_type="application/json", **kwargs
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["field"] == "Authorization"
    assert sale_count(world.tenant_a) == 0


def test_a_wrong_secret_and_a_revoked_token_are_refused(world, token_a1):
    tenant_id, key, secret = token_a1.split(".")
    assert post(f"{tenant_id}.{key}.{secret[:-1]}x", payload()).status_code == 401
    with tenant_context(world.tenant_a):
        api_token_revoke(token=StoreApiToken.objects.get(), actor=world.staff_a[Role.HQ_ADMIN])
    assert post(token_a1, payload()).status_code == 401
    assert sale_count(world.tenant_a) == 0


def test_another_stores_token_is_refused(world, token_a1):
    with tenant_context(world.tenant_a):
        _t, token_a2 = api_token_create(
            store=world.store_a2, name="a2", actor=world.staff_a[Role.HQ_ADMIN]
        )
    response = post(token_a2, payload(store="BJ-ZY-001"))
    assert response.status_code == 403
    assert response.json()["errors"][0]["field"] == "store"
    assert sale_count(world.tenant_a) == 0


def test_another_tenants_token_cannot_be_replayed_against_this_tenant(world, token_a1):
    with tenant_context(world.tenant_b):
        _t, token_b = api_token_create(
            store=world.store_b1, name="b1", actor=world.staff_b[Role.HQ_ADMIN]
        )
    _tenant_b, key_b, secret_b = token_b.split(".")
    # B's key and secret presented under A's tenant id: looked up in A, not found.
    assert post(f"{world.tenant_a.pk}.{key_b}.{secret_b}", payload()).status_code == 401
    # B's own token writes to B's store only (same store code, other tenant).
    assert post(token_b, payload()).status_code == 201
    assert sale_count(world.tenant_a) == 0
    assert sale_count(world.tenant_b) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{not json", ""),
        ("[]", ""),
        (payload(sale_id=""), "sale_id"),
        (payload(occurred_at="yesterday"), "occurred_at"),
        (payload(occurred_at="2026-01-31T14:05:00"), "occurred_at"),
        (payload(lines=[]), "lines"),
        (payload(lines=["x"]), "lines[0]"),
        (payload(lines=[{"sku": "A", "quantity": 0, "unit_price": "1"}]), "lines[0].quantity"),
        (payload(lines=[{"sku": "A", "quantity": 1.5, "unit_price": "1"}]), "lines[0].quantity"),
        (payload(lines=[{"sku": "A", "quantity": 1, "unit_price": "-1"}]), "lines[0].unit_price"),
        (
            payload(lines=[{"sku": "A", "quantity": 1, "unit_price": "1.234"}]),
            "lines[0].unit_price",
        ),
        (payload(lines=[{"sku": "A", "quantity": 1, "unit_price": "abc"}]), "lines[0].unit_price"),
        (payload(lines=[{"quantity": 1, "unit_price": "1"}]), "lines[0].sku"),
        (payload(member_card="NO-SUCH"), "member_card"),
        (payload(refund_of="NO-SUCH"), "refund_of"),
        (payload(total="0.01"), "total"),
        (payload(occurred_at="2099-01-01T00:00:00+08:00"), "occurred_at"),
        (
            payload(lines=[{"sku": "A", "quantity": 1, "unit_price": "1", "discount": "2"}]),
            "lines[0].discount",
        ),
    ],
)
def test_malformed_payloads_are_refused_with_field_paths_and_write_nothing(
    world, token_a1, body, field
):
    response = post(token_a1, body)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert field in [e["field"] for e in errors]
    assert all(e["message"] and e["code"] for e in errors)
    assert sale_count(world.tenant_a) == 0


def test_error_messages_are_chinese(world, token_a1):
    response = post(token_a1, payload(lines=[]))
    assert response.json()["errors"][0]["message"] == "请至少发送一行。"
