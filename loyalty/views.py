"""Counter redemption, member points, adjustments, and HQ's tier and points rules."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from customers.models import Customer
from customers.selectors import member_or_404
from loyalty import history, selectors, services
from loyalty.forms import (
    AdjustForm,
    CapModeForm,
    MemberLookupForm,
    MonthForm,
    PeriodForm,
    PointsRuleForm,
    RedeemForm,
    StatementDecideForm,
    StoreCapForm,
    TierBuyForm,
    TierForm,
)
from loyalty.models import SettlementStatement, StatementStatus, StorePointsCap, Tier
from stores.models import Store
from tenancy.access import get_scoped_or_404, roles_allowed, scope_to_stores
from tenancy.dates import tenant_today
from tenancy.encryption import phone_index
from tenancy.models import ALL_ROLES, HQ_ROLES, Role

ADJUST_ROLES = {Role.HQ_ADMIN, Role.STORE_MANAGER}


def _member(pk: int) -> Customer:
    return member_or_404(pk)


def profile_panel_context(request: HttpRequest, customer: Customer) -> dict:
    """The points panel on the member profile page (customers.profile)."""
    summary = selectors.points_summary(customer=customer)
    return {
        "customer": customer,
        "summary": summary,
        "progress": selectors.tier_progress(account=summary.account),
        "can_buy_tier": getattr(getattr(request, "staff", None), "role", None)
        in services.TIER_PURCHASE_ROLES,
    }


@roles_allowed(ALL_ROLES)
def counter(request: HttpRequest) -> HttpResponse:
    form = MemberLookupForm(request.GET or None)
    members = None
    if form.is_valid():
        q = form.cleaned_data["q"].strip()
        lookup = Q(card_number=q) | Q(phone_hash=phone_index(q))
        if q.isdigit() and len(q) == 4:
            lookup |= Q(phone_last4=q)
        members = list(Customer.objects.active().filter(lookup).order_by("pk")[:20])
        # Names are encrypted: the few matches are put in name order here.
        members.sort(key=lambda member: (str(member.name), member.pk))
        if len(members) == 1:
            return redirect("loyalty:redeem", pk=members[0].pk)
    return render(request, "loyalty/counter.html", {"form": form, "members": members})


@roles_allowed(ALL_ROLES)
def redeem(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _member(pk)
    form = RedeemForm(request.POST or None, staff=request.staff)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            entry = services.points_redeem(
                customer=customer,
                points=data["points"],
                source_key=f"counter-redeem:{data['token']}",
                store=data["store"],
                staff=request.staff,
                reason=data["reason"],
            )
        except services.PointsError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                _("Redeemed %(points)d points for %(reason)s. Balance now %(balance)d.")
                % {"points": -entry.points, "reason": entry.reason, "balance": entry.balance_after},
            )
            return redirect("loyalty:redeem", pk=customer.pk)
    summary = selectors.points_summary(customer=customer)
    return render(
        request,
        "loyalty/redeem.html",
        {
            "customer": customer,
            "summary": summary,
            "form": form,
            "for_sale": services.tier_for_sale(summary.account),
            "can_buy_tier": request.staff.role in services.TIER_PURCHASE_ROLES,
        },
    )


@roles_allowed(ALL_ROLES)
def member_points(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _member(pk)
    summary = selectors.points_summary(customer=customer)
    page = Paginator(selectors.points_history(customer=customer), 50).get_page(
        request.GET.get("page")
    )
    for entry in page.object_list:
        entry.source = history.describe_source(entry.source_key)
        entry.reason_text = history.describe_reason(entry.reason)
    return render(
        request,
        "loyalty/member_points.html",
        {
            "customer": customer,
            "summary": summary,
            "page": page,
            "can_adjust": request.staff.role in ADJUST_ROLES
            and services.adjust_allowed_for(request.staff, customer),
        },
    )


@roles_allowed(ADJUST_ROLES)
def adjust(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _member(pk)
    form = AdjustForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.points_adjust(
                customer=customer,
                points=data["points"],
                reason=data["reason"],
                staff=request.staff,
                source_key=f"adjust:{data['token']}",
            )
        except services.PointsError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Points adjusted."))
            return redirect("loyalty:member_points", pk=customer.pk)
    rule = services.points_rule()
    return render(
        request,
        "loyalty/adjust.html",
        {
            "customer": customer,
            "form": form,
            "limit": services.adjust_limit_for(request.staff, rule),
            "budget": services.adjust_budget_for(request.staff, rule),
            "used": services.adjust_used_this_month(request.staff),
            "allowed": services.adjust_allowed_for(request.staff, customer),
            "summary": selectors.points_summary(customer=customer),
        },
    )


@roles_allowed(Role.HQ_ADMIN)
def settings_view(request: HttpRequest) -> HttpResponse:
    rule = services.points_rule()
    form = PointsRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        services.points_rule_save(rule=form.save(commit=False), staff=request.staff)
        messages.success(request, _("Points rules saved."))
        return redirect("loyalty:settings")
    tiers = Tier.objects.order_by("order")
    return render(request, "loyalty/settings.html", {"form": form, "tiers": tiers})


@roles_allowed(Role.HQ_ADMIN)
def tier_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Edit a tier. A change to who qualifies (thresholds, window, retention) is previewed
    first: who would move up and down, per store and per tier, and HQ applies it now or at
    the next evaluation (loyalty.services.tier_review)."""
    tier = get_object_or_404(Tier, pk=pk) if pk is not None else None
    form = TierForm(request.POST or None, instance=tier)
    preview = None
    if request.method == "POST" and form.is_valid():
        edited = form.save(commit=False)
        if not services.rules_changed(edited):
            services.tier_save(tier=edited, staff=request.staff)
            messages.success(request, _("Tier saved."))
            return redirect("loyalty:settings")
        signature = services.rules_signature(edited)
        when = request.POST.get("apply")
        if when in ("now", "next") and form.cleaned_data["previewed"] == signature:
            counts = services.tier_rules_change(tier=edited, when=when, staff=request.staff)
            if counts is None:
                messages.success(request, _("Tier rules scheduled for the next evaluation."))
            else:
                messages.success(
                    request,
                    _(
                        "Tier rules applied: %(up)d members moved up, %(down)d down, "
                        "%(grace)d keep their tier in a grace period."
                    )
                    % {
                        "up": counts["upgraded"],
                        "down": counts["downgraded"],
                        "grace": counts["grace"],
                    },
                )
            return redirect("loyalty:settings")
        preview = services.tiers_preview(tiers=services.proposed_tiers(edited))
        data = request.POST.copy()
        data["previewed"] = signature
        form = TierForm(data, instance=get_object_or_404(Tier, pk=pk))
        form.is_valid()
    return render(
        request, "loyalty/tier_form.html", {"form": form, "tier": tier, "preview": preview}
    )


