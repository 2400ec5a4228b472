"""POST /api/v1/sales/ — POS systems send sales and refunds (see docs/api.md).

Authenticated by a per-store token, not a session: the view is public to the role matrix,
selects the tenant itself from the token, and is CSRF-exempt (no cookies are involved).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from analytics.models import Sale, SaleChannel
from analytics.services import (
    EARLIEST_SALE,
    FUTURE_TOLERANCE,
    MAX_LINES,
    MAX_QUANTITY,
    MAX_SALE_AMOUNT,
    LineInput,
    api_token_check,
    api_token_tenant,
    sale_record,
)
from campaigns.services import CouponError
from catalog.services import pos_requires_catalog, unknown_skus
from customers.models import Customer
from tenancy.access import public
from tenancy.context import tenant_context

MAX_BODY = 256 * 1024
# A sale is three levels deep (body, lines, line); anything much deeper is not a sale, and
# Python's json module recurses per level, so 50,000 levels would end in RecursionError.
MAX_DEPTH = 10
FIELDS = {"sale_id", "store", "occurred_at", "member_card", "refund_of", "coupon_code", "lines"}

# A JSON string (escapes included), a bracket, or a quote that starts a string never closed.
_DEPTH_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]|"', re.DOTALL)


class PayloadError(Exception):
    def __init__(self, errors: list[dict]):
        super().__init__("invalid payload")
        self.errors = errors


def _error(field: str, code: str, message: str) -> dict:
    """One problem: `field` is the path, `code` is stable for programs, `message` for people."""
    return {"field": field, "code": code, "message": message}


def _errors(status: int, errors: list[dict]) -> JsonResponse:
    return JsonResponse(
        {"errors": errors}, status=status, json_dumps_params={"ensure_ascii": False}
    )


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON `text` nests deeper than `limit`, found without parsing it.

    Strings are skipped whole so brackets inside them do not count. One pass, linear: at a
    string that never closes it stops (json.loads refuses that body anyway, and every
    bracket before it was already counted).
    """
    depth = 0
    for match in _DEPTH_TOKEN.finditer(text):
        piece = match.group()
        if piece in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif piece in ("]", "}"):
            depth -= 1
        elif piece == '"':
            return False
    return False


def _refuse_constant(name: str):
    # NaN, Infinity and -Infinity are not JSON; Python accepts them unless told otherwise.
    raise ValueError(f"{name} is not JSON")


def _money(value, path: str, errors: list, *, default: str | None = None) -> Decimal | None:
    if value is None and default is not None:
        return Decimal(default)
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        errors.append(_error(path, "invalid", _('Enter an amount such as "12.50".')))
        return None
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or not amount.is_finite():
        errors.append(_error(path, "invalid", _('Enter an amount such as "12.50".')))
        return None
    # The range is checked before quantize(), which raises on numbers like 1e400.
    if not 0 <= amount <= MAX_SALE_AMOUNT:
        errors.append(
            _error(
                path,
                "out_of_range",
                _("Enter an amount from 0 to %(max)s.") % {"max": MAX_SALE_AMOUNT},
            )
        )
        return None
    if amount != amount.quantize(Decimal("0.01")):
        errors.append(_error(path, "too_precise", _("Enter an amount with at most 2 decimals.")))
        return None
    return amount


def _text(payload: dict, key: str, errors: list, *, path: str, required: bool, max_length: int):
    value = payload.get(key)
    if value is None or value == "":
        if required:
            errors.append(_error(path, "required", _("This field is required.")))
        return ""
    if not isinstance(value, str) or len(value) > max_length:
        errors.append(
            _error(
                path,
                "invalid",
                _("Enter text of at most %(n)s characters.") % {"n": max_length},
            )
        )
        return ""
    if not _storable(value):
        errors.append(_error(path, "invalid", _("The text contains characters not allowed.")))
        return ""
    return value.strip()


