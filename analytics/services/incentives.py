"""Sales targets and incentive statements.

A statement is a pure function of the ledger (sales, enrolments, leads, survey answers) and
the tenant's rules, so any past month can be rebuilt and gives the same lines: every event is
credited in the month it happened, priced by the rule in effect on the day it happened. A
refund is an event of its own month: it claws back from the original seller, at the rate that
paid the original sale, as a negative line. Confirmed statements are never rewritten.

Each kind of earning is one set-based query for the whole tenant and month (never a query
per staff member); the sales lines are written by one INSERT ... SELECT.
"""

from __future__ import annotations

import bisect
import datetime
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.models import (
    ZERO,
    IncentiveKind,
    IncentiveLine,
    IncentiveRule,
    IncentiveSource,
    IncentiveStatement,
    Sale,
    StaffTarget,
    StatementStatus,
)
from analytics.performance import month_bounds, month_start
from customers.models import Customer
from interactions.models import Lead, LeadStatus, SurveyKind, SurveyResponse
from stores.models import Store
from tenancy.context import current_tenant
from tenancy.dates import tenant_today
from tenancy.models import HQ_ROLES, Role, StaffMember
from tenancy.services import audit_record
from tenancy.tabular import table_bytes

FEN = Decimal("0.01")
# An enrolled member earns the enroller a bonus when their first purchase is this soon.
ENROLLED_BUYER_WINDOW = datetime.timedelta(days=30)
FIVE_STARS = 5


def _fen(value: Decimal) -> Decimal:
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


# --- Targets ---------------------------------------------------------------------------------


@transaction.atomic
def staff_target_set(
    *,
    actor: StaffMember,
    store: Store,
    month: datetime.date,
    staff: StaffMember | None,
    net_sales: Decimal,
    members_enrolled: int,
) -> StaffTarget:
    """Set (or change) a store's or a staff member's target for a month; audited."""
    if not actor.can_access_store(store.pk):
        raise PermissionDenied("store outside the actor's scope")
    if staff is not None and not (staff.store_assignments.filter(store=store).exists()):
        raise ValidationError(_("This staff member does not work at this store."))
    target, created = StaffTarget.objects.select_for_update().get_or_create(
        store=store,
        staff=staff,
        month=month_start(month),
        defaults={"net_sales": _fen(net_sales), "members_enrolled": members_enrolled},
    )
    before = None
    if not created:
        before = {"net_sales": target.net_sales, "members_enrolled": target.members_enrolled}
        target.net_sales, target.members_enrolled = _fen(net_sales), members_enrolled
        target.save(update_fields=["net_sales", "members_enrolled", "updated_at"])
    audit_record(
        action="staff_target.set",
        actor=actor,
        obj=target,
        before=before,
        after={
            "store": store.pk,
            "staff": staff.pk if staff else None,
            "month": target.month.isoformat(),
            "net_sales": target.net_sales,
            "members_enrolled": members_enrolled,
        },
    )
    return target


# --- Rules -----------------------------------------------------------------------------------


@transaction.atomic
def incentive_rule_create(
    *, actor: StaffMember, kind: str, amount: Decimal, effective_from: datetime.date
) -> IncentiveRule:
    """Add a rule; it replaces the previous rule of its kind from `effective_from` on.

    Rules that already paid a confirmed month stay as they are: a rule may not start on or
    before the last day of a confirmed month, which would change what was confirmed.
    """
    if kind not in IncentiveKind.values:
        raise ValidationError(_("Unknown kind of incentive."))
    if amount < 0:
        raise ValidationError(_("The rate or amount cannot be negative."))
    last_confirmed = (
        IncentiveStatement.objects.filter(status=StatementStatus.CONFIRMED)
        .order_by("-month")
        .values_list("month", flat=True)
        .first()
    )
    if last_confirmed is not None and month_start(effective_from) <= last_confirmed:
        raise ValidationError(
            _("Statements up to %(month)s are confirmed: start the rule after that month.")
            % {"month": last_confirmed.strftime("%Y-%m")}
        )
    if IncentiveRule.objects.filter(kind=kind, effective_from=effective_from).exists():
        raise ValidationError(_("A rule of this kind already starts on that day."))
    rule = IncentiveRule.objects.create(
        kind=kind, amount=_fen(amount), effective_from=effective_from, created_by=actor
    )
    audit_record(
        action="incentive_rule.create",
        actor=actor,
        obj=rule,
        after={"kind": kind, "amount": rule.amount, "effective_from": effective_from.isoformat()},
    )
    return rule


