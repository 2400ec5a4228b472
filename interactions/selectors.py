"""Reads used by the interactions pages."""

from __future__ import annotations

import datetime
import re
from itertools import chain

from django.db.models import (
    Avg,
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    When,
)
from django.utils import timezone

from customers.models import Customer
from interactions import hooks
from interactions.models import (
    Channel,
    Interaction,
    Lead,
    LeadStatus,
    ServiceCase,
    Survey,
    SurveyKind,
)
from interactions.pinyin import name_keys, prefix_upper_bound, query_key
from tenancy.access import scope_to_stores
from tenancy.encryption import name_index, phone_index
from tenancy.models import Role, StaffMember

PHONE = re.compile(r"^1\d{10}$")


def _prefix(field: str, key: str) -> Q:
    condition = Q(**{f"{field}__gte": key})
    bound = prefix_upper_bound(key)
    return condition & Q(**{f"{field}__lt": bound}) if bound else condition


def member_search(query: str, *, limit: int = 20) -> list[Customer]:
    """Counter lookup: full phone, last 4 digits, card number, name, or the name's pinyin.

    Pinyin: "zw" (initials) or "zhangw" (the start of the full pinyin) finds 张伟. Names are
    encrypted, so a name typed in characters is found through its blind index (the exact
    name) and through its pinyin ("张" finds every 张 and the homophones 章, 彰: the start of
    the full pinyin). Results are ranked: exact name, exact pinyin, exact initials, then
    prefixes; ties in pinyin order.
    """
    query = query.strip()
    if not query:
        return []
    members = Customer.objects.active().select_related("home_store")
    if PHONE.match(query):
        return list(members.filter(phone_hash=phone_index(query))[:limit])
    if query.isdigit() and len(query) == 4:
        found = members.filter(Q(phone_last4=query) | Q(card_number=query))
        return list(found.order_by("interaction_profiles__name_pinyin", "pk")[:limit])
    # Exact values only, so the (tenant, card_number) unique index answers.
    exact = list(members.filter(card_number__in={query, query.upper()})[:limit])
    if exact:
        return exact
    key = query_key(query)
    if key and query.isascii() and key.isalpha():
        # Typed letters: search the pinyin keys only (Latin names have keys too: "tom").
        initials = "interaction_profiles__name_initials"
        full = "interaction_profiles__name_pinyin"
        condition = _prefix(initials, key) | _prefix(full, key)
        ranks = [
            When(Q(**{initials: key}) | Q(**{full: key}), then=2),
            When(_prefix(initials, key), then=3),
            When(_prefix(full, key), then=4),
        ]
    else:
        full_key = name_keys(query)[0]
        by_name = Q(name_hash=name_index(query))
        full = "interaction_profiles__name_pinyin"
        condition = by_name | _prefix(full, full_key) if full_key else by_name
        ranks = [When(by_name, then=0), When(Q(**{full: full_key}), then=1)]
    ranked = members.filter(condition).annotate(rank=Case(*ranks, default=5))
    # Ties in pinyin order, as a Chinese reader expects (code-point order of 汉字 is not).
    return list(ranked.order_by("rank", "interaction_profiles__name_pinyin", "pk")[:limit])


def cases_for(staff: StaffMember) -> QuerySet[ServiceCase]:
    """Every case the staff member may see: HQ all, store staff those of their stores."""
    return scope_to_stores(
        ServiceCase.objects.select_related("store", "category", "assignee", "member"), staff
    )


def member_open_cases(member: Customer, *, staff: StaffMember, limit: int = 5) -> list:
    """The member's cases still open, oldest first (the longest waiting leads), in scope."""
    from interactions.models import OPEN_STATUSES

    return list(
        cases_for(staff)
        .filter(member=member, status__in=OPEN_STATUSES)
        .order_by("created_at", "pk")[:limit]
    )


def member_timeline(member: Customer, *, limit: int = 100) -> list[dict]:
    """Interactions and cases of a member, newest first, as one list for the profile."""
    interactions = Interaction.objects.filter(member=member).select_related("store", "staff")
    cases = ServiceCase.objects.filter(member=member).select_related("store", "category")
    leads = Lead.objects.filter(member=member).select_related("store", "owner")
    items = chain(
        (
            {"kind": "interaction", "at": item.occurred_at, "object": item}
            for item in interactions[:limit]
        ),
        ({"kind": "case", "at": case.created_at, "object": case} for case in cases[:limit]),
        ({"kind": "lead", "at": lead.created_at, "object": lead} for lead in leads[:limit]),
    )
    contributed = (
        {"kind": "external", "source": key, "at": entry["at"], "object": entry}
        for key, source in hooks.timeline_sources().items()
        for entry in source(member=member, limit=limit)
    )
    return sorted(chain(items, contributed), key=lambda entry: entry["at"], reverse=True)[:limit]


