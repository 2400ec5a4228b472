"""Store registry pages. Thin: check the form, call one service, redirect."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from import_export.formats.base_formats import CSV, XLSX

from stores import forms, selectors, services
from stores.filters import ApplicationFilter, StoreFilter
from stores.models import (
    ApplicationDocument,
    ApplicationKind,
    ApplicationStatus,
    Region,
    ReviewStatus,
    Store,
    StoreCodeApplication,
    StoreReview,
    StoreType,
)
from stores.resources import StoreResource
from tenancy import tabular
from tenancy.access import get_scoped_or_404, roles_allowed, scope_to_stores
from tenancy.dates import tenant_today
from tenancy.filters import filtered
from tenancy.models import ALL_ROLES, HQ_ROLES, Role
from tenancy.replica import view_reads_from_replica

APPLICANTS = HQ_ROLES | {Role.STORE_MANAGER}
SETUP_KINDS = {
    "region": (Region, forms.RegionForm),
    "store_type": (StoreType, forms.StoreTypeForm),
}


def _post_only(request: HttpRequest) -> HttpResponse | None:
    """POST-only views find their object first, so another tenant's id answers 404 (not
    405) and does not reveal that the id exists; then they refuse anything but POST."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    return None


def _errors(error: ValidationError) -> str:
    return " ".join(error.messages)


def _store_or_404(request: HttpRequest, pk: int) -> Store:
    return get_scoped_or_404(
        Store.objects.select_related("region", "store_type"), request.staff, "pk", pk=pk
    )


def _application_or_404(request: HttpRequest, pk: int) -> StoreCodeApplication:
    """HQ sees every application; a store manager those they made or that concern their store."""
    queryset = StoreCodeApplication.objects.select_related(
        "region", "store_type", "store", "applicant", "reviewed_by"
    )
    staff = request.staff
    if not staff.is_hq:
        queryset = queryset.filter(Q(applicant=staff) | Q(store__in=staff.store_ids))
    return get_object_or_404(queryset, pk=pk)


# --- Stores ---------------------------------------------------------------------------------


@roles_allowed(ALL_ROLES)
def store_list(request: HttpRequest) -> HttpResponse:
    stores = scope_to_stores(
        Store.objects.select_related("region", "store_type"), request.staff, "pk"
    )
    store_filter = StoreFilter(request.GET, queryset=stores)
    rows, status = filtered(store_filter)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(
        request, "stores/store_list.html", {"filter": store_filter, "page": page}, status=status
    )


@roles_allowed(ALL_ROLES)
def store_detail(request: HttpRequest, pk: int) -> HttpResponse:
    store = _store_or_404(request, pk)
    context = {
        "store": store,
        "former_codes": store.code_history.exclude(code=store.code),
        "code_record": store.code_history.filter(code=store.code).first(),
        "applications": store.code_applications.select_related("region", "store_type"),
        "reviews": store.reviews.select_related("reviewed_by"),
        "events": selectors.labelled(selectors.store_events(store=store)[:50]),
        "status_form": forms.StoreStatusForm(initial={"status": store.status}),
        "can_request_change": request.staff.role in APPLICANTS,
    }
    return render(request, "stores/store_detail.html", context)


@roles_allowed(HQ_ROLES)
def store_status(request: HttpRequest, pk: int) -> HttpResponse:
    store = _store_or_404(request, pk)
    if refused := _post_only(request):
        return refused
    form = forms.StoreStatusForm(request.POST)
    if form.is_valid():
        try:
            services.store_set_status(store=store, actor=request.staff, **form.cleaned_data)
            messages.success(request, _("The store's status was changed."))
        except ValidationError as error:
            messages.error(request, _errors(error))
    else:
        messages.error(request, _("Choose a status and give a reason."))
    return redirect("stores:store_detail", pk=store.pk)


@roles_allowed(APPLICANTS)
def code_change_create(request: HttpRequest, pk: int) -> HttpResponse:
    store = _store_or_404(request, pk)
    form = forms.CodeChangeForm(
        request.POST or None, initial={"region": store.region, "store_type": store.store_type}
    )
    if request.method == "POST" and form.is_valid():
        try:
            application = services.application_create(
                applicant=request.staff,
                kind=ApplicationKind.CODE_CHANGE,
                store=store,
                **form.cleaned_data,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("The change request was saved as a draft."))
            return redirect("stores:application_detail", pk=application.pk)
    return render(request, "stores/code_change_form.html", {"form": form, "store": store})


