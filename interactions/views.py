"""Pages for the contact log and service cases. Thin: form -> one service -> redirect."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import F
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from customers.models import Customer
from customers.selectors import member_or_404
from interactions import selectors, services
from interactions.filters import CaseFilter
from interactions.forms import (
    AssignForm,
    AttachmentForm,
    CaseForm,
    CategoryForm,
    CommentForm,
    FollowUpForm,
    LeadForm,
    LoseForm,
    MemberProfileForm,
    QuickEntryForm,
    ReferralForm,
    SurveyAnswerForm,
    TransitionForm,
    WinForm,
)
from interactions.models import (
    SCORE_RANGE,
    CaseAttachment,
    CaseCategory,
    Channel,
    LeadStatus,
    MemberProfile,
    Referral,
    Survey,
    SurveyResponse,
)
from tenancy.access import get_scoped_or_404, public, roles_allowed, scope_to_stores
from tenancy.context import tenant_context
from tenancy.dates import tenant_today
from tenancy.filters import filtered
from tenancy.models import ALL_ROLES, HQ_ROLES, Role
from tenancy.views import apply_validation_error

MANAGERS = HQ_ROLES | {Role.STORE_MANAGER}


def _member_or_404(pk: int) -> Customer:
    return member_or_404(pk)


def _member_from_query(request: HttpRequest) -> Customer | None:
    # "Open a case" / "Record a lead" on a member's page name the member as ?member=<id>.
    member_pk = request.GET.get("member", "")
    if not member_pk.isdigit():
        return None
    return Customer.objects.active().filter(pk=member_pk).first()


def _case_or_404(request: HttpRequest, pk: int):
    return get_scoped_or_404(selectors.cases_for(request.staff), request.staff, pk=pk)


# ---------------------------------------------------------------------------------------
# Counter quick entry and the member timeline


@roles_allowed(ALL_ROLES)
def quick(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    results = selectors.member_search(query) if query else []
    return render(request, "interactions/quick.html", {"query": query, "results": results})


@roles_allowed(ALL_ROLES)
def quick_member(request: HttpRequest, member_pk: int) -> HttpResponse:
    member = _member_or_404(member_pk)
    form = QuickEntryForm(request.POST or None, staff=request.staff)
    if request.method == "POST" and form.is_valid():
        try:
            services.interaction_record(staff=request.staff, member=member, **form.cleaned_data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Recorded for %(name)s.") % {"name": member.name})
            return redirect("interactions:quick")
    recent = selectors.member_timeline(member, limit=5)
    return render(
        request,
        "interactions/quick_member.html",
        {"member": member, "form": form, "recent": recent, "channels": Channel.choices},
    )


@roles_allowed(ALL_ROLES)
def member_timeline(request: HttpRequest, member_pk: int) -> HttpResponse:
    member = _member_or_404(member_pk)
    profile = MemberProfile.objects.filter(member=member).first()
    return render(
        request,
        "interactions/member_timeline.html",
        {
            "member": member,
            "profile": profile,
            "anniversary": selectors.membership_anniversary(
                member, tenant_today(), request.tenant.zone
            ),
            "timeline": selectors.member_timeline(member),
            "referral": Referral.objects.filter(referred=member).select_related("referrer").first(),
            "referral_count": Referral.objects.filter(referrer=member).count(),
            "referral_form": ReferralForm(),
        },
    )


# ---------------------------------------------------------------------------------------
# Cases


@roles_allowed(ALL_ROLES)
def case_list(request: HttpRequest) -> HttpResponse:
    visible = selectors.cases_for(request.staff)
    case_filter = CaseFilter(request.GET, queryset=visible, staff=request.staff)
    cases, status = filtered(case_filter)
    cases = cases.order_by("due_at", "pk")
    page = Paginator(cases, 50).get_page(request.GET.get("page"))
    figures = selectors.sla_figures(visible) if request.staff.role in MANAGERS else None
    return render(
        request,
        "interactions/case_list.html",
        {"filter": case_filter, "page": page, "figures": figures},
        status=status,
    )


@roles_allowed(ALL_ROLES)
def case_create(request: HttpRequest) -> HttpResponse:
    form = CaseForm(request.POST or None, staff=request.staff)
    form.prefill_member(_member_from_query(request))
    if request.method == "POST" and form.is_valid():
        try:
            case = services.case_open(actor=request.staff, **form.cleaned_data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Case #%(number)s opened.") % {"number": case.pk})
            return redirect("interactions:case_detail", pk=case.pk)
    return render(request, "interactions/case_form.html", {"form": form})


@roles_allowed(ALL_ROLES)
def case_detail(request: HttpRequest, pk: int, forms: dict | None = None) -> HttpResponse:
    case = _case_or_404(request, pk)
    forms = forms or {}
    context = {
        "case": case,
        "comments": case.comments.select_related("author"),
        "attachments": case.attachments.all(),
        "comment_form": forms.get("comment", CommentForm()),
        "attachment_form": forms.get("attachment", AttachmentForm()),
        "transition_error": forms.get("transition_error"),
        "can_assign": request.staff.role in MANAGERS,
        "surveys": [
            {
                "survey": survey,
                "url": request.build_absolute_uri(services.survey_path(survey)),
                "answered": bool(survey.responses.all()),
            }
            for survey in case.surveys.prefetch_related("responses")
        ],
    }
    if request.staff.role in MANAGERS:
        context["assign_form"] = forms.get(
            "assign", AssignForm(store=case.store, initial={"assignee": case.assignee_id})
        )
    return render(request, "interactions/case_detail.html", context, status=400 if forms else 200)


def _post_only(request: HttpRequest, pk: int):
    """Look the case up first (404 outside the scope), then refuse anything but POST."""
    case = _case_or_404(request, pk)
    if request.method != "POST":
        return case, HttpResponseNotAllowed(["POST"])
    return case, None


@roles_allowed(ALL_ROLES)
def case_transition(request: HttpRequest, pk: int) -> HttpResponse:
    case, refused = _post_only(request, pk)
    if refused:
        return refused
    form = TransitionForm(request.POST)
    if form.is_valid():
        try:
            services.case_transition(
                actor=request.staff, case=case, status=form.cleaned_data["status"]
            )
        except ValidationError as error:
            return case_detail(request, pk, forms={"transition_error": error.messages})
        messages.success(request, _("Status changed."))
    return redirect("interactions:case_detail", pk=case.pk)


@roles_allowed(MANAGERS)
def case_assign(request: HttpRequest, pk: int) -> HttpResponse:
    case, refused = _post_only(request, pk)
    if refused:
        return refused
    form = AssignForm(request.POST, store=case.store)
    if form.is_valid():
        try:
            services.case_assign(
                actor=request.staff, case=case, assignee=form.cleaned_data["assignee"]
            )
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Case reassigned."))
            return redirect("interactions:case_detail", pk=case.pk)
    return case_detail(request, pk, forms={"assign": form})


@roles_allowed(ALL_ROLES)
def case_comment(request: HttpRequest, pk: int) -> HttpResponse:
    case, refused = _post_only(request, pk)
    if refused:
        return refused
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            services.case_comment_add(
                actor=request.staff, case=case, text=form.cleaned_data["text"]
            )
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            return redirect("interactions:case_detail", pk=case.pk)
    return case_detail(request, pk, forms={"comment": form})


@roles_allowed(ALL_ROLES)
def case_attach(request: HttpRequest, pk: int) -> HttpResponse:
    case, refused = _post_only(request, pk)
    if refused:
        return refused
    form = AttachmentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.case_attachment_add(
                actor=request.staff, case=case, upload=form.cleaned_data["file"]
            )
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("File attached."))
            return redirect("interactions:case_detail", pk=case.pk)
    return case_detail(request, pk, forms={"attachment": form})


@roles_allowed(ALL_ROLES)
def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    attachment = get_scoped_or_404(
        CaseAttachment.objects.select_related("case"), request.staff, "case__store", pk=pk
    )
    response = FileResponse(
        attachment.file.open("rb"), as_attachment=True, filename=attachment.name
    )
    response["Content-Type"] = attachment.content_type
    response["X-Content-Type-Options"] = "nosniff"
    return response


# ---------------------------------------------------------------------------------------
# Case categories and their service levels (HQ)


@roles_allowed(HQ_ROLES)
def category_list(request: HttpRequest) -> HttpResponse:
    form = CategoryForm(request.POST or None)
    if request.method == "POST":
        if request.staff.role != Role.HQ_ADMIN:
            return HttpResponse(status=403)
        if form.is_valid():
            try:
                services.case_category_save(actor=request.staff, **form.cleaned_data)
            except ValidationError as error:
                apply_validation_error(form, error)
            else:
                messages.success(request, _("Category saved."))
                return redirect("interactions:category_list")
    return render(
        request,
        "interactions/category_list.html",
        {"categories": CaseCategory.objects.all(), "form": form},
    )


@roles_allowed(Role.HQ_ADMIN)
def category_edit(request: HttpRequest, pk: int) -> HttpResponse:
    category = get_object_or_404(CaseCategory, pk=pk)
    form = CategoryForm(
        request.POST or None,
        initial={
            "name": category.name,
            "kind": category.kind,
            "sla_hours": category.sla_hours,
            "is_active": category.is_active,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.case_category_save(actor=request.staff, category=category, **form.cleaned_data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Category saved."))
            return redirect("interactions:category_list")
    return render(request, "interactions/category_form.html", {"form": form, "category": category})


# ---------------------------------------------------------------------------------------
# Sales leads


def _lead_or_404(request: HttpRequest, pk: int):
    return get_scoped_or_404(selectors.leads_for(request.staff), request.staff, pk=pk)


@roles_allowed(ALL_ROLES)
def lead_today(request: HttpRequest) -> HttpResponse:
    today = tenant_today()
    due = selectors.leads_due(request.staff, today)
    upcoming = selectors.leads_for(request.staff).filter(status=LeadStatus.OPEN)
    if request.staff.role == Role.CLERK:
        upcoming = upcoming.filter(owner=request.staff)
    upcoming = upcoming.exclude(pk__in=due.values("pk")).order_by(
        F("follow_up_on").asc(nulls_last=True), "pk"
    )
    return render(
        request,
        "interactions/lead_today.html",
        {"today": today, "due": due, "upcoming": upcoming[:100]},
    )


@roles_allowed(ALL_ROLES)
def lead_create(request: HttpRequest) -> HttpResponse:
    form = LeadForm(request.POST or None, staff=request.staff)
    form.prefill_member(_member_from_query(request))
    if request.method == "POST" and form.is_valid():
        try:
            lead = services.lead_create(staff=request.staff, **form.cleaned_data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Lead recorded."))
            return redirect("interactions:lead_detail", pk=lead.pk)
    return render(request, "interactions/lead_form.html", {"form": form})


@roles_allowed(ALL_ROLES)
def lead_detail(request: HttpRequest, pk: int, forms: dict | None = None) -> HttpResponse:
    lead = _lead_or_404(request, pk)
    forms = forms or {}
    return render(
        request,
        "interactions/lead_detail.html",
        {
            "lead": lead,
            "follow_ups": lead.follow_ups.select_related("staff"),
            "follow_up_form": forms.get(
                "follow_up",
                FollowUpForm(
                    initial={"next_step": lead.next_step, "follow_up_on": lead.follow_up_on}
                ),
            ),
            "win_form": forms.get("win", WinForm()),
            "lose_form": forms.get("lose", LoseForm()),
        },
        status=400 if forms else 200,
    )


def _lead_post(request: HttpRequest, pk: int, form_class, key: str, service, success: str):
    lead = _lead_or_404(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = form_class(request.POST)
    if form.is_valid():
        try:
            service(staff=request.staff, lead=lead, **form.cleaned_data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, success)
            return redirect("interactions:lead_detail", pk=lead.pk)
    return lead_detail(request, pk, forms={key: form})


@roles_allowed(ALL_ROLES)
def lead_follow_up(request: HttpRequest, pk: int) -> HttpResponse:
    return _lead_post(
        request, pk, FollowUpForm, "follow_up", services.lead_follow_up, _("Follow-up saved.")
    )


@roles_allowed(ALL_ROLES)
def lead_win(request: HttpRequest, pk: int) -> HttpResponse:
    return _lead_post(request, pk, WinForm, "win", services.lead_win, _("Lead won."))


@roles_allowed(ALL_ROLES)
def lead_lose(request: HttpRequest, pk: int) -> HttpResponse:
    return _lead_post(request, pk, LoseForm, "lose", services.lead_lose, _("Lead closed as lost."))


@roles_allowed(MANAGERS)
def lead_conversion(request: HttpRequest) -> HttpResponse:
    leads = selectors.leads_for(request.staff)
    return render(
        request,
        "interactions/lead_conversion.html",
        {
            "by_store": selectors.lead_conversion(leads, "store"),
            "by_owner": selectors.lead_conversion(leads, "owner"),
        },
    )


# ---------------------------------------------------------------------------------------
# Satisfaction surveys

REFUSED_STATUS = {"invalid": 404, "expired": 410, "answered": 409}


@public
@never_cache
def survey_answer(request: HttpRequest, token: str) -> HttpResponse:
    """The member's answer page: no sign-in; the signed link names tenant and survey."""
    try:
        tenant, survey_pk = services.survey_from_token(token)
        # Work as the link's tenant, whoever (if anyone) is signed in on this browser.
        with tenant_context(tenant):
            survey = Survey.objects.select_related("store").filter(pk=survey_pk).first()
            if survey is None:
                raise services.SurveyRefused("invalid")
            if survey.responses.exists():
                raise services.SurveyRefused("answered")
            if survey.expires_at <= timezone.now():
                raise services.SurveyRefused("expired")
            low, high = SCORE_RANGE[survey.kind]
            form = SurveyAnswerForm(request.POST or None, low=low, high=high)
            if request.method == "POST" and form.is_valid():
                try:
                    services.survey_answer(survey=survey, **form.cleaned_data)
                except ValidationError as error:
                    apply_validation_error(form, error)
                else:
                    return render(request, "interactions/survey_thanks.html", {"tenant": tenant})
            return render(
                request,
                "interactions/survey_answer.html",
                {"survey": survey, "form": form, "tenant": tenant, "low": low, "high": high},
            )
    except services.SurveyRefused as refused:
        return render(
            request,
            "interactions/survey_refused.html",
            {"reason": refused.reason},
            status=REFUSED_STATUS[refused.reason],
        )