def _storable(value: str) -> bool:
    """PostgreSQL stores neither NUL nor lone surrogates ("\\ud800" is valid JSON); sent on,
    they would fail the query with a 500."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _occurred_at(payload: dict, errors: list) -> datetime.datetime | None:
    raw = payload.get("occurred_at")
    if not isinstance(raw, str) or not raw:
        errors.append(_error("occurred_at", "required", _("This field is required.")))
        return None
    try:
        occurred_at = parse_datetime(raw)
    except ValueError:
        occurred_at = None
    if occurred_at is None:
        errors.append(
            _error("occurred_at", "invalid", _("Use ISO 8601, e.g. 2026-01-31T14:05:00+08:00."))
        )
        return None
    if occurred_at.tzinfo is None:
        errors.append(
            _error("occurred_at", "no_time_zone", _("Include the time zone offset, e.g. +08:00."))
        )
        return None
    # The same window as sale_record, reported on the field: from 2000 to a few minutes
    # ahead (a POS clock may run a little fast).
    if not EARLIEST_SALE <= occurred_at <= timezone.now() + FUTURE_TOLERANCE:
        errors.append(
            _error(
                "occurred_at",
                "out_of_range",
                _("The time of sale must be after 2000 and not in the future."),
            )
        )
        return None
    return occurred_at


def _line(raw, path: str, errors: list, *, refund: bool) -> LineInput | None:
    if not isinstance(raw, dict):
        errors.append(_error(path, "invalid", _("Each line must be a JSON object.")))
        return None
    count = len(errors)
    sku = _text(raw, "sku", errors, path=f"{path}.sku", required=True, max_length=40)
    name = _text(raw, "name", errors, path=f"{path}.name", required=False, max_length=100)
    category = _text(
        raw, "category", errors, path=f"{path}.category", required=False, max_length=50
    )
    quantity = raw.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        errors.append(_error(f"{path}.quantity", "invalid", _("Enter a whole number.")))
        quantity = None
    elif not 1 <= quantity <= MAX_QUANTITY:
        errors.append(
            _error(
                f"{path}.quantity",
                "out_of_range",
                _("Enter a whole number from 1 to %(max)s.") % {"max": MAX_QUANTITY},
            )
        )
        quantity = None
    price = None
    discount = Decimal("0")
    if not refund:
        price = _money(raw.get("unit_price"), f"{path}.unit_price", errors)
        discount = _money(raw.get("discount"), f"{path}.discount", errors, default="0")
    if len(errors) > count:
        return None
    if not refund:
        gross = price * quantity
        if gross > MAX_SALE_AMOUNT:
            errors.append(
                _error(
                    path,
                    "out_of_range",
                    _("A line amounts to at most %(max)s (quantity × unit price).")
                    % {"max": MAX_SALE_AMOUNT},
                )
            )
            return None
        if discount > gross:
            errors.append(
                _error(
                    f"{path}.discount",
                    "out_of_range",
                    _("The discount cannot be more than the line amount."),
                )
            )
            return None
    return LineInput(
        sku=sku,
        quantity=quantity,
        unit_price=price,
        discount=discount,
        name=name,
        category=category,
    )


def parse_payload(payload, store) -> dict:
    """Check every field; collect all problems with their paths before writing anything."""
    errors: list[dict] = []
    if not isinstance(payload, dict):
        raise PayloadError([_error("", "not_an_object", _("The body must be a JSON object."))])
    sale_id = _text(payload, "sale_id", errors, path="sale_id", required=True, max_length=64)
    store_code = _text(payload, "store", errors, path="store", required=True, max_length=20)
    occurred_at = _occurred_at(payload, errors)
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
            _error("coupon_code", "not_allowed", _("A coupon cannot be used on a refund."))
        )
    elif coupon_code and not member_card:
        errors.append(
            _error(
                "coupon_code",
                "not_allowed",
                _("Coupons are for members: send the member_card too."),
            )
        )
    lines_raw = payload.get("lines")
    lines: list[LineInput] = []
    if not isinstance(lines_raw, list) or not lines_raw:
        errors.append(_error("lines", "required", _("Send at least one line.")))
    elif len(lines_raw) > MAX_LINES:
        errors.append(
            _error("lines", "too_many", _("A sale has at most %(n)s lines.") % {"n": MAX_LINES})
        )
    else:
        for index, raw in enumerate(lines_raw):
            line = _line(raw, f"lines[{index}]", errors, refund=bool(refund_of_id))
            if line is not None:
                lines.append(line)
        if len(lines) == len(lines_raw) and not refund_of_id:
            subtotal = sum((line.unit_price * line.quantity for line in lines), Decimal("0"))
            if subtotal > MAX_SALE_AMOUNT:
                errors.append(
                    _error(
                        "lines",
                        "out_of_range",
                        _("A sale amounts to at most %(max)s.") % {"max": MAX_SALE_AMOUNT},
                    )
                )
    for key in sorted(set(payload) - FIELDS):
        errors.append(_error(key, "unknown_field", _("Unknown field.")))
    if store_code and store_code != store.code:
        raise PayloadError(
            [_error("store", "wrong_store", _("This token belongs to another store."))]
        )
    member = None
    if member_card and not errors:
        member = Customer.objects.active().filter(card_number=member_card).first()
        if member is None:
            errors.append(_error("member_card", "not_found", _("No member has this card number.")))
    if lines and not refund_of_id and not errors and pos_requires_catalog():
        # The tenant's setting catalog_pos_requires_sku: every SKU must be an active product.
        unknown = set(unknown_skus([line.sku for line in lines]))
        for index, line in enumerate(lines):
            if line.sku.strip() in unknown:
                errors.append(
                    _error(
                        f"lines[{index}].sku",
                        "unknown_sku",
                        _("No active product in the catalogue has this SKU."),
                    )
                )
    refund_of = None
    if refund_of_id and not errors:
        refund_of = Sale.objects.filter(store=store, external_id=refund_of_id).first()
        if refund_of is None:
            errors.append(
                _error("refund_of", "not_found", _("No sale with this id at this store."))
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
                _error(
                    "sale_id",
                    "sale_id_conflict",
                    _("This sale id was already used for a different sale."),
                )
            ],
        )
    response = JsonResponse(sale_body(sale), status=201, json_dumps_params={"ensure_ascii": False})
    response["Idempotent-Replayed"] = "true"
    return response


def _body_errors(request: HttpRequest) -> JsonResponse | None:
    """Refuse a body by its size and type before reading it: Django would answer a body
    over DATA_UPLOAD_MAX_MEMORY_SIZE with an HTML 400 the moment request.body is read."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        return _errors(
            413,
            [
                _error(
                    "",
                    "body_too_large",
                    _("The request body is larger than %(kb)s KB.") % {"kb": MAX_BODY // 1024},
                )
            ],
        )
    if request.content_type != "application/json":
        return _errors(
            415,
            [
                _error(
                    "Content-Type",
                    "unsupported_media_type",
                    _("Send the body as application/json."),
                )
            ],
        )
    return None


