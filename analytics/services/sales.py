"""Recording sales and refunds: the only way sales are written (counter, POS API, file import),
with coupons, points and referrals in the same transaction.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.models import (
    ZERO,
    DirtyDay,
    Product,
    Sale,
    SaleChannel,
    SaleLine,
)
from campaigns.services import coupon_redeem
from catalog.services import price_changes_audit, sale_lines_check
from customers.models import Customer
from interactions.services import (
    referral_first_sale,
    referral_first_sale_refunded,
)
from loyalty.services import (
    points_earn_for_sale,
    points_excluded_categories,
    points_redeem,
    points_reverse_for_refund,
    points_value,
)
from stores.models import Store, StoreStatus
from tenancy.context import current_tenant
from tenancy.dates import local_day
from tenancy.models import StaffMember, Tenant
from tenancy.services import audit_record

CENT = Decimal("0.01")
# A POS clock may run a little ahead of ours; anything later than this is a typo.
FUTURE_TOLERANCE = datetime.timedelta(minutes=10)
# No store of a tenant sold anything before this; an earlier time is a broken POS clock.
EARLIEST_SALE = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
MAX_LINES = 200
MAX_QUANTITY = 100000
# The most one unit, one line or one sale may cost. Far above any retail ticket, and low
# enough that nothing derived from a sale overflows: the points ledger is a 32-bit integer
# (10 million yuan at 100 points per yuan still fits) and daily aggregates are MONEY
# (14 digits) sums of many sales.
MAX_SALE_AMOUNT = Decimal("9999999.99")
# Imports with more rows than this run as a background job.
IMPORT_SYNC_LIMIT = 300


@dataclass(frozen=True)
class LineInput:
    """One line as entered or sent. For a refund only sku and quantity count."""

    sku: str
    quantity: int
    unit_price: Decimal | None = None
    discount: Decimal = ZERO
    name: str = ""
    category: str = ""


@dataclass
class _Totals:
    subtotal: Decimal = ZERO
    discount: Decimal = ZERO
    items: int = 0
    lines: list[dict] = field(default_factory=list)


def day_bounds(day: datetime.date, tenant: Tenant | None = None):
    """The UTC instants [start, end) of a local calendar day (23 or 25 hours with DST)."""
    zone = (tenant or current_tenant()).zone
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)
    next_day = day + datetime.timedelta(days=1)
    end = datetime.datetime.combine(next_day, datetime.time.min, tzinfo=zone)
    return start.astimezone(datetime.UTC), end.astimezone(datetime.UTC)


# --- Sales -----------------------------------------------------------------------------------


def _product_for(line: LineInput, line_no: int) -> Product:
    sku = line.sku.strip()
    if not sku:
        raise ValidationError(_("Line %(line)s: enter a SKU.") % {"line": line_no})
    product = Product.objects.filter(sku=sku).first()
    if product is None:
        if not line.name.strip():
            raise ValidationError(
                _("Line %(line)s: SKU %(sku)s is new, enter its name.")
                % {"line": line_no, "sku": sku}
            )
        # get_or_create: two tills selling a new SKU at once both end up with the same row.
        product, _created = Product.objects.get_or_create(
            sku=sku, defaults={"name": line.name.strip()[:100], "category": line.category[:50]}
        )
    return product


def _price_lines(lines: list[LineInput]) -> _Totals:
    totals = _Totals()
    for index, line in enumerate(lines, start=1):
        if line.quantity is None or not 1 <= line.quantity <= MAX_QUANTITY:
            raise ValidationError(
                _("Line %(line)s: quantity must be from 1 to %(max)s.")
                % {"line": index, "max": MAX_QUANTITY}
            )
        if line.unit_price is None or line.unit_price < 0:
            raise ValidationError(
                _("Line %(line)s: enter a unit price of 0 or more.") % {"line": index}
            )
        # Bounded before multiplying: a huge price would overflow the decimal context in
        # quantize() and the MONEY columns after it.
        if line.unit_price > MAX_SALE_AMOUNT or line.unit_price * line.quantity > MAX_SALE_AMOUNT:
            raise ValidationError(
                _("Line %(line)s: the line amount is at most ¥%(max)s.")
                % {"line": index, "max": MAX_SALE_AMOUNT}
            )
        gross = (line.unit_price * line.quantity).quantize(CENT, ROUND_HALF_UP)
        discount = (line.discount or ZERO).quantize(CENT, ROUND_HALF_UP)
        if discount < 0 or discount > gross:
            raise ValidationError(
                _("Line %(line)s: the discount must be between 0 and the line amount.")
                % {"line": index}
            )
        totals.subtotal += gross
        totals.discount += discount
        totals.items += line.quantity
        totals.lines.append(
            {
                "line_no": index,
                "product": _product_for(line, index),
                "quantity": line.quantity,
                "unit_price": line.unit_price.quantize(CENT, ROUND_HALF_UP),
                "discount": discount,
                "line_total": gross - discount,
            }
        )
    if totals.subtotal > MAX_SALE_AMOUNT:
        raise ValidationError(_("A sale amounts to at most ¥%(max)s.") % {"max": MAX_SALE_AMOUNT})
    return totals


def _price_refund(original: Sale, lines: list[LineInput]) -> _Totals:
    """Refund lines priced from the original sale; never more than is left to refund."""
    original_lines = list(
        SaleLine.objects.filter(sale=original).select_related("product").order_by("line_no")
    )
    refunded = defaultdict(lambda: [0, ZERO])
    for row in SaleLine.objects.filter(refunded_line__sale=original).values(
        "refunded_line_id", "quantity", "line_total"
    ):
        # Stored negative on the refund; kept positive here.
        refunded[row["refunded_line_id"]][0] -= row["quantity"]
        refunded[row["refunded_line_id"]][1] -= row["line_total"]
    totals = _Totals()
    line_no = 0
    for index, line in enumerate(lines, start=1):
        if line.quantity is None or line.quantity <= 0:
            raise ValidationError(
                _("Line %(line)s: quantity must be at least 1.") % {"line": index}
            )
        wanted = line.quantity
        candidates = [o for o in original_lines if o.product.sku == line.sku.strip()]
        if not candidates:
            raise ValidationError(
                _("Line %(line)s: SKU %(sku)s is not on the original sale.")
                % {"line": index, "sku": line.sku}
            )
        for original_line in candidates:
            done_qty, done_amount = refunded[original_line.pk]
            left = original_line.quantity - done_qty
            take = min(left, wanted)
            if take <= 0:
                continue
            if take == left:
                # The last units give back exactly what is left, so rounding never leaves
                # a cent behind or refunds one too many.
                amount = original_line.line_total - done_amount
            else:
                amount = (original_line.line_total * take / original_line.quantity).quantize(
                    CENT, ROUND_HALF_UP
                )
            refunded[original_line.pk] = [done_qty + take, done_amount + amount]
            wanted -= take
            line_no += 1
            totals.subtotal -= amount
            totals.items -= take
            totals.lines.append(
                {
                    "line_no": line_no,
                    "product": original_line.product,
                    "quantity": -take,
                    "unit_price": original_line.unit_price,
                    "discount": ZERO,
                    "line_total": -amount,
                    "refunded_line": original_line,
                }
            )
            if wanted == 0:
                break
        if wanted > 0:
            raise ValidationError(
                _(
                    "Line %(line)s: cannot refund more of %(sku)s than was sold "
                    "and not yet refunded."
                )
                % {"line": index, "sku": line.sku}
            )
    return totals


def _refund_shares(original: Sale, *, refunded: Decimal) -> tuple[Decimal, Decimal]:
    """The parts of a refund the member had paid with a coupon and with points: (coupon,
    points), both positive. Neither is paid back in cash; the coupon is not given back either.

    Proportional to the lines refunded, so the money returned is proportional to what was
    paid; the refund that completes the sale takes exactly what is left, so all refunds
    together return what was paid in money, to the fen.
    """
    base = original.subtotal - original.discount_total
    before = Sale.objects.filter(refund_of=original).aggregate(
        lines=Sum("subtotal"), coupon=Sum("coupon_discount"), points=Sum("points_discount")
    )
    refunded_before = -(before["lines"] or ZERO)
    coupon_before = -(before["coupon"] or ZERO)
    points_before = -(before["points"] or ZERO)
    if refunded_before + refunded >= base:
        return (
            original.coupon_discount - coupon_before,
            original.points_discount - points_before,
        )
    return (
        (original.coupon_discount * refunded / base).quantize(CENT, ROUND_HALF_UP),
        (original.points_discount * refunded / base).quantize(CENT, ROUND_HALF_UP),
    )


def _mark_dirty_if_late(*, store: Store, occurred_at: datetime.datetime) -> None:
    tenant = current_tenant()
    day = local_day(occurred_at, tenant)
    if day < local_day(timezone.now(), tenant):
        dirty_day_mark(store=store, day=day)


def dirty_day_mark(*, store: Store, day: datetime.date) -> None:
    """Ask the next aggregation run to recompute (store, day). One upsert, race-free."""
    table = DirtyDay._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (tenant_id, store_id, day, marked_at, cleaned_at) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, NULL) ON CONFLICT (tenant_id, store_id, day) "
            "DO UPDATE SET marked_at = excluded.marked_at, cleaned_at = NULL",
            [store.tenant_id, store.pk, day, timezone.now()],
        )


def _loyalty_for_sale(
    *, sale: Sale, original: Sale | None, points_to_redeem: int, staff: StaffMember | None
) -> None:
    """Points for the sale, inside its transaction: a loyalty error undoes the whole sale.

    Redeem first ("sale-redeem:<id>"), then earn on what the member paid ("sale:<id>"), with
    the lines of categories that earn nothing excluded; a refund takes back the points its
    share of the original earned ("refund:<id>"). Loyalty is idempotent by these keys.
    """
    member = sale.member
    if member is None:
        return
    if points_to_redeem:
        points_redeem(
            customer=member,
            points=points_to_redeem,
            source_key=f"sale-redeem:{sale.pk}",
            store=sale.store,
            staff=staff,
            reason=_("Paid part of sale #%(id)s") % {"id": sale.pk},
        )
    if original is not None:
        entry = points_reverse_for_refund(
            customer=member,
            source_key=f"refund:{sale.pk}",
            original_source_key=f"sale:{original.pk}",
            refunded_amount=-sale.total,
            store=sale.store,
            occurred_at=sale.occurred_at,
        )
    else:
        excluded = points_excluded_categories()
        excluded_amount = ZERO
        if excluded:
            excluded_amount = sum(
                (
                    line.line_total
                    for line in sale.lines.select_related("product")
                    if line.product.category in excluded
                ),
                ZERO,
            )
        entry = points_earn_for_sale(
            customer=member,
            source_key=f"sale:{sale.pk}",
            amount=sale.total,
            store=sale.store,
            occurred_at=sale.occurred_at,
            excluded_amount=min(excluded_amount, sale.total),
        )
    if entry is not None and entry.points:
        sale.points_earned = entry.points
        sale.save(update_fields=["points_earned"])


def _referral_for_sale(*, sale: Sale, original: Sale | None) -> None:
    """A referred member's first paid purchase rewards their referrer (interactions decides
    "first", once, under concurrency); a full refund of that purchase takes it back."""
    if sale.member_id is None:
        return
    if original is None:
        if sale.total > 0:
            referral_first_sale(member=sale.member, sale_reference=str(sale.pk))
        return
    refunded = Sale.objects.filter(refund_of=original).aggregate(total=Sum("total"))["total"]
    if original.total + (refunded or ZERO) <= 0:
        referral_first_sale_refunded(member=sale.member, sale_reference=str(original.pk))


def counter_sale_key(token: str) -> str:
    """The unique key of a counter sale: its form's one-time token (see CounterSaleForm)."""
    return f"counter-{token}"