# --- Applications ---------------------------------------------------------------------------


@roles_allowed(APPLICANTS)
def application_list(request: HttpRequest) -> HttpResponse:
    applications = StoreCodeApplication.objects.select_related(
        "region", "store_type", "applicant", "store"
    )
    staff = request.staff
    data = request.GET
    if staff.is_hq and not data:
        # HQ's review queue opens on what waits for them.
        data = {"status": ApplicationStatus.SUBMITTED}
    if not staff.is_hq:
        applications = applications.filter(Q(applicant=staff) | Q(store__in=staff.store_ids))
    application_filter = ApplicationFilter(data, queryset=applications)
    rows, status = filtered(application_filter)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "stores/application_list.html",
        {"filter": application_filter, "page": page},
        status=status,
    )


def _save_application(request, form, application=None):
    data = dict(form.cleaned_data)
    upload = data.pop("document", None)
    if application is None:
        application = services.application_create(applicant=request.staff, **data)
    else:
        application = services.application_update(
            application=application, actor=request.staff, **data
        )
    if upload:
        services.document_add(application=application, upload=upload, actor=request.staff)
    return application


@roles_allowed(APPLICANTS)
def application_create(request: HttpRequest) -> HttpResponse:
    form = forms.ApplicationForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            application = _save_application(request, form)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("The application was saved as a draft."))
            return redirect("stores:application_detail", pk=application.pk)
    return render(request, "stores/application_form.html", {"form": form})


@roles_allowed(APPLICANTS)
def application_edit(request: HttpRequest, pk: int) -> HttpResponse:
    application = _application_or_404(request, pk)
    if not application.is_editable:
        messages.error(request, _("A submitted application is read-only."))
        return redirect("stores:application_detail", pk=application.pk)
    if application.kind == ApplicationKind.CODE_CHANGE:
        form_class, initial = (
            forms.CodeChangeForm,
            {
                "region": application.region,
                "store_type": application.store_type,
                "reason": application.reason,
            },
        )
        form = form_class(request.POST or None, initial=initial)
    else:
        form = forms.ApplicationForm(
            request.POST or None, request.FILES or None, instance=application
        )
    if request.method == "POST" and form.is_valid():
        try:
            if application.kind == ApplicationKind.CODE_CHANGE:
                services.application_update(
                    application=application, actor=request.staff, **form.cleaned_data
                )
            else:
                # The ModelForm has written its values onto `application`; pass them through
                # the service, which re-reads and locks the row.
                _save_application(request, form, application)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("The application was saved."))
            return redirect("stores:application_detail", pk=application.pk)
    return render(
        request, "stores/application_form.html", {"form": form, "application": application}
    )


@roles_allowed(APPLICANTS)
def application_detail(request: HttpRequest, pk: int) -> HttpResponse:
    application = _application_or_404(request, pk)
    in_review = request.staff.is_hq and application.status == ApplicationStatus.SUBMITTED
    own = in_review and not services.application_reviewable_by(
        application=application, reviewer=request.staff
    )
    context = {
        "application": application,
        "documents": application.documents.all(),
        "events": selectors.labelled(selectors.application_events(application=application)),
        "document_form": forms.DocumentForm(),
        "approve_form": forms.ApproveForm(),
        "reject_form": forms.RejectForm(),
        "can_review": in_review and not own,
        "own_application": own,
    }
    return render(request, "stores/application_detail.html", context)


def _act(request, pk, action) -> HttpResponse:
    application = _application_or_404(request, pk)
    if refused := _post_only(request):
        return refused
    try:
        message = action(application)
    except ValidationError as error:
        messages.error(request, _errors(error))
    else:
        messages.success(request, message)
    return redirect("stores:application_detail", pk=application.pk)


@roles_allowed(APPLICANTS)
def application_submit(request: HttpRequest, pk: int) -> HttpResponse:
    def submit(application):
        services.application_submit(application=application, actor=request.staff)
        return _("The application was submitted for review.")

    return _act(request, pk, submit)


@roles_allowed(HQ_ROLES)
def application_approve(request: HttpRequest, pk: int) -> HttpResponse:
    form = forms.ApproveForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""

    def approve(application):
        store = services.application_approve(
            application=application, reviewer=request.staff, note=note
        )
        return _("Approved: the store's code is %(code)s.") % {"code": store.code}

    return _act(request, pk, approve)