@roles_allowed(services.TIER_PURCHASE_ROLES)
def tier_buy(request: HttpRequest, pk: int) -> HttpResponse:
    """Upgrade with points (积分升级) at the counter."""
    customer = _member(pk)
    form = TierBuyForm(request.POST or None, staff=request.staff)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            entry = services.tier_buy_with_points(
                customer=customer,
                source_key=f"tier-buy:{data['token']}",
                store=data["store"],
                staff=request.staff,
            )
        except services.PointsError as error:
            form.add_error(None, error)
        else:
            customer.refresh_from_db()
            messages.success(
                request,
                _("%(name)s is now %(tier)s; %(points)d points spent. Balance now %(balance)d.")
                % {
                    "name": customer.name,
                    "tier": customer.tier_name,
                    "points": -entry.points,
                    "balance": entry.balance_after,
                },
            )
            return redirect("loyalty:redeem", pk=customer.pk)
    summary = selectors.points_summary(customer=customer)
    return render(
        request,
        "loyalty/tier_buy.html",
        {
            "customer": customer,
            "summary": summary,
            "progress": selectors.tier_progress(account=summary.account),
            "form": form,
        },
    )


# --- liability, settlement statements, issuance caps (issue 19, section 1) -----------------

STATEMENT_ROLES = HQ_ROLES | {Role.STORE_MANAGER}
DECIDE_ROLES = {Role.HQ_ADMIN, Role.STORE_MANAGER}


