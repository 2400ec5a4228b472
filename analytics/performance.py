"""Staff performance: per staff member and month, the figures a store manager reviews.

Reads only (selectors). Every figure is one grouped query over the month, never a query per
staff member: sales and refunds, enrolments, follow-ups, leads, cases and survey scores each
give one `GROUP BY staff` row set, merged here in Python.

Who a figure belongs to:
- sales: the seller (`Sale.staff`); a refund counts against the seller of the original sale
  (the same rule as the incentive claw-back), in the month the refund happened;
- members enrolled: `Customer.enrolled_by`; follow-ups: `LeadFollowUp.staff`;
- leads won: `Lead.owner`; cases and the survey scores about them: `ServiceCase.assignee`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Avg, Count, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDate

from analytics.models import ZERO, Sale, StaffTarget
from customers.models import Customer
from interactions.models import (
    CaseStatus,
    Lead,
    LeadFollowUp,
    LeadStatus,
    ServiceCase,
    SurveyKind,
    SurveyResponse,
)
from stores.models import StoreAssignment
from tenancy.context import current_tenant
from tenancy.models import StaffMember

FEN = Decimal("0.01")


def month_start(value: datetime.date) -> datetime.date:
    return value.replace(day=1)


def next_month(month: datetime.date) -> datetime.date:
    return (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def month_bounds(month: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """The UTC instants [start, end) of a calendar month in the tenant's time zone."""
    zone = current_tenant().zone
    start = datetime.datetime.combine(month_start(month), datetime.time.min, tzinfo=zone)
    end = datetime.datetime.combine(next_month(month), datetime.time.min, tzinfo=zone)
    return start.astimezone(datetime.UTC), end.astimezone(datetime.UTC)


def parse_month(text: str | None, default: datetime.date) -> datetime.date:
    """'2026-11' as 2026-11-01; the default month when missing or malformed."""
    try:
        year, month = (int(part) for part in (text or "").split("-"))
        return datetime.date(year, month, 1)
    except ValueError:
        return month_start(default)


def _ratio(part, whole) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part or 0) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


@dataclass
class StaffFigures:
    staff_id: int
    name: str = ""
    gross_sales: Decimal = ZERO
    refunds: Decimal = ZERO  # negative, like the refund rows
    transactions: int = 0
    member_sales: Decimal = ZERO
    members_enrolled: int = 0
    follow_ups: int = 0
    follow_ups_on_time: int = 0
    leads_won: int = 0
    cases_resolved: int = 0
    cases_within_sla: int = 0
    survey_responses: int = 0
    survey_average: Decimal | None = None
    target: StaffTarget | None = field(default=None, repr=False)

    @property
    def net_sales(self) -> Decimal:
        return self.gross_sales + self.refunds

    @property
    def average_ticket(self) -> Decimal | None:
        if not self.transactions:
            return None
        return (self.gross_sales / self.transactions).quantize(FEN, ROUND_HALF_UP)

    @property
    def member_share(self) -> Decimal | None:
        return _ratio(self.member_sales, self.gross_sales)

    @property
    def sales_progress(self) -> Decimal | None:
        return _ratio(self.net_sales, self.target.net_sales) if self.target else None

    @property
    def enrolment_progress(self) -> Decimal | None:
        return _ratio(self.members_enrolled, self.target.members_enrolled) if self.target else None