@roles_allowed(HQ_ROLES)
def application_reject(request: HttpRequest, pk: int) -> HttpResponse:
    reason = request.POST.get("reason", "")

    def reject(application):
        services.application_reject(application=application, reviewer=request.staff, reason=reason)
        return _("The application was returned to the applicant.")

    return _act(request, pk, reject)


@roles_allowed(APPLICANTS)
def document_upload(request: HttpRequest, pk: int) -> HttpResponse:
    application = _application_or_404(request, pk)
    if refused := _post_only(request):
        return refused
    form = forms.DocumentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.document_add(
                application=application, upload=form.cleaned_data["document"], actor=request.staff
            )
            messages.success(request, _("The document was uploaded."))
        except ValidationError as error:
            messages.error(request, _errors(error))
    else:
        messages.error(request, " ".join(form.errors.get("document", [])))
    return redirect("stores:application_detail", pk=application.pk)


@roles_allowed(APPLICANTS)
def document_download(request: HttpRequest, pk: int) -> FileResponse:
    document = get_object_or_404(ApplicationDocument.objects, pk=pk)
    _application_or_404(request, document.application_id)  # the same scope as its application
    try:
        handle = document.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    return FileResponse(
        handle,
        as_attachment=True,
        filename=document.original_name,
        content_type=document.content_type,
    )


# --- Setup: regions and store types ----------------------------------------------------------


@roles_allowed(Role.HQ_ADMIN)
def setup(request: HttpRequest) -> HttpResponse:
    posted = request.POST if request.method == "POST" else None
    which = request.POST.get("form") if posted else None
    interval_form = forms.ReviewIntervalForm(
        posted if which not in ("recipients", "four_eyes") else None,
        initial={"months": services.review_interval_months()},
    )
    recipients_form = forms.CodeRecipientsForm(
        posted if which == "recipients" else None,
        initial={"recipients": request.tenant.setting(services.CODE_RECIPIENTS_SETTING) or []},
    )
    if which == "recipients" and recipients_form.is_valid():
        services.store_code_recipients_set(
            staff_ids=[staff.pk for staff in recipients_form.cleaned_data["recipients"]],
            actor=request.staff,
        )
        messages.success(request, _("The store-code recipients were saved."))
        return redirect("stores:setup")
    four_eyes_form = forms.FourEyesForm(
        posted if which == "four_eyes" else None,
        initial={"required": services.four_eyes_required()},
    )
    if which == "four_eyes" and four_eyes_form.is_valid():
        services.four_eyes_set(
            required=four_eyes_form.cleaned_data["required"], actor=request.staff
        )
        messages.success(request, _("The review rule was saved."))
        return redirect("stores:setup")
    if posted and which not in ("recipients", "four_eyes") and interval_form.is_valid():
        try:
            services.review_interval_set(
                months=interval_form.cleaned_data["months"], actor=request.staff
            )
        except ValidationError as error:
            interval_form.add_error(None, error)
        else:
            messages.success(request, _("The re-review interval was saved."))
            return redirect("stores:setup")
    context = {
        "regions": Region.objects.select_related("parent"),
        "store_types": StoreType.objects.all(),
        "interval_form": interval_form,
        "recipients_form": recipients_form,
        "four_eyes_form": four_eyes_form,
    }
    return render(request, "stores/setup.html", context)


def _setup_kind(kind: str):
    if kind not in SETUP_KINDS:
        raise Http404
    return SETUP_KINDS[kind]


@roles_allowed(Role.HQ_ADMIN)
def setup_create(request: HttpRequest, kind: str) -> HttpResponse:
    return _setup_form(request, kind, None)