@roles_allowed(MANAGERS)
def survey_results(request: HttpRequest) -> HttpResponse:
    surveys = scope_to_stores(Survey.objects.all(), request.staff)
    return render(
        request,
        "interactions/survey_results.html",
        {
            "by_store": selectors.survey_results(surveys, "store"),
            "by_category": selectors.survey_results(surveys, "category"),
            "low_answers": SurveyResponse.objects.filter(survey__in=surveys)
            .exclude(follow_up_case=None)
            .select_related("survey__member", "follow_up_case")
            .order_by("-answered_at")[:20],
        },
    )


# ---------------------------------------------------------------------------------------
# Member profile


@roles_allowed(ALL_ROLES)
def member_profile_edit(request: HttpRequest, member_pk: int) -> HttpResponse:
    member = _member_or_404(member_pk)
    profile = MemberProfile.objects.filter(member=member).first()
    initial = {name: getattr(profile, name) for name in services.PROFILE_FIELDS} if profile else {}
    form = MemberProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.member_profile_update(staff=request.staff, member=member, **form.cleaned_data)
        messages.success(request, _("Profile saved."))
        return redirect("interactions:member_timeline", member_pk=member.pk)
    return render(
        request, "interactions/member_profile_form.html", {"form": form, "member": member}
    )


@roles_allowed(ALL_ROLES)
def member_referral(request: HttpRequest, member_pk: int) -> HttpResponse:
    member = _member_or_404(member_pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = ReferralForm(request.POST)
    if form.is_valid():
        try:
            services.referral_record(
                staff=request.staff, referred=member, referrer=form.cleaned_data["referrer"]
            )
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("Referral recorded."))
    else:
        for error in form.errors.get("referrer", []):
            messages.error(request, error)
    return redirect("interactions:member_timeline", member_pk=member.pk)
