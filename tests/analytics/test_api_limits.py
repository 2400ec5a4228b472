"""POST /api/v1/sales/ under hostile input: every refusal is a JSON error with a stable code,
numbers are bounded before they reach Decimal arithmetic or the database, and nothing a
client sends produces a 5xx (a Hypothesis test posts generated bodies)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.test import Client
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from analytics.models import Sale
from analytics.services import api_token_create
from tenancy.context import tenant_context
from tenancy.models import Role

pytestmark = [pytest.mark.django_db, pytest.mark.clock]  # occurred_at is bounded by now
URL = "/api/v1/sales/"
VALID_LINE = {"sku": "TEA-1", "name": "绿茶", "quantity": 1, "unit_price": "12.50"}


@pytest.fixture
def token_a1(world):
    with tenant_context(world.tenant_a):
        _token, plain = api_token_create(
            store=world.store_a1, name="till", actor=world.staff_a[Role.HQ_ADMIN]
        )
    return plain


@dataclass(frozen=True)
class Raw:
    """JSON text written as is: numbers json.dumps cannot produce (1e400, NaN, 5000 digits)."""

    text: str


def to_json(node) -> str:
    if isinstance(node, Raw):
        return node.text
    if isinstance(node, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ",".join(to_json(v) for v in node) + "]"
    return json.dumps(node)


def sale(**overrides) -> dict:
    body = {
        "sale_id": "POS-1",
        "store": "BJ-ZY-001",
        "occurred_at": "2026-01-31T14:05:00+08:00",
        "lines": [VALID_LINE],
    }
    body.update(overrides)
    return body


def post(token, body, content_type="application/json", method="POST"):
    text = body if isinstance(body, str | bytes) else to_json(body)
    return Client().generic(
        method,
        URL,
        data=text,
        content_type=content_type,
        headers={"Authorization": f"Bearer {token}"},
    )


def codes(response) -> dict[str, str]:
    assert response["Content-Type"] == "application/json"
    errors = response.json()["errors"]
    assert all(e["code"] and e["message"] for e in errors)
    return {e["field"]: e["code"] for e in errors}


def sales(world) -> int:
    with tenant_context(world.tenant_a):
        return Sale.objects.count()


@pytest.mark.parametrize(
    ("price", "code"),
    [
        (Raw("1e400"), "out_of_range"),
        ("1e400", "out_of_range"),
        (Raw("-1e400"), "out_of_range"),
        ("99999999999999999999999999.99", "out_of_range"),
        (Raw("99999999999999999999999999.99"), "out_of_range"),
        ("10000000.00", "out_of_range"),
        ("NaN", "invalid"),
        ("sNaN", "invalid"),
        ("Infinity", "invalid"),
        ("-Infinity", "invalid"),
        ("1e-400", "too_precise"),
        ("12.345", "too_precise"),
        (True, "invalid"),
        ([], "invalid"),
    ],
)
def test_out_of_range_and_odd_prices_are_refused_per_field(world, token_a1, price, code):
    response = post(token_a1, sale(lines=[dict(VALID_LINE, unit_price=price)]))
    assert response.status_code == 400
    assert codes(response) == {"lines[0].unit_price": code}
    assert sales(world) == 0


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_constants_that_are_not_json_are_refused(world, token_a1, constant):
    response = post(token_a1, sale(lines=[dict(VALID_LINE, unit_price=Raw(constant))]))
    assert response.status_code == 400
    assert codes(response) == {"": "invalid_json"}


def test_quantities_discounts_and_totals_are_bounded(world, token_a1):
    huge_line = dict(VALID_LINE, quantity=100000, unit_price="9999999.99")
    assert codes(post(token_a1, sale(lines=[huge_line]))) == {"lines[0]": "out_of_range"}
    big_lines = [dict(VALID_LINE, sku=f"S-{i}", unit_price="6000000.00") for i in range(2)]
    assert codes(post(token_a1, sale(lines=big_lines))) == {"lines": "out_of_range"}
    for quantity, code in [
        (100001, "out_of_range"),
        (0, "out_of_range"),
        (Raw("1" * 40), "out_of_range"),
        ("2", "invalid"),
        (Raw("1e3"), "invalid"),
    ]:
        response = post(token_a1, sale(lines=[dict(VALID_LINE, quantity=quantity)]))
        assert codes(response) == {"lines[0].quantity": code}, quantity
    response = post(token_a1, sale(lines=[dict(VALID_LINE, discount="1e400")]))
    assert codes(response) == {"lines[0].discount": "out_of_range"}
    # A 5000-digit integer is beyond Python's int conversion limit: invalid JSON, not a 500.
    response = post(token_a1, sale(lines=[dict(VALID_LINE, unit_price=Raw("9" * 5000))]))
    assert codes(response) == {"": "invalid_json"}
    assert sales(world) == 0


def test_the_largest_allowed_sale_is_recorded(world, token_a1):
    line = dict(VALID_LINE, quantity=100000, unit_price="99.99")
    response = post(token_a1, sale(lines=[line]))
    assert response.status_code == 201, response.content
    assert response.json()["total"] == "9999000.00"


@pytest.mark.parametrize(
    ("occurred_at", "code"),
    [
        ("1900-01-01T00:00:00+08:00", "out_of_range"),
        ("0001-01-01T00:00:00+14:00", "out_of_range"),
        ("1999-12-31T23:59:59+00:00", "out_of_range"),
        ("9999-12-31T23:59:59-12:00", "out_of_range"),
        ("2026-02-30T10:00:00+08:00", "invalid"),
        ("2026-01-31T10:00:00+25:00", "invalid"),
        ("2026-01-31T10:00:00", "no_time_zone"),
    ],
)
def test_occurred_at_lies_between_2000_and_now(world, token_a1, occurred_at, code):
    response = post(token_a1, sale(occurred_at=occurred_at))
    assert response.status_code == 400
    assert codes(response) == {"occurred_at": code}


@pytest.mark.parametrize("text", ["A\x00B", "\ud800"])
def test_text_the_database_cannot_store_is_refused(world, token_a1, text):
    response = post(token_a1, sale(lines=[dict(VALID_LINE, name=text, sku="NEW-1")]))
    assert response.status_code == 400
    assert codes(response) == {"lines[0].name": "invalid"}


def test_deep_nesting_is_refused_before_parsing(world, token_a1):
    response = post(token_a1, "[" * 50000 + "]" * 50000)
    assert response.status_code == 400
    assert codes(response) == {"": "too_deep"}
    deep_in_a_field = to_json(sale(lines=[VALID_LINE])).replace(
        '"TEA-1"', '"TEA-1", "x": ' + '{"a":' * 30000 + "1" + "}" * 30000
    )
    assert codes(post(token_a1, deep_in_a_field)) == {"": "too_deep"}
    # Brackets inside strings are text, not nesting.
    response = post(token_a1, sale(lines=[dict(VALID_LINE, name="[" * 90)]))
    assert response.status_code == 201


def test_a_body_over_the_limit_is_a_json_413(world, token_a1):
    body = to_json(sale(lines=[dict(VALID_LINE, name="x" * (12 * 1024 * 1024))]))
    response = post(token_a1, body)
    assert response.status_code == 413
    assert codes(response) == {"": "body_too_large"}


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
def test_other_methods_are_a_json_405_with_allow(world, token_a1, method):
    response = post(token_a1, sale(), method=method)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    if method != "HEAD":  # a HEAD answer has no body
        assert codes(response) == {"": "method_not_allowed"}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_a_415(world, token_a1, content_type):
    response = post(token_a1, to_json(sale()), content_type=content_type)
    assert response.status_code == 415
    assert codes(response) == {"Content-Type": "unsupported_media_type"}
    assert sales(world) == 0


def test_unauthenticated_errors_carry_codes_too(world):
    response = Client().post(URL, data="{}", content_type="application/json")
    assert response.status_code == 401
    assert codes(response) == {"Authorization": "unauthorized"}


# --- Generated hostile bodies ------------------------------------------------------------

ODD_NUMBERS = st.sampled_from(
    [
        "1e400",
        "-1e400",
        "1e-400",
        "NaN",
        "Infinity",
        "-Infinity",
        "99999999999999999999999999.99",
        "9" * 5000,
        "-0",
        "0.001",
        "1E+2",
        "100000",
        "100001",
        "9999999.99",
        "10000000",
    ]
).map(Raw)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.decimals(allow_nan=True).map(str)
    | ODD_NUMBERS
)
TREES = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
NUMBERISH = ODD_NUMBERS | st.integers() | st.decimals(allow_nan=True).map(str) | LEAVES
LINES = st.fixed_dictionaries(
    {"sku": st.text(max_size=45) | LEAVES, "quantity": NUMBERISH, "unit_price": NUMBERISH},
    optional={
        "name": st.text(max_size=110) | LEAVES,
        "category": st.text(max_size=60),
        "discount": NUMBERISH,
        "extra": TREES,
    },
)
SALES = st.fixed_dictionaries(
    {
        "sale_id": st.text(min_size=1, max_size=70) | LEAVES,
        "store": st.just("BJ-ZY-001") | st.text(max_size=25),
        "occurred_at": st.just("2026-01-31T14:05:00+08:00")
        | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
        | LEAVES,
        "lines": st.lists(LINES, max_size=4) | TREES,
    },
    optional={
        "member_card": st.text(max_size=25) | LEAVES,
        "refund_of": st.text(max_size=10) | LEAVES,
        "coupon_code": st.text(max_size=20) | LEAVES,
        "unknown": TREES,
    },
)
DEEP = st.tuples(st.integers(1, 60000), st.sampled_from(["[", '{"a":'])).map(
    lambda t: t[1] * t[0] + "1" + ("]" if t[1] == "[" else "}") * t[0]
)
# A valid sale with one hostile value: gets past the shape checks to the bounds, the service
# and the database (text PostgreSQL cannot store, amounts at the edges).
NEAR_VALID = st.fixed_dictionaries(
    {
        "sku": st.just("TEA-1") | st.text(min_size=1, max_size=40),
        "name": st.just("绿茶") | st.text(min_size=1, max_size=100),
        "quantity": st.integers(1, 100000) | NUMBERISH,
        "unit_price": st.decimals(0, 10000000, places=2).map(str) | NUMBERISH,
        "discount": st.just("0.00") | st.decimals(0, 1, places=2).map(str) | NUMBERISH,
    }
).flatmap(
    lambda line: st.builds(
        lambda sale_id, lines: sale(sale_id=sale_id, lines=lines),
        st.uuids().map(str) | st.text(min_size=1, max_size=64),
        st.lists(st.just(line), min_size=1, max_size=3),
    )
)
BODIES = (
    NEAR_VALID.map(to_json)
    | SALES.map(to_json)
    | TREES.map(to_json)
    | DEEP
    | st.binary(max_size=200)
    | st.text(max_size=200)
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=BODIES)
def test_generated_hostile_bodies_never_get_a_5xx(world, token_a1, body):
    response = post(token_a1, body)
    assert response.status_code < 500
    event(f"status {response.status_code}")
    if response.status_code != 201:
        codes(response)
