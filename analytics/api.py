"""POST /api/v1/sales/ — POS systems send sales and refunds (see docs/api.md).

Authenticated by a per-store token, not a session: the view is public to the role matrix,
selects the tenant itself from the token, and is CSRF-exempt (no cookies are involved).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import HttpRequest, JsonResponse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from analytics.models import Sale, SaleChannel
from analytics.services import (
    MAX_LINES,
    LineInput,
    api_token_check,
    api_token_tenant,
    sale_record,
)
from campaigns.services import CouponError
from customers.models import Customer
from tenancy.access import public
from tenancy.context import tenant_context

MAX_BODY = 256 * 1024


class PayloadError(Exception):
    def __init__(self, errors: list[dict]):
        super().__init__("invalid payload")
        self.errors = errors


def _errors(status: int, errors: list[dict]) -> JsonResponse:
    return JsonResponse(
        {"errors": errors}, status=status, json_dumps_params={"ensure_ascii": False}
    )


def _money(value, path: str, errors: list, *, default: str | None = None) -> Decimal | None:
    if value is None and default is not None:
        return Decimal(default)
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        errors.append({"field": path, "message": _('Enter an amount such as "12.50".')})
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = None
    if (
        amount is None
        or not amount.is_finite()
        or amount < 0
        or amount != amount.quantize(Decimal("0.01"))
    ):
        errors.append(
            {"field": path, "message": _("Enter an amount of 0 or more with at most 2 decimals.")}
        )
        return None
    return amount


def _text(payload: dict, key: str, errors: list, *, path: str, required: bool, max_length: int):
    value = payload.get(key)
    if value is None or value == "":
        if required:
            errors.append({"field": path, "message": _("This field is required.")})
        return ""
    if not isinstance(value, str) or len(value) > max_length:
        errors.append(
            {
                "field": path,
                "message": _("Enter text of at most %(n)s characters.") % {"n": max_length},
            }
        )
        return ""
    return value.strip()


def parse_payload(payload, store) -> dict:
    """Check every field; collect all problems with their paths before writing anything."""
    errors: list[dict] = []
    if not isinstance(payload, dict):
        raise PayloadError([{"field": "", "message": _("The body must be a JSON object.")}])
    sale_id = _text(payload, "sale_id", errors, path="sale_id", required=True, max_length=64)
    store_code = _text(payload, "store", errors, path="store", required=True, max_length=20)
    occurred_raw = payload.get("occurred_at")
    occurred_at = None
    if not isinstance(occurred_raw, str) or not occurred_raw:
        errors.append({"field": "occurred_at", "message": _("This field is required.")})
    else:
        try:
            occurred_at = parse_datetime(occurred_raw)
        except ValueError:
            occurred_at = None
        if occurred_at is None:
            errors.append(
                {
                    "field": "occurred_at",
                    "message": _("Use ISO 8601, e.g. 2026-01-31T14:05:00+08:00."),
                }
            )
        elif occurred_at.tzinfo is None:
            errors.append(
                {"field": "occurred_at", "message": _("Include the time zone offset, e.g. +08:00.")}
            )
            occurred_at = None
    member_card = _text(
        payload, "member_card", errors, path="member_card", required=False, max_length=20
    )
    refund_of_id = _text(
        payload, "refund_of", errors, path="refund_of", required=False, max_length=64
    )
    coupon_code = _text(
        payload, "coupon_code", errors, path="coupon_code", required=False, max_length=16
    )
    if coupon_code and refund_of_id:
        errors.append(
            {"field": "coupon_code", "message": _("A coupon cannot be used on a refund.")}
        )
    elif coupon_code and not member_card:
        errors.append(
            {
                "field": "coupon_code",
                "message": _("Coupons are for members: send the member_card too."),
            }
        )
    lines_raw = payload.get("lines")
    lines: list[LineInput] = []
    if not isinstance(lines_raw, list) or not lines_raw:
        errors.append({"field": "lines", "message": _("Send at least one line.")})
    elif len(lines_raw) > MAX_LINES:
        errors.append(
            {"field": "lines", "message": _("A sale has at most %(n)s lines.") % {"n": MAX_LINES}}
        )
    else:
        for index, raw in enumerate(lines_raw):
            path = f"lines[{index}]"
            if not isinstance(raw, dict):
                errors.append({"field": path, "message": _("Each line must be a JSON object.")})
                continue
            sku = _text(raw, "sku", errors, path=f"{path}.sku", required=True, max_length=40)
            name = _text(raw, "name", errors, path=f"{path}.name", required=False, max_length=100)
            category = _text(
                raw, "category", errors, path=f"{path}.category", required=False, max_length=50
            )
            quantity = raw.get("quantity")
            if (
                isinstance(quantity, bool)
                or not isinstance(quantity, int)
                or not 1 <= quantity <= 100000
            ):
                errors.append(
                    {
                        "field": f"{path}.quantity",
                        "message": _("Enter a whole number from 1 to 100000."),
                    }
                )
                quantity = None
            price = None
            discount = Decimal("0")
            if not refund_of_id:
                price = _money(raw.get("unit_price"), f"{path}.unit_price", errors)
                discount = _money(raw.get("discount"), f"{path}.discount", errors, default="0")
            lines.append(
                LineInput(
                    sku=sku,
                    quantity=quantity,
                    unit_price=price,
                    discount=discount or Decimal("0"),
                    name=name,
                    category=category,
                )
            )
    unknown = set(payload) - {
        "sale_id",
        "store",
        "occurred_at",
        "member_card",
        "refund_of",
        "coupon_code",
        "lines",
    }
    for key in sorted(unknown):
        errors.append({"field": key, "message": _("Unknown field.")})
    if store_code and store_code != store.code:
        raise PayloadError(
            [{"field": "store", "message": _("This token belongs to another store.")}]
        )
    member = None
    if member_card and not errors:
        member = Customer.objects.filter(card_number=member_card, is_erased=False).first()
        if member is None:
            errors.append({"field": "member_card", "message": _("No member has this card number.")})
    refund_of = None
    if refund_of_id and not errors:
        refund_of = Sale.objects.filter(store=store, external_id=refund_of_id).first()
        if refund_of is None:
            errors.append(
                {"field": "refund_of", "message": _("No sale with this id at this store.")}
            )
    if errors:
        raise PayloadError(errors)
    return {
        "sale_id": sale_id,
        "occurred_at": occurred_at,
        "member": member,
        "refund_of": refund_of,
        "coupon_code": coupon_code,
        "lines": lines,
    }


def sale_body(sale: Sale) -> dict:
    """The answer to the first request and, identically, to every retry."""
    return {
        "id": sale.pk,
        "sale_id": sale.external_id,
        "store": sale.store.code,
        "occurred_at": sale.occurred_at.astimezone(datetime.UTC).isoformat(),
        "refund_of": sale.refund_of.external_id if sale.refund_of_id else None,
        "member_card": sale.member.card_number if sale.member_id else None,
        "subtotal": str(sale.subtotal),
        "discount_total": str(sale.discount_total),
        "coupon_code": sale.coupon.code if sale.coupon_id else None,
        "coupon_discount": str(sale.coupon_discount),
        "total": str(sale.total),
        "items": sale.item_count,
        "points_earned": sale.points_earned,
        "lines": [
            {
                "sku": line.product.sku,
                "quantity": line.quantity,
                "unit_price": str(line.unit_price),
                "discount": str(line.discount),
                "line_total": str(line.line_total),
            }
            for line in sale.lines.select_related("product").order_by("line_no")
        ],
    }


def _replay(sale: Sale, request_hash: str) -> JsonResponse:
    if sale.request_hash and sale.request_hash != request_hash:
        return _errors(
            409,
            [
                {
                    "field": "sale_id",
                    "message": _("This sale id was already used for a different sale."),
                }
            ],
        )
    response = JsonResponse(sale_body(sale), status=201, json_dumps_params={"ensure_ascii": False})
    response["Idempotent-Replayed"] = "true"
    return response


@public
@csrf_exempt
@require_POST
def sales_create(request: HttpRequest) -> JsonResponse:
    header = request.headers.get("Authorization", "")
    scheme, _sep, raw_token = header.partition(" ")
    unauthorized = [{"field": "Authorization", "message": _("Send a valid store API token.")}]
    if scheme != "Bearer" or not raw_token:
        return _errors(401, unauthorized)
    tenant = api_token_tenant(raw_token.strip())
    if tenant is None:
        return _errors(401, unauthorized)
    with tenant_context(tenant):
        token = api_token_check(raw_token.strip())
        if token is None:
            return _errors(401, unauthorized)
        store = token.store
        if len(request.body) > MAX_BODY:
            return _errors(413, [{"field": "", "message": _("The request body is too large.")}])
        try:
            payload = json.loads(request.body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            return _errors(400, [{"field": "", "message": _("The body is not valid JSON.")}])
        try:
            data = parse_payload(payload, store)
        except PayloadError as exc:
            status = 403 if exc.errors and exc.errors[0]["field"] == "store" else 400
            return _errors(status, exc.errors)
        request_hash = hashlib.sha256(
            json.dumps(payload, sort_keys=True, default=str).encode()
        ).hexdigest()
        try:
            sale, created = sale_record(
                store=store,
                occurred_at=data["occurred_at"],
                lines=data["lines"],
                channel=SaleChannel.POS,
                member=data["member"],
                external_id=data["sale_id"],
                refund_of=data["refund_of"],
                coupon_code=data["coupon_code"],
                request_hash=request_hash,
            )
        except CouponError as exc:
            return _errors(400, [{"field": "coupon_code", "message": m} for m in exc.messages])
        except ValidationError as exc:
            return _errors(400, [{"field": "", "message": m} for m in exc.messages])
        except IntegrityError:
            # A concurrent retry inserted the same POS sale id first; answer with its result.
            sale = Sale.objects.filter(store=store, external_id=data["sale_id"]).first()
            if sale is None:
                raise
            created = False
        if not created:
            return _replay(sale, request_hash)
        return JsonResponse(sale_body(sale), status=201, json_dumps_params={"ensure_ascii": False})