def staff_performance(
    *,
    month: datetime.date,
    store_ids: list[int] | None = None,
    staff_ids: list[int] | None = None,
) -> dict[int, StaffFigures]:
    """Figures per staff member for `month`, within `store_ids` (None: every store) and for
    `staff_ids` (None: everyone with a figure or assigned to one of the stores)."""
    start, end = month_bounds(month)
    figures: dict[int, StaffFigures] = {}

    def row(staff_id: int) -> StaffFigures:
        return figures.setdefault(staff_id, StaffFigures(staff_id=staff_id))

    def scoped(queryset, store_field: str, staff_field: str):
        queryset = queryset.filter(**{f"{staff_field}__isnull": False})
        if store_ids is not None:
            queryset = queryset.filter(**{f"{store_field}__in": store_ids})
        if staff_ids is not None:
            queryset = queryset.filter(**{f"{staff_field}__in": staff_ids})
        return queryset

    is_sale = Q(refund_of__isnull=True)
    sales = scoped(
        Sale.objects.filter(occurred_at__gte=start, occurred_at__lt=end).annotate(
            seller=Coalesce("refund_of__staff_id", "staff_id")
        ),
        "store_id",
        "seller",
    )
    for r in sales.values("seller").annotate(
        gross=Sum("total", filter=is_sale, default=ZERO),
        refunds=Sum("total", filter=~is_sale, default=ZERO),
        transactions=Count("id", filter=is_sale),
        member_sales=Sum("total", filter=is_sale & Q(member__isnull=False), default=ZERO),
    ):
        f = row(r["seller"])
        f.gross_sales, f.refunds = r["gross"], r["refunds"]
        f.transactions, f.member_sales = r["transactions"], r["member_sales"]

    enrolled = scoped(
        Customer.objects.filter(created_at__gte=start, created_at__lt=end),
        "home_store_id",
        "enrolled_by_id",
    )
    for r in enrolled.values("enrolled_by_id").annotate(n=Count("id")):
        row(r["enrolled_by_id"]).members_enrolled = r["n"]

    zone = current_tenant().zone
    follow_ups = scoped(
        LeadFollowUp.objects.filter(created_at__gte=start, created_at__lt=end).annotate(
            done_on=TruncDate("created_at", tzinfo=zone)
        ),
        "lead__store_id",
        "staff_id",
    )
    for r in follow_ups.values("staff_id").annotate(
        n=Count("id"),
        on_time=Count("id", filter=Q(due_on__isnull=True) | Q(done_on__lte=F("due_on"))),
    ):
        f = row(r["staff_id"])
        f.follow_ups, f.follow_ups_on_time = r["n"], r["on_time"]

    won = scoped(
        Lead.objects.filter(status=LeadStatus.WON, closed_at__gte=start, closed_at__lt=end),
        "store_id",
        "owner_id",
    )
    for r in won.values("owner_id").annotate(n=Count("id")):
        row(r["owner_id"]).leads_won = r["n"]

    resolved = scoped(
        ServiceCase.objects.filter(
            resolved_at__gte=start,
            resolved_at__lt=end,
            status__in=[CaseStatus.RESOLVED, CaseStatus.CLOSED],
        ),
        "store_id",
        "assignee_id",
    )
    for r in resolved.values("assignee_id").annotate(
        n=Count("id"), in_sla=Count("id", filter=Q(resolved_at__lte=F("due_at")))
    ):
        f = row(r["assignee_id"])
        f.cases_resolved, f.cases_within_sla = r["n"], r["in_sla"]

    scores = scoped(
        SurveyResponse.objects.filter(
            answered_at__gte=start, answered_at__lt=end, survey__kind=SurveyKind.CSAT
        ),
        "survey__case__store_id",
        "survey__case__assignee_id",
    )
    for r in scores.values("survey__case__assignee_id").annotate(n=Count("id"), avg=Avg("score")):
        f = row(r["survey__case__assignee_id"])
        f.survey_responses = r["n"]
        f.survey_average = Decimal(r["avg"]).quantize(Decimal("0.01"), ROUND_HALF_UP)

    if store_ids is not None and staff_ids is None:
        # Everyone who works there shows, with zeros, so a quiet month is visible too.
        for staff_id in StoreAssignment.objects.filter(
            store_id__in=store_ids, staff__is_active=True
        ).values_list("staff_id", flat=True):
            row(staff_id)
    elif staff_ids is not None:
        for staff_id in staff_ids:
            row(staff_id)

    names = dict(StaffMember.objects.filter(pk__in=figures).values_list("pk", "display_name"))
    for f in figures.values():
        f.name = names.get(f.staff_id, "")
    targets = StaffTarget.objects.filter(month=month_start(month), staff_id__in=figures)
    if store_ids is not None:
        targets = targets.filter(store_id__in=store_ids)
    for target in targets.order_by("store_id"):
        # One target per staff member shown: the first store's when they work at several.
        figures[target.staff_id].target = figures[target.staff_id].target or target
    return dict(sorted(figures.items(), key=lambda item: (-item[1].net_sales, item[1].name)))


@dataclass
class StoreProgress:
    net_sales: Decimal
    members_enrolled: int
    target: StaffTarget | None

    @property
    def sales_progress(self) -> Decimal | None:
        return _ratio(self.net_sales, self.target.net_sales) if self.target else None

    @property
    def enrolment_progress(self) -> Decimal | None:
        return _ratio(self.members_enrolled, self.target.members_enrolled) if self.target else None


def store_progress(*, store_id: int, month: datetime.date) -> StoreProgress:
    """The store's month against its own target (every sale, with or without a seller)."""
    start, end = month_bounds(month)
    net = Sale.objects.filter(
        store_id=store_id, occurred_at__gte=start, occurred_at__lt=end
    ).aggregate(net=Sum("total", default=ZERO))["net"]
    enrolled = Customer.objects.filter(
        home_store_id=store_id, created_at__gte=start, created_at__lt=end
    ).count()
    target = StaffTarget.objects.filter(
        store_id=store_id, staff__isnull=True, month=month_start(month)
    ).first()
    return StoreProgress(net_sales=net, members_enrolled=enrolled, target=target)
