"""Every write of the analytics app: recording sales (counter, POS API, file import),
refunds, store API tokens, and marking late days for the nightly aggregation.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.models import (
    ZERO,
    DirtyDay,
    Product,
    Sale,
    SaleChannel,
    SaleImport,
    SaleImportStatus,
    SaleLine,
    StoreApiToken,
)
from campaigns.services import coupon_redeem
from customers.models import Customer
from interactions.models import Survey
from interactions.services import (
    referral_first_sale,
    referral_first_sale_refunded,
    survey_request,
)
from loyalty.services import (
    points_earn_for_sale,
    points_excluded_categories,
    points_redeem,
    points_reverse_for_refund,
    points_value,
)
from stores.models import Store, StoreStatus
from tenancy import tabular
from tenancy.context import current_tenant
from tenancy.dates import local_day
from tenancy.models import StaffMember, Tenant
from tenancy.services import audit_record
from tenancy.tabular import escape_row
from tenancy.tasks import enqueue

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


# --- Store API tokens ------------------------------------------------------------------------


def _hash_secret(secret: str) -> str:
    # The secret is 32 random bytes, so a fast hash is enough: there is nothing to brute-force
    # the way there is with a password.
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, store: Store, name: str, actor: StaffMember) -> tuple[StoreApiToken, str]:
    """Create a POS token for `store`; the plain token is returned once and never stored."""
    if store.status == StoreStatus.CLOSED:
        raise ValidationError(_("This store is closed and cannot record sales."))
    key = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = StoreApiToken.objects.create(
        store=store,
        name=name.strip() or store.code,
        key=key,
        secret_hash=_hash_secret(secret),
        created_by=actor,
    )
    audit_record(action="api_token.create", actor=actor, obj=token, after={"store": store.code})
    return token, f"{store.tenant_id}.{key}.{secret}"


@transaction.atomic
def api_token_revoke(*, token: StoreApiToken, actor: StaffMember) -> StoreApiToken:
    updated = StoreApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor
    )
    if updated:
        audit_record(action="api_token.revoke", actor=actor, obj=token)
    token.refresh_from_db()
    return token


def api_token_tenant(raw: str) -> Tenant | None:
    """The tenant named by a token's prefix; checked for real by api_token_check."""
    tenant_id, _sep, _rest = (raw or "").partition(".")
    if not tenant_id.isdigit():
        return None
    return Tenant.objects.filter(pk=int(tenant_id), is_active=True).first()


def api_token_check(raw: str) -> StoreApiToken | None:
    """The live token matching `raw`, inside the tenant context the caller selected."""
    parts = (raw or "").split(".")
    if len(parts) != 3:
        return None
    tenant_id, key, secret = parts
    tenant = current_tenant()
    if str(tenant.pk) != tenant_id:
        return None
    token = (
        StoreApiToken.objects.select_related("store", "store__tenant")
        .filter(key=key, revoked_at__isnull=True)
        .first()
    )
    # Compare even when no token was found, so timing tells nothing about which keys exist.
    expected = token.secret_hash if token else _hash_secret("no-such-token")
    if not hmac.compare_digest(expected, _hash_secret(secret)) or token is None:
        return None
    StoreApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


# --- File import -----------------------------------------------------------------------------


@transaction.atomic
def sale_import_create(
    *,
    store: Store,
    actor: StaffMember,
    file_name: str,
    rows: list[dict],
    preview: dict | None = None,
) -> SaleImport:
    """Keep the parsed rows and write them now (small files) or in a job (large ones).

    With `preview` (the upload page) the rows are only checked: a clean file waits as
    "checked" for its uploader's confirm (sale_import_confirm), a file with any bad row is
    refused at once with every reason; nothing is written either way.
    """
    from analytics.importing import check_rows

    sale_import = SaleImport.objects.create(
        store=store,
        uploaded_by=actor,
        file_name=file_name[:200],
        rows=rows,
        preview=preview or {},
        status=SaleImportStatus.CHECKED if preview is not None else SaleImportStatus.PENDING,
    )
    audit_record(
        action="sale_import.upload", actor=actor, obj=sale_import, after={"rows": len(rows)}
    )
    if preview is not None:
        errors = check_rows(rows)
        if errors:
            sale_import.status = SaleImportStatus.FAILED
            sale_import.errors = sorted(errors, key=lambda e: e["row"] or 0)
            sale_import.rows = []
            sale_import.finished_at = timezone.now()
            sale_import.save(update_fields=["status", "errors", "rows", "finished_at"])
        return sale_import
    _queue_if_large(sale_import)
    return sale_import