def _parse_json(body: bytes) -> tuple[object, JsonResponse | None]:
    invalid = _errors(400, [_error("", "invalid_json", _("The body is not valid JSON."))])
    try:
        # Decoded first so the depth scan reads exactly the text json.loads parses.
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None, invalid
    if too_deep(text):
        return None, _errors(
            400,
            [
                _error(
                    "",
                    "too_deep",
                    _("The JSON nests deeper than %(n)s levels.") % {"n": MAX_DEPTH},
                )
            ],
        )
    try:
        payload = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        # ValueError covers integers longer than Python's 4300-digit conversion limit too;
        # RecursionError cannot happen after the depth scan, it is only the last guard.
        return None, invalid
    return payload, None


@public
@csrf_exempt
def sales_create(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        response = _errors(
            405,
            [_error("", "method_not_allowed", _("Only POST is allowed here."))],
        )
        response["Allow"] = "POST"
        return response
    header = request.headers.get("Authorization", "")
    scheme, _sep, raw_token = header.partition(" ")
    unauthorized = [_error("Authorization", "unauthorized", _("Send a valid store API token."))]
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
        refused = _body_errors(request)
        if refused is not None:
            return refused
        # Django reads at most Content-Length bytes, checked above.
        payload, refused = _parse_json(request.body)
        if refused is not None:
            return refused
        try:
            data = parse_payload(payload, store)
        except PayloadError as exc:
            status = 403 if exc.errors and exc.errors[0]["code"] == "wrong_store" else 400
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
            return _errors(400, [_error("coupon_code", "coupon_refused", m) for m in exc.messages])
        except ValidationError as exc:
            return _errors(400, [_error("", "rejected", m) for m in exc.messages])
        except DataError:
            # Backstop behind the bounds above: a value the database cannot hold (e.g. points
            # beyond the ledger's integer under an extreme points rule). sale_record is atomic,
            # so its savepoint is rolled back and nothing was written.
            return _errors(
                400, [_error("", "out_of_range", _("A value is out of the storable range."))]
            )
        except IntegrityError:
            # A concurrent retry inserted the same POS sale id first; answer with its result.
            sale = Sale.objects.filter(store=store, external_id=data["sale_id"]).first()
            if sale is None:
                raise
            created = False
        if not created:
            return _replay(sale, request_hash)
        return JsonResponse(sale_body(sale), status=201, json_dumps_params={"ensure_ascii": False})
