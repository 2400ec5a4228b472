"""Campaign pages: campaigns and their report, coupon offers, the outbox, messaging rules.

Thin: check the form, call one service, redirect. Store managers see and write only campaigns
whose stores are all their own; a campaign for the whole chain is HQ's.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from campaigns import hooks, selectors, services, tasks
from campaigns.filters import DeliveryFilter
from campaigns.forms import (
    AudienceForm,
    CampaignForm,
    CampaignSettingsForm,
    CancelForm,
    CouponIssueForm,
    CouponOfferForm,
    CouponVoidForm,
    PreviewForm,
    find_member,
)
from campaigns.models import (
    Audience,
    Campaign,
    CampaignStatus,
    CampaignStore,
    Channel,
    Coupon,
    CouponOffer,
    Schedule,
)
from campaigns.senders import SMS_REPLY_PARSERS
from customers.models import Customer
from tenancy.access import public, roles_allowed
from tenancy.context import tenant_context
from tenancy.filters import filtered
from tenancy.models import HQ_ROLES, Role, StaffMember, Tenant
from tenancy.views import apply_validation_error

MANAGERS = HQ_ROLES | {Role.STORE_MANAGER}
PAGE_SIZE = 50


def _posted(request: HttpRequest):
    """The POST data, even when empty (an empty form must show its errors, not a new form)."""
    return request.POST if request.method == "POST" else None


def _campaigns_for(staff: StaffMember) -> QuerySet[Campaign]:
    """HQ: every campaign. Store manager: campaigns with stores, all of them their own."""
    rows = Campaign.objects.all()
    if staff.is_hq:
        return rows
    links = CampaignStore.objects.all()
    return rows.filter(pk__in=links.values("campaign_id")).exclude(
        pk__in=links.exclude(store_id__in=staff.store_ids).values("campaign_id")
    )


def _audience_lines(campaign: Campaign) -> list[tuple[str, str]]:
    """The campaign's conditions as (label, value) lines a person can read."""
    from customers.forms import CriteriaForm
    from customers.models import Tag
    from loyalty.models import Tier
    from stores.models import Store

    if campaign.audience == Audience.SEGMENT and campaign.segment_id:
        criteria = campaign.segment.criteria or {}
    else:
        criteria = campaign.criteria or {}
    names = {
        "tags": lambda ids: "、".join(
            Tag.objects.filter(pk__in=ids).values_list("name", flat=True)
        ),
        "home_stores": lambda ids: "、".join(
            Store.objects.filter(pk__in=ids).order_by("code").values_list("name", flat=True)
        ),
        "tier_code": lambda code: (
            Tier.objects.filter(code=code).values_list("name", flat=True).first() or code
        ),
        "lunar_birthday_this_month": lambda _value: pgettext("yes or no", "Yes"),
    }
    lines = []
    for key, field in CriteriaForm.base_fields.items():
        value = criteria.get(key)
        if key == "marketing_consent" or value in (None, "", []):
            continue
        label = _("Tier") if key == "tier_code" else field.label
        lines.append((str(label), str(names[key](value) if key in names else value)))
    # The conditions the apps above add (e.g. "likely to buy" a SKU) are stored as text.
    for key, (label, _help) in hooks.audience_fields().items():
        if criteria.get(key):
            lines.append((str(label), str(criteria[key])))
    return lines


def _signed(value) -> str:
    return "" if value is None else f"{value:+}"


def _campaign(request: HttpRequest, pk: int) -> Campaign:
    return get_object_or_404(
        _campaigns_for(request.staff).select_related("offer", "segment", "created_by"), pk=pk
    )


# ---------------------------------------------------------------------------------------
# Campaigns


@roles_allowed(MANAGERS)
def campaign_list(request: HttpRequest) -> HttpResponse:
    rows = (
        _campaigns_for(request.staff)
        .select_related("offer", "segment")
        .prefetch_related("stores")
        .annotate(run_count=Count("runs"), targeted_total=Sum("runs__targeted"))
        .order_by("-created_at", "-pk")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "campaigns/campaign_list.html", {"page": page})


@roles_allowed(MANAGERS)
def campaign_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    campaign = _campaign(request, pk) if pk is not None else None
    if campaign is not None and not campaign.is_editable:
        messages.error(request, _("This campaign was sent and can no longer be edited."))
        return redirect("campaigns:campaign_detail", pk=campaign.pk)
    staff = request.staff
    form = CampaignForm(_posted(request), staff=staff, campaign=campaign)
    if request.method == "POST" and form.is_valid():
        target = form.apply(campaign or Campaign())
        try:
            saved = services.campaign_save(
                campaign=target,
                store_ids=[store.pk for store in form.cleaned_data["stores"]],
                staff=staff,
            )
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Campaign saved. Check it, then approve sending."))
            return redirect("campaigns:campaign_detail", pk=saved.pk)
    if campaign is not None:
        counts = services.campaign_audience_counts(campaign=campaign)
    else:
        own = [] if staff.is_hq else sorted(staff.store_ids)
        counts = services.audience_counts(criteria={}, store_ids=own)
    return render(
        request,
        "campaigns/campaign_form.html",
        {"form": form, "campaign": campaign, "counts": counts},
    )