class _Rules:
    """The tenant's rules by kind, to find the one in effect on a day (few rows, read once)."""

    def __init__(self) -> None:
        self.by_kind: dict[str, tuple[list[datetime.date], list[IncentiveRule]]] = {}
        for rule in IncentiveRule.objects.order_by("kind", "effective_from"):
            days, rules = self.by_kind.setdefault(rule.kind, ([], []))
            days.append(rule.effective_from)
            rules.append(rule)

    def on(self, kind: str, day: datetime.date) -> IncentiveRule | None:
        days, rules = self.by_kind.get(kind, ([], []))
        index = bisect.bisect_right(days, day) - 1
        if index < 0 or rules[index].amount == 0:
            return None
        return rules[index]


# --- Statements ------------------------------------------------------------------------------


def _event_earnings(month: datetime.date) -> dict[int, list[IncentiveLine]]:
    """The month's bonus lines (enrolled buyers, won leads, 5-star answers) per staff member,
    unsaved: a few per staff member, priced here. Sales lines are written in SQL (below)."""
    start, end = month_bounds(month)
    zone = current_tenant().zone
    rules = _Rules()
    lines: dict[int, list[IncentiveLine]] = defaultdict(list)

    def add(staff_id, rule, kind, source_type, source_id, occurred_at, basis, amount) -> None:
        lines[staff_id].append(
            IncentiveLine(
                rule=rule,
                kind=kind,
                source_type=source_type,
                source_id=source_id,
                occurred_at=occurred_at,
                basis=basis,
                amount=_fen(amount),
            )
        )

    if IncentiveKind.ENROLLED_BUYER in rules.by_kind:
        # The member's first purchase (refunds aside) falls in this month and within 30 days
        # of enrolment; at most once per member, since a member has one first purchase.
        buyers = (
            Customer.objects.filter(
                enrolled_by__isnull=False,
                created_at__gte=start - ENROLLED_BUYER_WINDOW,
                created_at__lt=end,
            )
            .annotate(first_sale=Min("sales__occurred_at", filter=Q(sales__refund_of=None)))
            .filter(
                first_sale__gte=start,
                first_sale__lt=end,
                first_sale__lte=F("created_at") + ENROLLED_BUYER_WINDOW,
            )
            .values_list("pk", "enrolled_by_id", "first_sale")
        )
        for pk, enroller, first_sale in buyers:
            rule = rules.on(IncentiveKind.ENROLLED_BUYER, first_sale.astimezone(zone).date())
            if rule is not None:
                add(
                    enroller,
                    rule,
                    rule.kind,
                    IncentiveSource.MEMBER,
                    pk,
                    first_sale,
                    1,
                    rule.amount,
                )

    if IncentiveKind.LEAD_WON in rules.by_kind:
        won = Lead.objects.filter(
            status=LeadStatus.WON, closed_at__gte=start, closed_at__lt=end, owner__isnull=False
        ).values_list("pk", "owner_id", "closed_at")
        for pk, owner, closed_at in won:
            rule = rules.on(IncentiveKind.LEAD_WON, closed_at.astimezone(zone).date())
            if rule is not None:
                add(owner, rule, rule.kind, IncentiveSource.LEAD, pk, closed_at, 1, rule.amount)

    if IncentiveKind.FIVE_STAR in rules.by_kind:
        # A 5-star answer about a case goes to its assignee; about a purchase, to its seller.
        answers = list(
            SurveyResponse.objects.filter(
                answered_at__gte=start,
                answered_at__lt=end,
                score=FIVE_STARS,
                survey__kind=SurveyKind.CSAT,
            ).values_list(
                "survey_id", "answered_at", "survey__case__assignee_id", "survey__sale_reference"
            )
        )

        # A sale reference is our sale id as text (analytics.services.surveys); anything else
        # (a receipt number typed by hand, too long for an id) names no seller.
        def sale_id(ref: str) -> int | None:
            return int(ref) if ref and ref.isdigit() and len(ref) < 19 else None

        references = {sale_id(ref) for *_, ref in answers} - {None}
        sellers = dict(
            Sale.objects.filter(pk__in=references, staff__isnull=False).values_list(
                "pk", "staff_id"
            )
        )
        for survey_id, answered_at, assignee, ref in answers:
            staff_id = assignee or sellers.get(sale_id(ref))
            rule = rules.on(IncentiveKind.FIVE_STAR, answered_at.astimezone(zone).date())
            if staff_id is not None and rule is not None:
                add(
                    staff_id,
                    rule,
                    rule.kind,
                    IncentiveSource.SURVEY,
                    survey_id,
                    answered_at,
                    1,
                    rule.amount,
                )
    return lines


