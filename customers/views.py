from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from customers import importing, selectors, services
from customers.forms import (
    BulkTagForm,
    ConsentForm,
    CriteriaForm,
    CustomerEditForm,
    EnrolForm,
    EraseForm,
    ImportForm,
    LookupForm,
    MergeForm,
    SegmentForm,
    TagChoiceForm,
    TagCreateForm,
)
from customers.history import render_history
from customers.models import Customer, ImportJob, Segment, Tag
from customers.profile import panels_for
from stores.models import Store
from tenancy.access import roles_allowed, scope_to_stores
from tenancy.models import ALL_ROLES, HQ_ROLES, OnboardingStep, Role
from tenancy.onboarding import onboarding_step_done
from tenancy.replica import view_reads_from_replica

LIST_ROLES = HQ_ROLES | {Role.STORE_MANAGER}


# POST-only views that name an object look it up before refusing GET, so another tenant's
# object is a 404 whatever the method.


def _customer(pk: int) -> Customer:
    return selectors.member_or_404(
        pk, include_erased=True, related=("home_store", "enrolled_by", "merged_into")
    )


def _is_fetch(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch" or "partial" in request.GET


@roles_allowed(ALL_ROLES)
def lookup(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    results = selectors.customer_lookup(query=query, staff=request.staff) if query.strip() else []
    context = {
        "query": query,
        "kind": selectors.classify_query(query).kind,
        "results": results,
        "limit": selectors.LAST4_LIMIT,
    }
    if _is_fetch(request):
        # The live lookup answers every keystroke at the counter: the partial needs none of
        # the context processors (navigation, help link, badges, CSRF) a page runs, so it is
        # rendered without them (issue 20: the request was 19-25x its query).
        return HttpResponse(get_template("customers/_lookup_results.html").render(context))
    return render(request, "customers/lookup.html", {**context, "form": LookupForm(request.GET)})


@roles_allowed(ALL_ROLES)
def enrol(request: HttpRequest) -> HttpResponse:
    staff = request.staff
    existing = None
    initial = {"phone": request.GET.get("phone", "")}
    own = (
        Store.objects.filter(pk__in=staff.store_ids).order_by("code").first()
        if not staff.is_hq
        else None
    )
    if own is not None:
        initial["home_store"] = own.pk
    form = EnrolForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.customer_enrol(staff=staff, **form.cleaned_data)
        except services.DuplicatePhone as exc:
            existing = exc.existing
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                _("Member enrolled, card number %(card)s.") % {"card": customer.card_number},
            )
            return redirect("customers:profile", pk=customer.pk)
    return render(request, "customers/enrol.html", {"form": form, "existing": existing})


@roles_allowed(ALL_ROLES)
def profile(request: HttpRequest, pk: int, revealed_phone: str = "") -> HttpResponse:
    customer = _customer(pk)
    # Looking a member up ends here; the live lookup itself stays write-free (tenancy/onboarding).
    onboarding_step_done(staff=request.staff, step=OnboardingStep.Step.LOOK_UP_MEMBER)
    context = {
        "customer": customer,
        "member_tags": customer.tags.all(),
        "tag_form": TagChoiceForm(),
        "consent_form": ConsentForm(
            initial={"consent": "1" if customer.marketing_consent else "0", "channel": "counter"}
        ),
        "erase_form": EraseForm(),
        "history": render_history(selectors.customer_history(customer=customer)),
        "panels": panels_for(request, customer),
        "can_reveal": request.staff.role in services.REVEAL_ROLES,
        "is_hq": request.staff.is_hq,
        "revealed_phone": revealed_phone,
    }
    return render(request, "customers/profile.html", context)


@roles_allowed(services.REVEAL_ROLES)
def reveal(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer(pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    phone = services.customer_reveal_phone(customer=customer, staff=request.staff)
    return profile.__wrapped__(request, pk, revealed_phone=phone)


@roles_allowed(ALL_ROLES)
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer(pk)
    if customer.is_erased:
        raise PermissionDenied
    form = CustomerEditForm(request.POST or None, customer=customer)
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_update(customer=customer, staff=request.staff, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Member updated."))
            return redirect("customers:profile", pk=customer.pk)
    return render(request, "customers/edit.html", {"form": form, "customer": customer})


@roles_allowed(ALL_ROLES)
def consent(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer(pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = ConsentForm(request.POST)
    if form.is_valid():
        try:
            services.customer_set_consent(
                customer=customer,
                staff=request.staff,
                consent=form.cleaned_data["consent"],
                channel=form.cleaned_data["channel"],
            )
            messages.success(request, _("Consent recorded."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    return redirect("customers:profile", pk=customer.pk)


@roles_allowed(ALL_ROLES)
def tag_add(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer(pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = TagChoiceForm(request.POST)
    if form.is_valid():
        services.customer_tag_add(
            customer=customer, tag=form.cleaned_data["tag"], staff=request.staff
        )
    return redirect("customers:profile", pk=customer.pk)


@roles_allowed(ALL_ROLES)
def tag_remove(request: HttpRequest, pk: int, tag_pk: int) -> HttpResponse:
    customer = _customer(pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    tag = get_object_or_404(Tag, pk=tag_pk)
    services.customer_tag_remove(customer=customer, tag=tag, staff=request.staff)
    return redirect("customers:profile", pk=customer.pk)


@roles_allowed(HQ_ROLES)
def erase(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer(pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = EraseForm(request.POST)
    if form.is_valid():
        try:
            services.customer_erase(
                customer=customer, staff=request.staff, reason=form.cleaned_data["reason"]
            )
            messages.success(request, _("The member's personal data was erased."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    else:
        messages.error(request, _("Give the reason for erasing."))
    return redirect("customers:profile", pk=customer.pk)


@roles_allowed(HQ_ROLES)
def personal_data(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer(pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    data = services.customer_personal_data(customer=customer, staff=request.staff)
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="member-{customer.pk}.json"'
    return response


def _criteria_form(request: HttpRequest) -> CriteriaForm:
    stores = scope_to_stores(Store.objects.order_by("code"), request.staff, store_field="pk")
    return CriteriaForm(request.GET or None, stores=stores)


def _filtered(request: HttpRequest, form: CriteriaForm):
    """The members in the staff's scope that match the filters; None when a filter value is
    invalid (e.g. another tenant's store), which the caller refuses instead of dropping it."""
    rows = selectors.customer_list(staff=request.staff)
    if not form.is_bound:
        return rows
    if not form.is_valid():
        return None
    return rows.filter(pk__in=selectors.criteria_queryset(form.criteria()).values("pk"))


def _list_url(request: HttpRequest) -> str:
    url = reverse("customers:list")
    return f"{url}?{request.GET.urlencode()}" if request.GET else url


def _member_list_page(request: HttpRequest, form: CriteriaForm, rows) -> HttpResponse:
    """The list, or, when a filter is invalid, its errors with no rows and a 400."""
    status = 200
    if rows is None:
        rows, status = Customer.objects.none(), 400
    page = Paginator(rows.order_by("-created_at", "-id"), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "customers/member_list.html",
        {
            "filter_form": form,
            "page": page,
            "bulk_form": BulkTagForm(),
            "query": request.GET.urlencode(),
            "is_hq": request.staff.is_hq,
        },
        status=status,
    )


@roles_allowed(LIST_ROLES)
def member_list(request: HttpRequest) -> HttpResponse:
    form = _criteria_form(request)
    return _member_list_page(request, form, _filtered(request, form))


@roles_allowed(LIST_ROLES)
@require_POST
def bulk_tag(request: HttpRequest) -> HttpResponse:
    """Two steps: the list's form asks, a page confirms with the count, the confirmation runs.

    The confirmation carries the count it showed; the service refuses when the filters now
    match another number, so an action never reaches more members than the user saw.
    """
    form = _criteria_form(request)
    rows = _filtered(request, form)
    if rows is None:
        messages.error(
            request, _("Nothing was tagged: a filter value is invalid. Correct the filters first.")
        )
        return redirect(_list_url(request))
    bulk = BulkTagForm(request.POST)
    if not bulk.is_valid():
        messages.error(request, _("Nothing was tagged: choose a tag and an action."))
        return redirect(_list_url(request))
    tag, action = bulk.cleaned_data["tag"], bulk.cleaned_data["action"]
    expected = bulk.cleaned_data["expected_count"]
    error = None
    if expected is not None:
        bulk_action = (
            services.customers_tag_bulk_add
            if action == "add"
            else services.customers_tag_bulk_remove
        )
        try:
            count = bulk_action(
                customers=rows, tag=tag, staff=request.staff, expected_count=expected
            )
        except ValidationError as exc:
            error = exc.messages[0]
        else:
            message = (
                _("Tag %(tag)s added to %(n)s members.")
                if action == "add"
                else _("Tag %(tag)s removed from %(n)s members.")
            )
            messages.success(request, message % {"tag": tag, "n": count})
            return redirect(_list_url(request))
    count = rows.count()
    return render(
        request,
        "customers/bulk_tag_confirm.html",
        {
            "form": BulkTagForm.confirmation(tag=tag, action=action, count=count),
            "count": count,
            "tag": tag,
            "adding": action == "add",
            "filtered": bool(form.is_bound and form.criteria()),
            "error": error,
            "query": request.GET.urlencode(),
            "list_url": _list_url(request),
        },
        status=409 if error else 200,
    )


@roles_allowed(HQ_ROLES)
@view_reads_from_replica
def export(request: HttpRequest) -> HttpResponse:
    form = _criteria_form(request)
    rows = _filtered(request, form)
    if rows is None:
        messages.error(
            request,
            _("Nothing was exported: a filter value is invalid. Correct the filters first."),
        )
        return _member_list_page(request, form, rows)
    file_format = request.GET.get("format", "csv")
    if file_format not in ("csv", "xlsx"):
        file_format = "csv"
    data = services.customers_export(customers=rows, staff=request.staff, file_format=file_format)
    content_type = {
        "csv": "text/csv; charset=utf-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }[file_format]
    response = HttpResponse(data, content_type=content_type)
    stamp = timezone.localtime(timezone=request.tenant.zone).strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="members-{stamp}.{file_format}"'
    return response


@roles_allowed(HQ_ROLES)
def tags(request: HttpRequest) -> HttpResponse:
    form = TagCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.tag_create(name=form.cleaned_data["name"], staff=request.staff)
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            messages.success(request, _("Tag created."))
            return redirect("customers:tags")
    services.tags_ensure_presets()
    rows = Tag.objects.annotate(members=Count("member_links"))
    return render(request, "customers/tags.html", {"form": form, "tags": rows})


@roles_allowed(HQ_ROLES)
def duplicates(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "customers/duplicates.html",
        {
            "birthday_groups": selectors.duplicate_groups(),
            "phone_groups": selectors.similar_phone_groups(),
        },
    )


@roles_allowed(HQ_ROLES)
def merge(request: HttpRequest) -> HttpResponse:
    form = MergeForm(request.POST or request.GET or None)
    source = target = None
    if form.is_bound and form.is_valid():
        source = Customer.objects.filter(card_number=form.cleaned_data["source"].upper()).first()
        target = Customer.objects.filter(card_number=form.cleaned_data["target"].upper()).first()
        if source is None:
            form.add_error("source", _("No member has this card number."))
        if target is None:
            form.add_error("target", _("No member has this card number."))
    if request.method == "POST" and source and target and not form.errors:
        try:
            services.customer_merge(source=source, target=target, staff=request.staff)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Members merged."))
            return redirect("customers:profile", pk=target.pk)
    return render(
        request, "customers/merge.html", {"form": form, "source": source, "target": target}
    )


@roles_allowed(HQ_ROLES)
def segments(request: HttpRequest) -> HttpResponse:
    rows = [
        (segment, selectors.segment_queryset(segment).count()) for segment in Segment.objects.all()
    ]
    return render(request, "customers/segments.html", {"rows": rows})


@roles_allowed(HQ_ROLES)
def segment_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk) if pk else None
    initial = {}
    if segment is not None:
        initial = {**segment.criteria, "name": segment.name, "description": segment.description}
    form = SegmentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            segment = services.segment_save(
                staff=request.staff,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                criteria=form.criteria(),
                segment=segment,
            )
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            messages.success(request, _("Segment saved."))
            return redirect("customers:segment_edit", pk=segment.pk)
    count = selectors.segment_queryset(segment).count() if segment else None
    return render(
        request, "customers/segment_form.html", {"form": form, "segment": segment, "count": count}
    )


@roles_allowed(HQ_ROLES)
def segment_count(request: HttpRequest) -> HttpResponse:
    """Live count for the segment form: the criteria as typed, not yet saved."""
    form = CriteriaForm(request.GET)
    count = selectors.criteria_queryset(form.criteria()).count() if form.is_valid() else None
    return render(request, "customers/_segment_count.html", {"count": count})


@roles_allowed(HQ_ROLES)
def segment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.segment_delete(segment=segment, staff=request.staff)
    messages.success(request, _("Segment deleted."))
    return redirect("customers:segments")


@roles_allowed(HQ_ROLES)
def import_upload(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = importing.import_job_create(
                staff=request.staff,
                upload=form.cleaned_data["file"],
                language=get_language(),
                default_store=form.cleaned_data["default_store"],
                preview=True,
            )
        except ValidationError as exc:
            form.add_error("file", exc)
        else:
            return redirect("customers:import_job", pk=job.pk)
    jobs = ImportJob.objects.select_related("created_by")[:20]
    return render(
        request,
        "customers/import.html",
        {"form": form, "jobs": jobs, "columns": importing.member_columns()},
    )


@roles_allowed(HQ_ROLES)
def import_job(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.select_related("default_store"), pk=pk)
    return render(request, "customers/import_job.html", {"job": job})


@roles_allowed(HQ_ROLES)
def import_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        importing.import_job_confirm(job=job, staff=request.staff)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("customers:import_job", pk=job.pk)


@roles_allowed(HQ_ROLES)
def import_discard(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        importing.import_job_discard(job=job, staff=request.staff)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("customers:import")


@roles_allowed(HQ_ROLES)
def import_errors(request: HttpRequest, pk: int) -> HttpResponse:
    """Every error of a rejected file as a CSV the uploader opens next to the file."""
    job = get_object_or_404(ImportJob, pk=pk)
    content = importing.import_errors_csv(job=job)
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response


@roles_allowed(HQ_ROLES)
def import_template(request: HttpRequest) -> HttpResponse:
    file_format = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
    content, content_type = importing.import_template(file_format=file_format)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="member-import.{file_format}"'
    return response
