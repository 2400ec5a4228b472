"""Staff performance, targets and incentive statements: thin views over
analytics.performance (reads) and analytics.services.incentives (writes)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from analytics.forms import IncentiveRuleForm, MonthForm, StaffTargetForm
from analytics.models import IncentiveRule, IncentiveStatement, StaffTarget
from analytics.performance import parse_month, staff_performance, store_progress
from analytics.services import (
    incentive_rule_create,
    incentive_statement_confirm,
    incentive_statement_export,
    incentive_statements_compute,
    staff_target_set,
    statement_visible_to,
)
from stores.models import Store
from tenancy.access import roles_allowed, scope_to_stores
from tenancy.dates import tenant_today
from tenancy.models import ALL_ROLES, HQ_ROLES, Role, StaffMember

MANAGERS = HQ_ROLES | {Role.STORE_MANAGER}


def _month(request: HttpRequest):
    return parse_month(request.GET.get("month"), tenant_today())


def _stores(request: HttpRequest):
    return scope_to_stores(Store.objects.order_by("code"), request.staff, store_field="pk")


@roles_allowed(MANAGERS)
def performance_store(request: HttpRequest) -> HttpResponse:
    """The store's staff table: each member's figures and progress against their target."""
    stores = _stores(request)
    store = None
    if request.GET.get("store", "").isdigit():
        store = stores.filter(pk=request.GET["store"]).first()
    store = store or stores.first()
    month = _month(request)
    figures = progress = None
    if store is not None:
        figures = list(staff_performance(month=month, store_ids=[store.pk]).values())
        progress = store_progress(store_id=store.pk, month=month)
    return render(
        request,
        "analytics/performance_store.html",
        {
            "stores": stores,
            "store": store,
            "month": month,
            "figures": figures,
            "progress": progress,
        },
    )


@roles_allowed(ALL_ROLES)
def performance_me(request: HttpRequest) -> HttpResponse:
    """我的业绩: the signed-in staff member's own figures; nobody else's can be asked for."""
    month = _month(request)
    mine = staff_performance(month=month, staff_ids=[request.staff.pk])[request.staff.pk]
    statements = IncentiveStatement.objects.filter(staff=request.staff).order_by("-month")[:12]
    return render(
        request,
        "analytics/performance_me.html",
        {"month": month, "mine": mine, "statements": statements},
    )


@roles_allowed(MANAGERS)
def target_list(request: HttpRequest) -> HttpResponse:
    stores = _stores(request)
    month = _month(request)
    form = StaffTargetForm(
        request.POST or None, stores=stores, initial={"month": month.strftime("%Y-%m")}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            staff_target_set(
                actor=request.staff,
                store=data["store"],
                staff=data["staff"],
                month=data["month"],
                net_sales=data["net_sales"],
                members_enrolled=data["members_enrolled"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Target saved."))
            return redirect(f"{reverse('analytics:target_list')}?month={data['month']:%Y-%m}")
    targets = (
        StaffTarget.objects.filter(month=month, store__in=stores)
        .select_related("store", "staff")
        .order_by("store__code", "staff__display_name")
    )
    return render(
        request,
        "analytics/target_list.html",
        {"form": form, "targets": targets, "month": month},
    )


@roles_allowed(ALL_ROLES)
def statement_list(request: HttpRequest) -> HttpResponse:
    """A month's statements: all of them for HQ, a manager's stores' staff, a clerk's own."""
    month = _month(request)
    statements = IncentiveStatement.objects.filter(month=month).select_related("staff")
    staff = request.staff
    if staff.role == Role.CLERK:
        statements = statements.filter(staff=staff)
    elif staff.role == Role.STORE_MANAGER:
        colleagues = StaffMember.objects.filter(store_assignments__store_id__in=staff.store_ids)
        statements = statements.filter(staff__in=colleagues.values("pk"))
    return render(
        request,
        "analytics/statement_list.html",
        {
            "month": month,
            "statements": statements.order_by("staff__display_name"),
            "compute_form": MonthForm(initial={"month": month.strftime("%Y-%m")}),
            "can_compute": staff.role in MANAGERS,
        },
    )


@roles_allowed(MANAGERS)
@require_POST
def statements_compute(request: HttpRequest) -> HttpResponse:
    form = MonthForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a month."))
        return redirect("analytics:statement_list")
    month = form.cleaned_data["month"]
    try:
        result = incentive_statements_compute(month=month, actor=request.staff)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("%(written)s statements computed; %(skipped)s confirmed ones kept.") % result,
        )
    return redirect(f"{reverse('analytics:statement_list')}?month={month:%Y-%m}")


def _statement_or_404(request: HttpRequest, statement_id: int) -> IncentiveStatement:
    statement = get_object_or_404(
        IncentiveStatement.objects.select_related("staff", "confirmed_by"), pk=statement_id
    )
    # Someone else's figures: 404, as if it did not exist (a clerk sees only their own).
    if not statement_visible_to(statement, request.staff):
        raise Http404
    return statement


@roles_allowed(ALL_ROLES)
def statement_detail(request: HttpRequest, statement_id: int) -> HttpResponse:
    statement = _statement_or_404(request, statement_id)
    lines = statement.lines.select_related("rule").order_by("occurred_at", "id")
    return render(
        request,
        "analytics/statement_detail.html",
        {
            "statement": statement,
            "lines": lines,
            "can_confirm": request.staff.role in MANAGERS
            and statement.staff_id != request.staff.pk,
        },
    )


@roles_allowed(MANAGERS)
def statement_confirm(request: HttpRequest, statement_id: int) -> HttpResponse:
    statement = _statement_or_404(request, statement_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        incentive_statement_confirm(statement=statement, actor=request.staff)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Statement confirmed."))
    return redirect("analytics:statement_detail", statement_id=statement.pk)


@roles_allowed(ALL_ROLES)
def statement_export(request: HttpRequest, statement_id: int) -> HttpResponse:
    statement = _statement_or_404(request, statement_id)
    file_format = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
    content, content_type, name = incentive_statement_export(
        statement=statement, actor=request.staff, file_format=file_format
    )
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@roles_allowed(Role.HQ_ADMIN)
def rule_list(request: HttpRequest) -> HttpResponse:
    form = IncentiveRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            incentive_rule_create(actor=request.staff, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Rule added."))
            return redirect("analytics:rule_list")
    rules = IncentiveRule.objects.select_related("created_by").order_by("kind", "-effective_from")
    return render(request, "analytics/rule_list.html", {"form": form, "rules": rules})