@roles_allowed(MANAGERS)
def audience_count(request: HttpRequest) -> HttpResponse:
    """Live count for the campaign form: the audience as typed, not yet saved."""
    form = AudienceForm(request.GET, staff=request.staff)
    counts = None
    if form.is_valid():
        counts = services.audience_counts(
            criteria=form.audience_criteria(),
            store_ids=form.store_ids(),
            channel=form.cleaned_data["channel"],
        )
    return render(request, "campaigns/_audience.html", {"counts": counts, "form": form})


@roles_allowed(MANAGERS)
def preview(request: HttpRequest) -> HttpResponse:
    """The message as typed, rendered on a member looked up, or on the first one reached."""
    form = PreviewForm(request.GET)
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    template = data.get("template", "")
    query = data.get("member_q", "")
    member = None
    if query:
        member = find_member(query)
    else:
        audience = AudienceForm(request.GET, staff=request.staff)
        if audience.is_valid():
            member = selectors.first_audience_member(
                criteria=audience.audience_criteria(), store_ids=audience.store_ids()
            )
    text = error = ""
    length = None
    channel = data.get("channel") or ""
    if member is not None and template.strip():
        try:
            text = services.message_preview(template=template, member=member)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            # Shown as sent: with the unsubscribe instruction, which the carrier counts too.
            text = services.marketing_text(
                text, channel=channel, rules=services.campaign_settings(), member=member
            )
            if channel == Channel.SMS:
                length = services.sms_length(text)
    return render(
        request,
        "campaigns/_preview.html",
        {
            "member": member,
            "text": text,
            "error": error,
            "query": query,
            "template": template,
            "sms_length": length,
        },
    )


@roles_allowed(MANAGERS)
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk)
    report = selectors.campaign_report(campaign=campaign)
    uplift = report["uplift"] or {}
    counts = (
        services.campaign_audience_counts(campaign=campaign)
        if campaign.status == CampaignStatus.DRAFT
        else None
    )
    return render(
        request,
        "campaigns/campaign_detail.html",
        {
            "campaign": campaign,
            "stores": list(campaign.stores.order_by("code")),
            "audience": _audience_lines(campaign),
            "report": report,
            # Signed, so a campaign that did worse than its holdout group reads as such.
            "uplift_money": _signed(uplift.get("revenue_per_member")),
            "uplift_points": _signed(uplift.get("conversion_points")),
            "uplift_percent": _signed(uplift.get("percent")),
            "counts": counts,
            "cancel_form": CancelForm(),
            "can_cancel": campaign.status not in (CampaignStatus.DONE, CampaignStatus.CANCELLED),
        },
    )


@roles_allowed(MANAGERS)
def campaign_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        # The run is queued inside this transaction and starts once it commits.
        with transaction.atomic():
            scheduled = services.campaign_schedule(campaign=campaign, staff=request.staff)
            if scheduled.schedule == Schedule.NOW:
                tasks.queue_campaign_now(scheduled.pk)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if scheduled.schedule == Schedule.NOW:
            messages.success(request, _("Approved: the campaign is being sent now."))
        else:
            messages.success(request, _("Approved: the campaign will be sent as scheduled."))
    return redirect("campaigns:campaign_detail", pk=campaign.pk)