def sale_record_once(*, store: Store, external_id: str, **fields: Any) -> tuple[Sale, bool]:
    """sale_record for a caller that may send the same sale twice at the same moment.

    The second of two concurrent calls waits on the unique (store, external_id) index until
    the first commits, then fails with IntegrityError; it is answered with the first sale.
    """
    try:
        return sale_record(store=store, external_id=external_id, **fields)
    except IntegrityError:
        existing = Sale.objects.filter(store=store, external_id=external_id.strip()).first()
        if existing is None:
            raise
        return existing, False


@transaction.atomic
def counter_sale_record(
    *, store: Store, lines: list[LineInput], staff: StaffMember, external_id: str, **fields: Any
) -> tuple[Sale, bool]:
    """A sale from the counter form: every line checked against the catalogue first (its
    name and price at this store; a price change needs a role and is audited with the sale),
    then recorded once per form token like sale_record_once."""
    checked, changes = sale_lines_check(lines=lines, store=store, staff=staff)
    sale, created = sale_record_once(
        store=store,
        external_id=external_id,
        lines=checked,
        staff=staff,
        channel=SaleChannel.COUNTER,
        **fields,
    )
    if created:
        price_changes_audit(sale=sale, changes=changes, staff=staff)
    return sale, created


@transaction.atomic
def sale_record(
    *,
    store: Store,
    occurred_at: datetime.datetime,
    lines: list[LineInput],
    channel: str,
    staff: StaffMember | None = None,
    member: Customer | None = None,
    external_id: str = "",
    refund_of: Sale | None = None,
    points_to_redeem: int = 0,
    coupon_code: str = "",
    request_hash: str = "",
    audit: bool = True,
) -> tuple[Sale, bool]:
    """Record one sale or refund; the only way sales are written. Returns (sale, created).

    Totals are computed here from the lines, never taken from the caller:
    total = subtotal - line discounts - coupon discount - points discount, never negative.
    The coupon applies to the amount after line discounts and before points (the usual
    retail order: the coupon's minimum spend and percentage see the goods, not how the rest
    is paid). A refused coupon raises CouponError (a ValidationError) and, like every error
    here, leaves nothing behind. With an `external_id` the call is idempotent per store: a
    repeat returns the first sale and redeems nothing again.
    """
    if channel not in SaleChannel.values:
        raise ValueError(f"unknown channel {channel!r}")
    external_id = (external_id or "").strip()
    if external_id:
        existing = Sale.objects.filter(store=store, external_id=external_id).first()
        if existing is not None:
            return existing, False
    if timezone.is_naive(occurred_at):
        raise ValueError("occurred_at must be aware")
    if occurred_at > timezone.now() + FUTURE_TOLERANCE:
        raise ValidationError(_("The time of sale is in the future."))
    if occurred_at < EARLIEST_SALE:
        raise ValidationError(_("The time of sale is before the year 2000."))
    if store.status == StoreStatus.CLOSED:
        raise ValidationError(_("This store is closed and cannot record sales."))
    if staff is not None and not staff.can_access_store(store.pk):
        raise ValidationError(_("This staff member does not work for this store."))
    if not lines:
        raise ValidationError(_("Add at least one line."))
    if len(lines) > MAX_LINES:
        raise ValidationError(_("A sale has at most %(n)s lines.") % {"n": MAX_LINES})
    if member is not None and member.is_erased:
        raise ValidationError(_("This member was erased and cannot buy as a member."))
    if points_to_redeem < 0:
        raise ValidationError(_("Points to redeem cannot be negative."))
    if points_to_redeem and refund_of is not None:
        raise ValidationError(_("Points cannot be redeemed on this sale."))
    if points_to_redeem and member is None:
        raise ValidationError(_("Only a member can redeem points."))
    coupon_code = (coupon_code or "").strip()
    if coupon_code and refund_of is not None:
        raise ValidationError(_("A coupon cannot be used on a refund."))

    if refund_of is not None:
        # Lock the original: two refunds of the same sale at once could each see enough
        # left to refund and together give back more than was sold.
        original = Sale.objects.select_for_update().get(pk=refund_of.pk)
        if original.refund_of_id is not None:
            raise ValidationError(_("A refund cannot itself be refunded."))
        if occurred_at < original.occurred_at:
            raise ValidationError(_("A refund cannot happen before the sale it refunds."))
        member = original.member
        totals = _price_refund(original, lines)
    else:
        original = None
        totals = _price_lines(lines)

    coupon_discount = points_discount = ZERO
    if original is not None and (original.coupon_discount or original.points_discount):
        coupon_share, points_share = _refund_shares(original, refunded=-totals.subtotal)
        coupon_discount, points_discount = -coupon_share, -points_share
    payable = totals.subtotal - totals.discount
    if points_to_redeem:
        points_discount = points_value(points=points_to_redeem)
        if points_discount > payable:
            raise ValidationError(_("The points are worth more than the sale."))
    # The sale row is written before the coupon is used: a concurrent retry of the same POS
    # sale id then stops at the unique external_id (and is answered with this sale) instead
    # of reaching the coupon and being refused as "already used".
    sale = Sale.objects.create(
        store=store,
        member=member,
        staff=staff,
        occurred_at=occurred_at,
        channel=channel,
        external_id=external_id,
        request_hash=request_hash,
        refund_of=original,
        subtotal=totals.subtotal,
        discount_total=totals.discount,
        coupon_discount=coupon_discount,
        points_redeemed=points_to_redeem,
        points_discount=points_discount,
        total=payable - coupon_discount - points_discount,
        item_count=totals.items,
    )
    if coupon_code:
        # Locks the coupon, then its offer, until this transaction ends; a refusal raises
        # CouponError and rolls the sale back with it.
        sale.coupon, sale.coupon_discount = coupon_redeem(
            code=coupon_code, member=member, store=store, amount=payable, sale_id=sale.pk
        )
        if points_discount > payable - sale.coupon_discount:
            raise ValidationError(_("The points are worth more than the sale after the coupon."))
        sale.total = payable - sale.coupon_discount - points_discount
        sale.save(update_fields=["coupon", "coupon_discount", "total"])
    SaleLine.objects.bulk_create([SaleLine(sale=sale, **line) for line in totals.lines])
    _loyalty_for_sale(sale=sale, original=original, points_to_redeem=points_to_redeem, staff=staff)
    _referral_for_sale(sale=sale, original=original)
    _mark_dirty_if_late(store=store, occurred_at=occurred_at)
    if audit:
        audit_record(
            action="sale.refund" if original else "sale.record",
            actor=staff,
            obj=sale,
            after={
                "store": store.code,
                "channel": channel,
                "total": str(sale.total),
                "coupon": sale.coupon.code if sale.coupon else "",
                "coupon_discount": str(sale.coupon_discount),
                "external_id": external_id,
                "refund_of": original.pk if original else None,
            },
        )
    return sale, True
