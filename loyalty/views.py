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
from loyalty.forms import (
    AdjustForm,
    MemberLookupForm,
    PointsRuleForm,
    RedeemForm,
    TierBuyForm,
    TierForm,
)
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
        "can_buy_tier": getattr(getattr(request, "staff", None), "role", None)
        in services.TIER_PURCHASE_ROLES,
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