def _download(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _file_format(request: HttpRequest) -> str | None:
    value = request.GET.get("format")
    return value if value in ("csv", "xlsx") else None


@roles_allowed(HQ_ROLES)
def liability(request: HttpRequest) -> HttpResponse:
    """HQ's points liability per issuing store and per ownership type, for any period."""
    today = tenant_today()
    form = PeriodForm(request.GET or {"start": today.replace(day=1), "end": today})
    report = None
    if form.is_valid():
        report = services.liability_report(
            start=form.cleaned_data["start"], end=form.cleaned_data["end"]
        )
        file_format = _file_format(request)
        if file_format:
            return _download(
                *services.liability_export(
                    report=report, staff=request.staff, file_format=file_format
                )
            )
    return render(request, "loyalty/liability.html", {"form": form, "report": report})


@roles_allowed(STATEMENT_ROLES)
def statements(request: HttpRequest) -> HttpResponse:
    """Settlement statements: HQ sees every store's, a store manager their stores' own."""
    queryset = scope_to_stores(
        SettlementStatement.objects.select_related("store", "store__store_type"), request.staff
    ).order_by("-month", "store__code")
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    last_month = services.settlement.previous_month(tenant_today())
    return render(
        request,
        "loyalty/statements.html",
        {
            "page": page,
            "generate_form": MonthForm(initial={"month": last_month}),
            "can_generate": request.staff.role == Role.HQ_ADMIN,
        },
    )


@roles_allowed(Role.HQ_ADMIN)
def statements_generate(request: HttpRequest) -> HttpResponse:
    """HQ's button: (re)generate any month's statements; confirmed ones are kept."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = MonthForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a month."))
        return redirect("loyalty:statements")
    result = services.settlement_generate(month=form.cleaned_data["month"], staff=request.staff)
    messages.success(
        request,
        _("%(written)d statements written; %(kept)d confirmed statements kept as they were.")
        % {"written": len(result.written), "kept": len(result.kept)},
    )
    return redirect("loyalty:statements")


def _statement(request: HttpRequest, pk: int) -> SettlementStatement:
    return get_scoped_or_404(
        SettlementStatement.objects.select_related("store", "decided_by", "generated_by"),
        request.staff,
        pk=pk,
    )


@roles_allowed(STATEMENT_ROLES)
def statement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    statement = _statement(request, pk)
    file_format = _file_format(request)
    if file_format:
        return _download(
            *services.statement_export(
                statement=statement, staff=request.staff, file_format=file_format
            )
        )
    lines = statement.lines.select_related(
        "redemption", "issue_entry", "issuing_store", "redeeming_store"
    ).order_by("redeemed_at", "draw_id")
    page = Paginator(lines, 100).get_page(request.GET.get("page"))
    for line in page.object_list:
        line.redemption_source = history.describe_source(line.redemption.source_key)
        line.issue_source = history.describe_source(line.issue_entry.source_key)
    return render(
        request,
        "loyalty/statement_detail.html",
        {
            "statement": statement,
            "page": page,
            "can_decide": request.staff.role in DECIDE_ROLES
            and statement.status != StatementStatus.CONFIRMED,
            "can_regenerate": request.staff.role == Role.HQ_ADMIN
            and statement.status != StatementStatus.CONFIRMED,
            "decide_form": StatementDecideForm(),
        },
    )


@roles_allowed(DECIDE_ROLES)
def statement_decide(request: HttpRequest, pk: int) -> HttpResponse:
    statement = _statement(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = StatementDecideForm(request.POST)
    if form.is_valid():
        try:
            services.statement_decide(
                statement=statement,
                confirm=form.cleaned_data["decision"] == "confirm",
                staff=request.staff,
                note=form.cleaned_data["note"],
            )
        except services.PointsError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("The statement's status was recorded."))
    return redirect("loyalty:statement", pk=statement.pk)


@roles_allowed(Role.HQ_ADMIN)
def statement_regenerate(request: HttpRequest, pk: int) -> HttpResponse:
    statement = _statement(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        services.settlement_generate(
            month=statement.month, store=statement.store, staff=request.staff
        )
    except services.PointsError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("The statement was regenerated from the ledger."))
    return redirect("loyalty:statement", pk=statement.pk)


@roles_allowed(Role.HQ_ADMIN)
def caps(request: HttpRequest) -> HttpResponse:
    """Monthly points caps per store, the tenant's mode at the cap, and this month's issue."""
    rule = services.points_rule()
    mode_form = CapModeForm(request.POST or None, instance=rule)
    if request.method == "POST" and mode_form.is_valid():
        services.points_rule_save(rule=mode_form.save(commit=False), staff=request.staff)
        messages.success(request, _("Points rules saved."))
        return redirect("loyalty:caps")
    return render(
        request,
        "loyalty/caps.html",
        {"mode_form": mode_form, "rows": services.store_caps_overview()},
    )


@roles_allowed(Role.HQ_ADMIN)
def cap_edit(request: HttpRequest, pk: int) -> HttpResponse:
    store = get_object_or_404(Store, pk=pk)
    current = StorePointsCap.objects.filter(store=store).first()
    form = StoreCapForm(
        request.POST or None, initial={"monthly_cap": current.monthly_cap if current else None}
    )
    if request.method == "POST" and form.is_valid():
        services.store_points_cap_set(
            store=store, monthly_cap=form.cleaned_data["monthly_cap"], staff=request.staff
        )
        messages.success(request, _("The store's points cap was saved."))
        return redirect("loyalty:caps")
    return render(request, "loyalty/cap_form.html", {"form": form, "store": store})