def sale_import_confirm(*, sale_import: SaleImport, actor: StaffMember) -> SaleImport:
    """The uploader confirms a checked file: it is checked again and written, all or none.

    A conditional update decides: a double click or a second tab confirms once.
    """
    with transaction.atomic():
        claimed = SaleImport.objects.filter(
            pk=sale_import.pk, status=SaleImportStatus.CHECKED
        ).update(status=SaleImportStatus.PENDING)
        if claimed:
            audit_record(action="sale_import.confirm", actor=actor, obj=sale_import)
            _queue_if_large(sale_import)
    if claimed and len(sale_import.rows) <= IMPORT_SYNC_LIMIT:
        return sale_import_run(sale_import_id=sale_import.pk)
    return SaleImport.objects.defer("rows").get(pk=sale_import.pk)


def _queue_if_large(sale_import: SaleImport) -> None:
    from analytics import tasks

    rows = sale_import.rows
    if len(rows) > IMPORT_SYNC_LIMIT:
        tenant_id = sale_import.tenant_id
        # The row is the durable record: a refused message is queued again by the sweeper.
        transaction.on_commit(lambda: enqueue(tasks.run_sale_import, tenant_id, sale_import.pk))


CHECKED_KEPT_FOR = datetime.timedelta(days=1)


def sale_imports_sweep(*, pending_after_seconds: int = 60) -> int:
    """Queue again every sales import still waiting; returns how many.

    A waiting import is one whose message the broker refused or lost, or whose worker died:
    its single transaction rolled back, so it is still pending and starts from the first row.
    """
    from analytics import tasks

    since = timezone.now() - datetime.timedelta(seconds=pending_after_seconds)
    ids = list(
        SaleImport.objects.filter(
            status=SaleImportStatus.PENDING, created_at__lt=since
        ).values_list("pk", flat=True)
    )
    tenant_id = current_tenant().pk
    for sale_import_id in ids:
        enqueue(tasks.run_sale_import, tenant_id, sale_import_id)
    # Checked files nobody confirmed within a day are let go: their rows are not kept.
    SaleImport.objects.filter(
        status=SaleImportStatus.CHECKED,
        created_at__lt=timezone.now() - CHECKED_KEPT_FOR,
    ).update(
        status=SaleImportStatus.FAILED,
        rows=[],
        errors=[tabular.cell_error(None, "", "", _("Not confirmed within a day; upload again."))],
        finished_at=timezone.now(),
    )
    return len(ids)


def sale_import_run(*, sale_import_id: int) -> SaleImport:
    """Write every sale of an import, or none of them (with each bad line's reason)."""
    from analytics.importing import ImportFailed, write_rows

    try:
        with transaction.atomic():
            # Locked for the whole write: a sweep and a redelivery running at once take turns,
            # and the second finds the import done (a repeated job is harmless).
            sale_import = SaleImport.objects.select_for_update().get(pk=sale_import_id)
            if sale_import.status != SaleImportStatus.PENDING:
                return sale_import
            created, skipped = write_rows(sale_import)
            sale_import.status = SaleImportStatus.DONE
            sale_import.sales_created = created
            sale_import.sales_skipped = skipped
            sale_import.rows = []  # the sales now hold the data
            sale_import.finished_at = timezone.now()
            sale_import.save()
            audit_record(
                action="sale_import.done",
                actor=sale_import.uploaded_by,
                obj=sale_import,
                after={"created": created, "skipped": skipped},
            )
    except ImportFailed as failed:
        sale_import.refresh_from_db()
        sale_import.status = SaleImportStatus.FAILED
        sale_import.errors = failed.errors
        sale_import.finished_at = timezone.now()
        sale_import.save(update_fields=["status", "errors", "finished_at"])
        return sale_import
    # Late days of this file are recomputed now rather than tonight.
    from analytics.aggregation import aggregates_refresh_dirty

    aggregates_refresh_dirty()
    return sale_import


# --- Report export ---------------------------------------------------------------------------