# The sales lines of a month, one per sale or refund, priced in the database: a refund is
# priced on the day of the sale it refunds (in the tenant's zone) and charged to its seller.
# The rule in effect is the latest of its kind that started on or before that day; a rule of
# 0 stops the kind. PostgreSQL's round() and Decimal's ROUND_HALF_UP both round half away from
# zero, so the lines equal a Python recomputation to the fen (tested).
_SALES_FROM = """
    FROM analytics_sale s
    LEFT JOIN analytics_sale o ON o.id = s.refund_of_id
    JOIN LATERAL (
        SELECT r.id, r.amount FROM analytics_incentiverule r
        WHERE r.tenant_id = s.tenant_id AND r.kind = %(kind)s
          AND r.effective_from
              <= (COALESCE(o.occurred_at, s.occurred_at) AT TIME ZONE %(zone)s)::date
        ORDER BY r.effective_from DESC LIMIT 1
    ) rule ON rule.amount <> 0
    WHERE s.tenant_id = %(tenant)s AND s.occurred_at >= %(start)s AND s.occurred_at < %(end)s
      AND s.total <> 0 AND COALESCE(o.staff_id, s.staff_id) IS NOT NULL
"""
_SALES_SELLERS = "SELECT DISTINCT COALESCE(o.staff_id, s.staff_id)" + _SALES_FROM
_SALES_INSERT = """
    INSERT INTO analytics_incentiveline
        (tenant_id, statement_id, rule_id, kind, source_type, source_id, occurred_at, basis,
         amount)
    SELECT s.tenant_id, st.id, rule.id, %(kind)s, %(source)s, s.id, s.occurred_at, s.total,
           round(s.total * rule.amount / 100, 2)
    """ + _SALES_FROM.replace(
    "    WHERE s.tenant_id",
    "    JOIN analytics_incentivestatement st ON st.tenant_id = s.tenant_id"
    " AND st.month = %(month)s AND st.status = %(draft)s"
    " AND st.staff_id = COALESCE(o.staff_id, s.staff_id)\n    WHERE s.tenant_id",
)


def _sales_params(month: datetime.date) -> dict:
    start, end = month_bounds(month)
    tenant = current_tenant()
    return {
        "kind": IncentiveKind.SALES_PERCENT.value,
        "source": IncentiveSource.SALE.value,
        "zone": tenant.time_zone,
        "tenant": tenant.pk,
        "start": start,
        "end": end,
        "month": month,
        "draft": StatementStatus.DRAFT.value,
    }