def sla_figures(cases: QuerySet[ServiceCase], *, days: int = 30) -> dict:
    """Open and overdue counts now, and how the last `days` days' resolved cases did."""
    now = timezone.now()
    since = now - datetime.timedelta(days=days)
    open_cases = cases.open()
    resolved = cases.filter(resolved_at__gte=since)
    figures = resolved.aggregate(
        total=Count("pk"),
        on_time=Count("pk", filter=Q(resolved_at__lte=F("due_at"))),
        average=Avg(
            ExpressionWrapper(F("resolved_at") - F("created_at"), output_field=DurationField())
        ),
    )
    average = figures["average"]
    return {
        "open": open_cases.count(),
        "overdue": open_cases.filter(due_at__lt=now).count(),
        "resolved": figures["total"],
        "on_time_percent": (
            round(100 * figures["on_time"] / figures["total"]) if figures["total"] else None
        ),
        "average_hours": round(average.total_seconds() / 3600, 1) if average else None,
        "days": days,
    }


def leads_for(staff: StaffMember) -> QuerySet[Lead]:
    return scope_to_stores(Lead.objects.select_related("member", "store", "owner"), staff)


def leads_due(staff: StaffMember, today: datetime.date) -> QuerySet[Lead]:
    """The "today" list: open leads due today or earlier; a clerk sees their own."""
    leads = leads_for(staff).filter(status=LeadStatus.OPEN, follow_up_on__lte=today)
    if staff.role == Role.CLERK:
        leads = leads.filter(owner=staff)
    return leads.order_by("follow_up_on", "pk")


def lead_conversion(leads: QuerySet[Lead], by: str) -> list[dict]:
    """Won, lost, open and the conversion rate (won / closed) per store or per owner."""
    fields = {"store": ["store__code", "store__name"], "owner": ["owner__display_name"]}[by]
    rows = (
        leads.values(*fields)
        .annotate(
            total=Count("pk"),
            won=Count("pk", filter=Q(status=LeadStatus.WON)),
            lost=Count("pk", filter=Q(status=LeadStatus.LOST)),
            open=Count("pk", filter=Q(status=LeadStatus.OPEN)),
        )
        .order_by(*fields)
    )
    result = []
    for row in rows:
        closed = row["won"] + row["lost"]
        row["rate"] = round(100 * row["won"] / closed) if closed else None
        row["label"] = " ".join(str(row[field] or "—") for field in fields)
        result.append(row)
    return result


def survey_results(surveys: QuerySet[Survey], by: str) -> list[dict]:
    """Per store or per case category: surveys sent, answers, CSAT average, NPS."""
    fields = {"store": ["store__code", "store__name"], "category": ["case__category__name"]}[by]
    rows = (
        surveys.values(*fields)
        .annotate(
            surveys=Count("pk"),
            answers=Count("responses"),
            csat_answers=Count("responses", filter=Q(kind=SurveyKind.CSAT)),
            csat_average=Avg("responses__score", filter=Q(kind=SurveyKind.CSAT)),
            nps_answers=Count("responses", filter=Q(kind=SurveyKind.NPS)),
            promoters=Count("responses", filter=Q(kind=SurveyKind.NPS, responses__score__gte=9)),
            detractors=Count("responses", filter=Q(kind=SurveyKind.NPS, responses__score__lte=6)),
        )
        .order_by(*fields)
    )
    result = []
    for row in rows:
        row["label"] = " ".join(str(row[field] or "—") for field in fields)
        row["csat_average"] = round(row["csat_average"], 2) if row["csat_average"] else None
        row["nps"] = (
            round(100 * (row["promoters"] - row["detractors"]) / row["nps_answers"])
            if row["nps_answers"]
            else None
        )
        row["response_rate"] = (
            round(100 * row["answers"] / row["surveys"]) if row["surveys"] else None
        )
        result.append(row)
    return result


def membership_anniversary(member: Customer, today: datetime.date, zone) -> dict:
    """The member's enrolment day (in the tenant's zone) and its next anniversary.

    Feb 29 enrolments have their anniversary on Feb 28 in common years.
    """
    enrolled = timezone.localtime(member.created_at, zone).date() if member.created_at else None
    if enrolled is None:
        return {}

    def on(year: int) -> datetime.date:
        try:
            return enrolled.replace(year=year)
        except ValueError:  # Feb 29 in a common year
            return datetime.date(year, 2, 28)

    upcoming = on(today.year)
    if upcoming < today or upcoming <= enrolled:
        upcoming = on(max(today.year, enrolled.year) + 1)
    return {"enrolled": enrolled, "next": upcoming, "years": upcoming.year - enrolled.year}


def with_referral_count(members: QuerySet[Customer]) -> QuerySet[Customer]:
    """For tier rules and segments: each member with how many members they referred."""
    return members.annotate(referral_count=Count("referrals_made", distinct=True))


def members_active_since(since: datetime.datetime) -> QuerySet:
    """Member ids with a contact at or after `since` (a store visit, a call, a WeChat
    message, a consultation; staff notes do not count): the retention policy's "visit"
    source, registered in customers.activity."""
    return (
        Interaction.objects.filter(occurred_at__gte=since)
        .exclude(channel=Channel.NOTE)
        .values("member_id")
    )