@roles_allowed(Role.HQ_ADMIN)
def setup_edit(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    model, _form = _setup_kind(kind)
    return _setup_form(request, kind, get_object_or_404(model.objects, pk=pk))


def _setup_form(request, kind, obj) -> HttpResponse:
    model, form_class = _setup_kind(kind)
    previous_code = obj.code if obj else None
    form = form_class(request.POST or None, instance=obj)
    if request.method == "POST" and form.is_valid():
        try:
            services.setup_entry_save(
                obj=form.instance, actor=request.staff, previous_code=previous_code
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Saved."))
            return redirect("stores:setup")
    return render(
        request,
        "stores/setup_form.html",
        {"form": form, "object": obj, "kind": kind, "title": model._meta.verbose_name},
    )


@roles_allowed(Role.HQ_ADMIN)
def setup_delete(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    model, _form = _setup_kind(kind)
    obj = get_object_or_404(model.objects, pk=pk)
    if refused := _post_only(request):
        return refused
    try:
        services.setup_entry_delete(obj=obj, actor=request.staff)
        messages.success(request, _("Deleted."))
    except ValidationError as error:
        messages.error(request, _errors(error))
    return redirect("stores:setup")


# --- Periodic re-review -----------------------------------------------------------------------


@roles_allowed(HQ_ROLES)
def review_queue(request: HttpRequest) -> HttpResponse:
    reviews = StoreReview.objects.filter(status=ReviewStatus.DUE).select_related(
        "store", "store__region", "store__store_type"
    )
    page = Paginator(reviews, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "today": tenant_today(),
        "outcome_form": forms.ReviewOutcomeForm(),
        "recent": StoreReview.objects.exclude(status=ReviewStatus.DUE)
        .select_related("store", "reviewed_by")
        .order_by("-reviewed_at")[:10],
    }
    return render(request, "stores/review_queue.html", context)


@roles_allowed(HQ_ROLES)
def review_record(request: HttpRequest, pk: int) -> HttpResponse:
    review = get_object_or_404(StoreReview.objects, pk=pk)
    if refused := _post_only(request):
        return refused
    form = forms.ReviewOutcomeForm(request.POST)
    if form.is_valid():
        try:
            services.review_record(review=review, reviewer=request.staff, **form.cleaned_data)
            messages.success(request, _("The review outcome was recorded."))
        except ValidationError as error:
            messages.error(request, _errors(error))
    else:
        messages.error(request, _("Choose an outcome."))
    return redirect("stores:review_queue")


# --- Import and export ------------------------------------------------------------------------


@roles_allowed(HQ_ROLES)
@view_reads_from_replica
def store_export(request: HttpRequest) -> HttpResponse:
    file_format = XLSX() if request.GET.get("format") == "xlsx" else CSV()
    stores = Store.objects.select_related("region", "store_type").order_by("code")
    dataset = StoreResource().export(queryset=stores)
    services.stores_export_audit(
        actor=request.staff, file_format=file_format.get_extension(), count=len(dataset)
    )
    content = file_format.export_data(dataset)
    if isinstance(content, str):
        # A byte-order mark lets spreadsheet programs read the Chinese text as UTF-8.
        content = "\ufeff" + content
    stamp = timezone.now().astimezone(request.tenant.zone).strftime("%Y%m%d-%H%M")
    response = HttpResponse(content, content_type=file_format.get_content_type())
    response["Content-Disposition"] = (
        f'attachment; filename="stores-{stamp}.{file_format.get_extension()}"'
    )
    return response


@roles_allowed(HQ_ROLES)
def store_import(request: HttpRequest) -> HttpResponse:
    """Two steps: upload and check (a preview, nothing written), then confirm the kept file,
    which is read and checked again and imported all or nothing."""
    confirming = request.method == "POST" and bool(request.POST.get("upload"))
    form = forms.ImportForm(
        None if confirming else request.POST or None, None if confirming else request.FILES or None
    )
    context: dict = {"form": form}
    if confirming:
        try:
            path, name, content = services.store_upload_open(
                token=request.POST["upload"], staff=request.staff
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("stores:store_import")
        if request.POST.get("discard"):
            services.store_upload_discard(path)
            return redirect("stores:store_import")
        checked = selectors.store_file_read(content, name)
        outcome = services.stores_import(dataset=checked.dataset, actor=request.staff)
        if not outcome.problems:
            services.store_upload_discard(path)
            messages.success(
                request, _("%(count)s stores were imported.") % {"count": outcome.created}
            )
            return redirect("stores:store_list")
        context.update(preview=checked, name=name, problems=outcome.problems)
    elif request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        content = upload.read()
        try:
            checked = selectors.store_file_read(content, upload.name or "")
        except ValidationError as error:
            form.add_error("file", error)
        except ValueError as error:
            form.add_error("file", str(error))
        else:
            rows = list(checked.dataset.dict)
            problems = services.stores_import_validate(rows=rows)
            context.update(preview=checked, name=upload.name, problems=problems)
            if not problems and rows:
                context["upload_token"] = services.store_upload_keep(
                    content=content, name=upload.name or "", staff=request.staff
                )
    if "preview" in context:
        context["rows"] = [
            {**row, "number": row.get("_row")}
            for row in list(context["preview"].dataset.dict)[: selectors.PREVIEW_ROWS]
        ]
        context["row_count"] = len(context["preview"].dataset)
        context["errors"] = tabular.error_rows(
            [problem.as_error() for problem in context["problems"]]
        )
    return render(request, "stores/store_import.html", context)
