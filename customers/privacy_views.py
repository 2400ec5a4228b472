"""Pages for personal data under PIPL: retention policy and preview, the requests register."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from customers import privacy
from customers.forms import (
    DataRequestCreateForm,
    DataRequestFilterForm,
    DataRequestUpdateForm,
    PrivacySettingsForm,
)
from customers.models import DataRequest, RequestKind
from tenancy.access import roles_allowed
from tenancy.dates import tenant_today
from tenancy.models import HQ_ROLES, Role


@roles_allowed(Role.HQ_ADMIN)
def privacy_settings(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    form = PrivacySettingsForm(
        request.POST or None,
        initial={
            "retention_years": privacy.retention_years(tenant),
            "request_days": privacy.request_working_days(tenant),
            "reminder_days": privacy.reminder_working_days(tenant),
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            privacy.privacy_settings_update(actor=request.staff, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Settings saved."))
            return redirect("customers:retention")
    return render(request, "customers/privacy_settings.html", {"form": form})


@roles_allowed(HQ_ROLES)
def retention(request: HttpRequest) -> HttpResponse:
    """Who the nightly job would anonymise tonight: the job's own selector, masked."""
    rows = privacy.retention_candidates().select_related("home_store")
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "customers/retention.html",
        {
            "page": page,
            "years": privacy.retention_years(),
            "cutoff": privacy.retention_cutoff(),
            "zone": request.tenant.zone,
            "can_edit": request.staff.role == Role.HQ_ADMIN,
        },
    )


def _data_request(pk: int) -> DataRequest:
    return get_object_or_404(
        DataRequest.objects.select_related("customer", "owner", "evidence", "created_by"), pk=pk
    )


@roles_allowed(HQ_ROLES)
def request_list(request: HttpRequest) -> HttpResponse:
    form = DataRequestFilterForm(request.GET or None)
    rows = DataRequest.objects.select_related("customer", "owner")
    today = tenant_today()
    status = form.cleaned_data["status"] if form.is_valid() else ""
    if status == "":
        rows = rows.unfinished()
    elif status != "all":
        rows = rows.filter(status=status)
    if form.is_valid() and form.cleaned_data["overdue"]:
        rows = rows.overdue(today)
    page = Paginator(rows.order_by("due_on", "id"), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "customers/request_list.html",
        {"form": form, "page": page, "today": today},
    )


@roles_allowed(HQ_ROLES)
def request_create(request: HttpRequest) -> HttpResponse:
    form = DataRequestCreateForm(
        request.POST or None,
        initial={
            "received_on": tenant_today(),
            "owner": request.staff.pk,
            "card_number": request.GET.get("card", "")[:20],
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            data_request = privacy.data_request_create(
                staff=request.staff,
                customer=form.customer,
                kind=data["kind"],
                channel=data["channel"],
                received_on=data["received_on"],
                owner=data["owner"],
                note=data["note"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                _("Request recorded, due %(due)s.") % {"due": data_request.due_on.isoformat()},
            )
            return redirect("customers:request_detail", pk=data_request.pk)
    return render(request, "customers/request_form.html", {"form": form})


@roles_allowed(HQ_ROLES)
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    data_request = _data_request(pk)
    form = DataRequestUpdateForm(
        request.POST or None,
        initial={
            "status": data_request.status,
            "owner": data_request.owner_id,
            "note": data_request.note,
        },
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                privacy.data_request_update(
                    data_request=data_request, staff=request.staff, **form.cleaned_data
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("Request updated."))
                return redirect("customers:request_detail", pk=data_request.pk)
        status = 400
    return render(
        request,
        "customers/request_detail.html",
        {
            "data_request": data_request,
            "form": form,
            "today": tenant_today(),
            "can_export": data_request.is_open and data_request.kind == RequestKind.ACCESS,
            "can_erase": data_request.is_open
            and data_request.kind == RequestKind.DELETION
            and not data_request.customer.is_erased,
        },
        status=status,
    )


@roles_allowed(HQ_ROLES)
def request_export(request: HttpRequest, pk: int) -> HttpResponse:
    data_request = _data_request(pk)
    if request.method != "POST":
        return HttpResponse(status=405)
    try:
        content = privacy.data_request_export(data_request=data_request, staff=request.staff)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("customers:request_detail", pk=data_request.pk)
    response = HttpResponse(content, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="member-{data_request.customer_id}-request-{data_request.pk}.json"'
    )
    return response


@roles_allowed(HQ_ROLES)
def request_erase(request: HttpRequest, pk: int) -> HttpResponse:
    data_request = _data_request(pk)  # looked up first: another tenant's request is a 404
    if request.method != "POST":
        return HttpResponse(status=405)
    try:
        privacy.data_request_erase(data_request=data_request, staff=request.staff)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The member's personal data was erased."))
    return redirect("customers:request_detail", pk=data_request.pk)