@roles_allowed(MANAGERS)
def campaign_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the campaign is cancelled."))
        return redirect("campaigns:campaign_detail", pk=campaign.pk)
    try:
        services.campaign_cancel(
            campaign=campaign, staff=request.staff, reason=form.cleaned_data["reason"]
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Campaign cancelled. Messages not yet sent will not go out."))
    return redirect("campaigns:campaign_detail", pk=campaign.pk)


# ---------------------------------------------------------------------------------------
# Coupon offers (HQ)


@roles_allowed(HQ_ROLES)
def offer_list(request: HttpRequest) -> HttpResponse:
    offers = CouponOffer.objects.prefetch_related("stores").order_by("-created_at", "-pk")
    page = Paginator(offers, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "campaigns/offer_list.html", {"page": page, "now": timezone.now()})


@roles_allowed(HQ_ROLES)
def offer_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    offer = get_object_or_404(CouponOffer, pk=pk) if pk is not None else None
    form = CouponOfferForm(_posted(request), instance=offer)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.coupon_offer_save(
                offer=form.save(commit=False),
                stores=form.cleaned_data["stores_limit"],
                staff=request.staff,
            )
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Coupon offer saved."))
            return redirect("campaigns:offer_detail", pk=saved.pk)
    return render(request, "campaigns/offer_form.html", {"form": form, "offer": offer})


def _offer_page(
    request: HttpRequest, offer: CouponOffer, issue_form: CouponIssueForm | None = None
) -> HttpResponse:
    coupons = Coupon.objects.filter(offer=offer).select_related("member", "campaign")
    page = Paginator(coupons.order_by("-issued_at", "-pk"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "campaigns/offer_detail.html",
        {
            "offer": offer,
            "stores": list(offer.stores.order_by("code")),
            "page": page,
            "issue_form": issue_form or CouponIssueForm(),
            "void_form": CouponVoidForm(),
        },
    )


@roles_allowed(HQ_ROLES)
def offer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _offer_page(request, get_object_or_404(CouponOffer, pk=pk))


@roles_allowed(HQ_ROLES)
def offer_issue(request: HttpRequest, pk: int) -> HttpResponse:
    offer = get_object_or_404(CouponOffer, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = CouponIssueForm(request.POST)
    if form.is_valid():
        try:
            coupon, created = services.coupon_issue_by_hand(
                offer=offer,
                member=form.cleaned_data["member_q"],
                staff=request.staff,
                reason=form.cleaned_data["reason"],
                source_key=f"hand-issue:{form.cleaned_data['token']}",
            )
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            if created:
                message = _("Coupon %(code)s issued to %(name)s.")
            else:
                message = _("Coupon %(code)s was already issued to %(name)s; nothing was added.")
            messages.success(request, message % {"code": coupon.code, "name": coupon.member.name})
            return redirect("campaigns:offer_detail", pk=offer.pk)
    return _offer_page(request, offer, issue_form=form)


@roles_allowed(HQ_ROLES)
def coupon_void(request: HttpRequest, pk: int) -> HttpResponse:
    coupon = get_object_or_404(Coupon.objects.select_related("offer"), pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = CouponVoidForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the coupon is voided."))
    else:
        try:
            services.coupon_void(
                coupon=coupon, staff=request.staff, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Coupon %(code)s voided.") % {"code": coupon.code})
    return redirect("campaigns:offer_detail", pk=coupon.offer_id)


# ---------------------------------------------------------------------------------------
# Outbox and messaging rules


@roles_allowed(MANAGERS)
def outbox(request: HttpRequest) -> HttpResponse:
    staff = request.staff
    rows = selectors.outbox()
    if not staff.is_hq:
        rows = rows.filter(member__home_store_id__in=staff.store_ids)
    found = DeliveryFilter(request.GET or None, queryset=rows, campaigns=_campaigns_for(staff))
    rows, status = filtered(found)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "campaigns/outbox.html", {"filter": found, "page": page}, status=status)


@roles_allowed(Role.HQ_ADMIN)
def settings_view(request: HttpRequest) -> HttpResponse:
    form = CampaignSettingsForm(_posted(request), instance=services.campaign_settings())
    if request.method == "POST" and form.is_valid():
        try:
            services.campaign_settings_save(rules=form.save(commit=False), staff=request.staff)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Messaging rules saved."))
            return redirect("campaigns:settings")
    return render(request, "campaigns/settings.html", {"form": form})


# ---------------------------------------------------------------------------------------
# Unsubscribing: the member's e-mail link and the SMS provider's reply callback

# A reply callback is one short message; anything bigger is not from a provider.
MAX_REPLY_BODY = 8 * 1024


@public
@never_cache
@csrf_exempt  # the signed token is the credential; mail clients POST it without a form
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks (mail scanners open links and must not unsubscribe anyone); POST withdraws."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    try:
        tenant, member_pk = services.member_from_unsubscribe_token(token)
    except services.UnsubscribeRefused:
        return render(request, "campaigns/unsubscribe.html", {"state": "invalid"}, status=404)
    with tenant_context(tenant):
        member = Customer.objects.filter(pk=member_pk).first()
        if member is None or member.is_erased:
            state = "done"  # nothing of theirs left to send to
        elif request.method == "POST":
            services.email_unsubscribe(member=member)
            state = "done"
        else:
            state = "done" if not member.marketing_consent else "ask"
        return render(request, "campaigns/unsubscribe.html", {"state": state, "tenant": tenant})


@public
@csrf_exempt  # providers sign the body instead (X-Signature: HMAC-SHA256 of it)
def sms_reply_webhook(request: HttpRequest, tenant_slug: str, provider: str) -> HttpResponse:
    """A member's SMS reply, posted by the provider; "R"/"TD"/"退订" withdraws consent."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    parser = SMS_REPLY_PARSERS.get(provider)
    tenant = Tenant.objects.filter(slug=tenant_slug, is_active=True).first()
    if parser is None or tenant is None:
        return JsonResponse({"error": "not_found"}, status=404)
    if int(request.headers.get("Content-Length") or 0) > MAX_REPLY_BODY:
        return JsonResponse({"error": "too_large"}, status=413)
    body = request.body
    if not services.reply_signature_valid(body, request.headers.get("X-Signature", "")):
        services.logger.warning(
            "SMS reply refused: bad signature (tenant %s, %s)", tenant.pk, provider
        )
        return JsonResponse({"error": "bad_signature"}, status=403)
    try:
        reply = parser(body)
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"error": "bad_body"}, status=400)
    with tenant_context(tenant):
        record = services.sms_reply_receive(
            provider=provider,
            message_id=reply["id"],
            phone=reply["phone"],
            text=reply["text"],
            received_at=reply["received_at"],
        )
    return JsonResponse({"ok": True, "outcome": record.outcome})