@transaction.atomic
def report_export(
    *, actor: StaffMember, report: str, period, store: Store | None, file_format: str
) -> tuple[bytes, str, str]:
    """A report as CSV or XLSX bytes; every export is audited."""
    import csv
    import io

    from analytics import selectors

    ids = [store.pk] if store else None
    if report == "stores":
        header = [
            _("Rank"),
            _("Store code"),
            _("Store"),
            _("Region"),
            _("Store type"),
            _("Revenue"),
            _("Transactions"),
            _("Average ticket"),
            _("Member share"),
            _("New members"),
            _("Previous period revenue"),
        ]
        rows = [
            [
                r["rank"],
                r["code"],
                r["name"],
                r["region"],
                r["store_type"],
                r["revenue"],
                r["transactions"],
                r["average_ticket"],
                r["member_share"],
                r["new_members"],
                r["prev_revenue"],
            ]
            for r in selectors.store_ranking(period, "store")
            if ids is None or r["store_id"] in ids
        ]
    elif report == "products":
        header = [_("SKU"), _("Product"), _("Category"), _("Quantity"), _("Revenue")]
        rows = [
            [
                r["product__sku"],
                r["product__name"],
                r["product__category"],
                r["quantity"],
                r["revenue"],
            ]
            for r in selectors.product_ranking(ids, period, limit=None)
        ]
    elif report == "staff":
        header = [_("Staff member"), _("Revenue"), _("Transactions"), _("Average ticket")]
        rows = [
            [r["staff__display_name"], r["revenue"], r["transactions"], r["average_ticket"]]
            for r in selectors.staff_leaderboard(ids, period, limit=None)
        ]
    else:
        raise ValidationError(_("Unknown report."))
    header = [str(h) for h in header]
    rows = [escape_row(row) for row in rows]
    stem = f"{report}-{period.start:%Y%m%d}-{period.end:%Y%m%d}"
    if file_format == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(report)
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        content = buffer.getvalue()
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    elif file_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(["" if c is None else c for c in row] for row in rows)
        # A BOM so that Excel opens the Chinese text as UTF-8.
        content = ("\ufeff" + buffer.getvalue()).encode("utf-8")
        content_type = "text/csv; charset=utf-8"
    else:
        raise ValidationError(_("Unknown file format."))
    audit_record(
        action="analytics.export",
        actor=actor,
        obj=store,
        after={
            "report": report,
            "format": file_format,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "rows": len(rows),
        },
    )
    return content, content_type, f"{stem}.{file_format}"


# --- Members -------------------------------------------------------------------------------


@transaction.atomic
def sales_move_member(*, source: Customer, target: Customer) -> int:
    """Give a merged-away member's sales to the member they were merged into.

    Called inside the members app's merge transaction, so either both happen or neither.
    The purchase figures and RFM segment on the target are rewritten by the next nightly run.
    """
    if source.pk == target.pk:
        return 0
    moved = Sale.objects.filter(member=source).update(member=target)
    if moved:
        audit_record(
            action="sale.member_moved",
            obj=target,
            before={"member": source.pk},
            after={"member": target.pk, "sales": moved},
        )
    return moved


# --- Satisfaction surveys after purchases ------------------------------------------------------

# Tenant settings (Tenant.settings): the share of recent buyers asked, and how often one
# member may be asked at most. A rate of 0 (the default) turns the survey off.
SURVEY_RATE_SETTING = "survey_purchase_sample_rate"
SURVEY_GAP_SETTING = "survey_purchase_min_days"
DEFAULT_SURVEY_GAP_DAYS = 90
# Asked a little after the purchase (not at the till), and only about recent purchases.
SURVEY_DELAY = datetime.timedelta(hours=2)
SURVEY_WINDOW = datetime.timedelta(hours=48)


def _sampled(sale_id: int, rate: float) -> bool:
    """The same answer for the same sale at every run, so hourly repeats keep the rate."""
    digest = hashlib.sha256(f"purchase-survey:{sale_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def purchase_surveys_send(*, now: datetime.datetime | None = None) -> int:
    """Ask a sample of recent buyers how their visit went; returns how many were asked.

    Hourly through beat. A member is asked at most once per `survey_purchase_min_days`
    (any survey after a purchase counts), only with marketing consent, about their latest
    sampled purchase from 2 to 48 hours ago. A repeat run asks nobody twice.
    """
    tenant = current_tenant()
    try:
        rate = float(tenant.setting(SURVEY_RATE_SETTING, 0) or 0)
        gap = int(tenant.setting(SURVEY_GAP_SETTING, DEFAULT_SURVEY_GAP_DAYS))
    except (TypeError, ValueError):
        return 0
    if rate <= 0:
        return 0
    now = now or timezone.now()
    since = now - datetime.timedelta(days=gap)
    after_purchases = Survey.objects.filter(case__isnull=True, created_at__gt=since)
    asked_lately = after_purchases.filter(member=OuterRef("member_id"))
    recent = (
        Sale.objects.filter(
            occurred_at__gt=now - SURVEY_WINDOW,
            occurred_at__lte=now - SURVEY_DELAY,
            refund_of__isnull=True,
            member__isnull=False,
            member__marketing_consent=True,
            member__is_erased=False,
        )
        .exclude(Exists(asked_lately))
        .select_related("member", "store")
        .order_by("member_id", "-occurred_at", "-pk")
    )
    asked = 0
    seen: set[int] = set()
    for sale in recent.iterator(chunk_size=1000):
        if sale.member_id in seen or not _sampled(sale.pk, rate):
            continue
        seen.add(sale.member_id)
        with transaction.atomic():
            # Take turns per member: an overlapping run must not ask them a second time.
            Customer.objects.select_for_update().filter(pk=sale.member_id).first()
            if after_purchases.filter(member=sale.member_id).exists():
                continue
            survey_request(
                member=sale.member,
                store=sale.store,
                kind=tenant.setting("survey_kind", "csat"),
                sale_reference=str(sale.pk),
            )
        asked += 1
    return asked