@transaction.atomic
def incentive_statements_compute(
    *, month: datetime.date, actor: StaffMember | None = None
) -> dict[str, int]:
    """Build (or rebuild) every draft statement of `month` from the ledger.

    Set-based: the sales lines are one INSERT ... SELECT, the bonus lines one bulk insert,
    the totals one UPDATE; no query per staff member. Confirmed statements stay as confirmed.
    Returns counts of statements written, confirmed ones kept, and lines.
    """
    month = month_start(month)
    if month > month_start(tenant_today()):
        raise ValidationError(_("That month has not started yet."))
    # Lock the month's statements: the beat job and a manager's button must not interleave
    # their delete-and-insert of the same drafts (a new statement is backed by its UNIQUE).
    existing = dict(
        IncentiveStatement.objects.select_for_update()
        .filter(month=month)
        .order_by("pk")
        .values_list("staff_id", "status")
    )
    confirmed = {staff for staff, status in existing.items() if status == StatementStatus.CONFIRMED}
    events = _event_earnings(month)
    params = _sales_params(month)
    with connection.cursor() as cursor:
        cursor.execute(_SALES_SELLERS, params)
        sellers = {row[0] for row in cursor.fetchall()}
    now = timezone.now()
    IncentiveStatement.objects.bulk_create(
        IncentiveStatement(staff_id=staff_id, month=month, total=ZERO, computed_at=now)
        for staff_id in sorted((sellers | set(events)) - set(existing))
    )
    drafts = IncentiveStatement.objects.filter(month=month, status=StatementStatus.DRAFT)
    IncentiveLine.objects.filter(statement__in=drafts).delete()
    statement_of = dict(drafts.values_list("staff_id", "pk"))
    bonus_lines = []
    for staff_id, lines in events.items():
        if staff_id in statement_of:
            for line in lines:
                line.statement_id = statement_of[staff_id]
                bonus_lines.append(line)
    IncentiveLine.objects.bulk_create(bonus_lines, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute(_SALES_INSERT, params)
        sales_lines = cursor.rowcount
    drafts.update(
        computed_at=now,
        total=Coalesce(
            Subquery(
                IncentiveLine.objects.filter(statement=OuterRef("pk"))
                .values("statement")
                .annotate(sum=Sum("amount"))
                .values("sum")
            ),
            ZERO,
        ),
    )
    result = {
        "written": len(statement_of),
        "skipped": len(confirmed),
        "lines": len(bonus_lines) + sales_lines,
    }
    audit_record(
        action="incentive_statements.compute",
        actor=actor,
        after={"month": month.isoformat(), **result},
    )
    return result


def incentive_statements_run_monthly() -> dict[str, int]:
    """The beat job: last month's statements, once the month is over (drafts refreshed)."""
    last_month = month_start(month_start(tenant_today()) - datetime.timedelta(days=1))
    return incentive_statements_compute(month=last_month)


def statement_visible_to(statement: IncentiveStatement, staff: StaffMember) -> bool:
    """HQ sees all; a store manager, the statements of their stores' staff; anyone, their own."""
    if statement.staff_id == staff.pk or staff.role in HQ_ROLES:
        return True
    if staff.role != Role.STORE_MANAGER:
        return False
    return statement.staff.store_assignments.filter(store_id__in=staff.store_ids).exists()


@transaction.atomic
def incentive_statement_confirm(
    *, statement: IncentiveStatement, actor: StaffMember
) -> IncentiveStatement:
    """A manager (or HQ) confirms a draft; nobody confirms their own statement."""
    locked = IncentiveStatement.objects.select_for_update().get(pk=statement.pk)
    if locked.staff_id == actor.pk:
        raise ValidationError(_("You cannot confirm your own statement."))
    if not statement_visible_to(locked, actor):
        raise PermissionDenied("statement outside the actor's scope")
    if locked.status != StatementStatus.DRAFT:
        raise ValidationError(_("This statement is already confirmed."))
    if locked.month >= month_start(tenant_today()):
        raise ValidationError(_("A month can be confirmed once it is over."))
    locked.status = StatementStatus.CONFIRMED
    locked.confirmed_by, locked.confirmed_at = actor, timezone.now()
    locked.save(update_fields=["status", "confirmed_by", "confirmed_at"])
    audit_record(
        action="incentive_statement.confirm",
        actor=actor,
        obj=locked,
        after={"staff": locked.staff_id, "month": locked.month.isoformat(), "total": locked.total},
    )
    return locked


@transaction.atomic
def incentive_statement_export(
    *, statement: IncentiveStatement, actor: StaffMember, file_format: str
) -> tuple[bytes, str, str]:
    """The statement's lines as CSV or XLSX (every line names its source); audited."""
    headers = [
        _("Time"),
        _("Kind"),
        _("Source"),
        _("Source id"),
        _("Basis"),
        _("Rate or amount"),
        _("Amount"),
    ]
    zone = current_tenant().zone
    rows = [
        [
            line.occurred_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            line.get_kind_display(),
            line.get_source_type_display(),
            line.source_id,
            line.basis,
            line.rule.amount,
            line.amount,
        ]
        for line in statement.lines.select_related("rule").order_by("occurred_at", "id")
    ]
    rows.append(["", "", "", "", "", _("Total"), statement.total])
    content, content_type = table_bytes(headers, rows, file_format=file_format)
    audit_record(
        action="incentive_statement.export",
        actor=actor,
        obj=statement,
        after={"format": file_format, "lines": len(rows) - 1},
    )
    name = f"incentive-{statement.month:%Y-%m}-{statement.staff_id}.{file_format}"
    return content, content_type, name
