"""Counter redemption, member points, adjustments, and HQ's tier and points rules."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from customers.models import Customer
from customers.selectors import member_or_404
from loyalty import history, selectors, services
from loyalty.forms import AdjustForm, MemberLookupForm, PointsRuleForm, RedeemForm, TierForm
from loyalty.models import Tier
from tenancy.access import roles_allowed
from tenancy.models import ALL_ROLES, Role

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
    }


@roles_allowed(ALL_ROLES)
def counter(request: HttpRequest) -> HttpResponse:
    form = MemberLookupForm(request.GET or None)
    members = None
    if form.is_valid():
        q = form.cleaned_data["q"].strip()
        lookup = Q(card_number=q) | Q(phone=q)
        if q.isdigit() and len(q) == 4:
            lookup |= Q(phone_last4=q)
        members = list(Customer.objects.active().filter(lookup).order_by("name")[:20])
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
        {"customer": customer, "summary": summary, "form": form},
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
    tier = get_object_or_404(Tier, pk=pk) if pk is not None else None
    form = TierForm(request.POST or None, instance=tier)
    if request.method == "POST" and form.is_valid():
        services.tier_save(tier=form.save(commit=False), staff=request.staff)
        messages.success(request, _("Tier saved."))
        return redirect("loyalty:settings")
    return render(request, "loyalty/tier_form.html", {"form": form, "tier": tier})
