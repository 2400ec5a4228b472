from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics import charts, forecasting, selectors
from analytics.forms import (
    ApiTokenForm,
    CounterSaleForm,
    PeriodForm,
    SaleImportForm,
    SaleLineFormSet,
)
from analytics.importing import header_preview, parse_rows, read_upload
from analytics.models import Sale, SaleImport, StoreApiToken
from analytics.recommendations import member_next_products
from analytics.services import (
    api_token_create,
    api_token_revoke,
    counter_sale_key,
    counter_sale_record,
    report_export,
    sale_import_confirm,
    sale_import_create,
)
from campaigns.services import CouponError, coupons_available
from catalog.services import scan_add
from stores.models import Store
from tenancy.access import get_scoped_or_404, roles_allowed, scope_to_stores
from tenancy.models import HQ_ROLES, Role
from tenancy.replica import view_reads_from_replica

SELLERS = {Role.CLERK, Role.STORE_MANAGER}
DASHBOARD_ROLES = HQ_ROLES | {Role.STORE_MANAGER}
IMPORT_ROLES = HQ_ROLES | {Role.STORE_MANAGER}


def _my_stores(request):
    return scope_to_stores(Store.objects.all(), request.staff, store_field="pk")


# --- Recording sales -------------------------------------------------------------------------


@roles_allowed(SELLERS)
def counter_sale(request: HttpRequest) -> HttpResponse:
    stores = _my_stores(request)
    form = CounterSaleForm(request.POST or None, stores=stores)
    lines = SaleLineFormSet(request.POST or None, prefix="lines")
    member = sale = None
    if request.method == "POST":
        form_ok = form.is_valid()
        member = form.cleaned_data.get("member")
        scanned = (request.POST.get("scan") or "").strip()
        if scanned or "scan_add" in request.POST:
            form, lines = _counter_scan(request, form, lines, stores, scanned)
        # "Find coupons" only looks the member up; it records nothing.
        elif "find_coupons" not in request.POST and form_ok and lines.is_valid():
            entered = [line for f in lines.forms if (line := f.line()) is not None]
            try:
                sale, created = counter_sale_record(
                    store=form.cleaned_data["store"],
                    occurred_at=timezone.now(),
                    lines=entered,
                    staff=request.staff,
                    member=member,
                    points_to_redeem=form.cleaned_data.get("points") or 0,
                    coupon_code=form.cleaned_data["coupon"],
                    external_id=counter_sale_key(form.cleaned_data["token"]),
                )
            except CouponError as exc:
                for message in exc.messages:
                    form.add_error("coupon_code", message)
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error(None, message)
            else:
                if created:
                    messages.success(
                        request, _("Sale recorded: total %(total)s.") % {"total": sale.total}
                    )
            if sale is not None and not created:
                messages.info(
                    request,
                    _("This sale was already recorded (total %(total)s); nothing was added.")
                    % {"total": sale.total},
                )
            if sale is not None:
                return redirect("analytics:sale_detail", sale_id=sale.pk)
    coupons = list(coupons_available(member=member)[:20]) if member else []
    form.offer_coupons(coupons)
    # After a lookup: what goes with this member's purchases (read from the nightly pairs).
    next_products = member_next_products(member=member) if member else []
    return render(
        request,
        "analytics/counter_sale.html",
        {
            "form": form,
            "lines": lines,
            "member": member,
            "coupons": coupons,
            "next_products": next_products,
        },
    )


def _counter_scan(request, form, lines, stores, scanned: str):
    """The counter form again with the scanned code added to its lines (nothing recorded)."""
    store = form.cleaned_data.get("store") if hasattr(form, "cleaned_data") else None
    if store is None:
        form.add_error("scan", _("Choose the store first."))
        return form, lines
    if not lines.is_valid():
        return form, lines
    current = [f.cleaned_data for f in lines.forms if (f.cleaned_data or {}).get("sku")]
    try:
        updated = scan_add(lines=current, code=scanned, store=store)
    except ValidationError as exc:
        for message in exc.messages:
            form.add_error("scan", message)
        return form, lines
    data = request.POST.copy()
    data["scan"] = ""
    form = CounterSaleForm(data, stores=stores)
    form.is_valid()
    return form, SaleLineFormSet(initial=updated, prefix="lines")


@roles_allowed(HQ_ROLES | SELLERS)
def sale_list(request: HttpRequest) -> HttpResponse:
    sales = scope_to_stores(
        Sale.objects.select_related("store", "member", "staff"), request.staff
    ).order_by("-occurred_at", "-id")
    stores = _my_stores(request)
    store_id = request.GET.get("store")
    store_error = ""
    if store_id:
        # A store that is not one of the list's choices is an error, not "all my stores".
        if store_id.isdigit() and stores.filter(pk=int(store_id)).exists():
            sales = sales.filter(store_id=int(store_id))
        else:
            sales, store_error = sales.none(), _("Choose one of your stores.")
    page = Paginator(sales, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "analytics/sale_list.html",
        {"page": page, "stores": stores, "store_error": store_error},
        status=400 if store_error else 200,
    )


@roles_allowed(HQ_ROLES | SELLERS)
def sale_detail(request: HttpRequest, sale_id: int) -> HttpResponse:
    sale = get_scoped_or_404(
        Sale.objects.select_related("store", "member", "staff", "refund_of", "coupon__offer"),
        request.staff,
        pk=sale_id,
    )
    lines = sale.lines.select_related("product").order_by("line_no")
    return render(
        request,
        "analytics/sale_detail.html",
        {"sale": sale, "lines": lines, "refunds": sale.refunds.order_by("occurred_at")},
    )


# --- POS tokens ------------------------------------------------------------------------------


@roles_allowed(Role.HQ_ADMIN)
def token_list(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None, stores=Store.objects.all())
    plain_token = None
    if request.method == "POST" and form.is_valid():
        try:
            token, plain_token = api_token_create(
                store=form.cleaned_data["store"],
                name=form.cleaned_data["name"],
                actor=request.staff,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            form = ApiTokenForm(stores=Store.objects.all())
    tokens = StoreApiToken.objects.select_related("store", "created_by", "revoked_by")
    response = render(
        request,
        "analytics/token_list.html",
        {"form": form, "tokens": tokens, "plain_token": plain_token},
    )
    if plain_token:
        response["Cache-Control"] = "no-store"  # the secret must not linger in any cache
    return response


@roles_allowed(Role.HQ_ADMIN)
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    # Look the token up first, so another tenant's id answers 404 whatever the method.
    token = get_object_or_404(StoreApiToken.objects.all(), pk=token_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    api_token_revoke(token=token, actor=request.staff)
    messages.success(request, _("Token %(name)s revoked.") % {"name": token.name})
    return redirect("analytics:token_list")


PREVIEW_ROWS = 20  # the first rows of a checked file, as they will be read

# --- File import -----------------------------------------------------------------------------


@roles_allowed(IMPORT_ROLES)
def import_upload(request: HttpRequest) -> HttpResponse:
    stores = _my_stores(request)
    form = SaleImportForm(request.POST or None, request.FILES or None, stores=stores)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            table, encoding = read_upload(upload)
            rows = parse_rows(table)
        except ValidationError as exc:
            form.add_error("file", exc)
        else:
            # Checked only: the page shows what was found, the uploader confirms.
            sale_import = sale_import_create(
                store=form.cleaned_data["store"],
                actor=request.staff,
                file_name=upload.name,
                rows=rows,
                preview={"encoding": encoding, "columns": header_preview(table)},
            )
            return redirect("analytics:import_detail", import_id=sale_import.pk)
    imports = scope_to_stores(
        SaleImport.objects.select_related("store", "uploaded_by"), request.staff
    ).defer("rows")[:20]
    return render(request, "analytics/import_upload.html", {"form": form, "imports": imports})


@roles_allowed(IMPORT_ROLES)
def import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    sale_import = get_scoped_or_404(
        SaleImport.objects.select_related("store", "uploaded_by"), request.staff, pk=import_id
    )
    first_rows = sale_import.rows[:PREVIEW_ROWS] if sale_import.status == "checked" else []
    return render(
        request,
        "analytics/import_detail.html",
        {"sale_import": sale_import, "first_rows": first_rows, "row_count": len(sale_import.rows)},
    )


@roles_allowed(IMPORT_ROLES)
def import_confirm(request: HttpRequest, import_id: int) -> HttpResponse:
    sale_import = get_scoped_or_404(
        SaleImport.objects.select_related("store"), request.staff, pk=import_id
    )
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    sale_import_confirm(sale_import=sale_import, actor=request.staff)
    return redirect("analytics:import_detail", import_id=sale_import.pk)


# --- Dashboards ------------------------------------------------------------------------------


def _period_context(request, *, with_group: bool = True):
    form = PeriodForm(request.GET or None)
    if not with_group:
        del form.fields["group"]
    period = form.period()
    return form, period


@roles_allowed(DASHBOARD_ROLES)
@view_reads_from_replica
def store_dashboard(request: HttpRequest, store_id: int) -> HttpResponse:
    store = get_scoped_or_404(
        Store.objects.select_related("region", "store_type"), request.staff, "pk", pk=store_id
    )
    return _store_dashboard(request, store)


def _store_dashboard(request: HttpRequest, store: Store) -> HttpResponse:
    form, period = _period_context(request, with_group=False)
    ids = [store.pk]
    series = selectors.daily_series(ids, period)
    top_products, slow_products = selectors.product_rankings(ids, period)
    forecast = forecasting.dashboard_forecast(store, period.end)
    context = {
        "store": store,
        "form": form,
        "period": period,
        "previous": period.previous(),
        "last_year": period.last_year(),
        "today": selectors.today_live(ids),
        "standard": selectors.standard_periods(ids),
        "compare": selectors.compare_kpis(ids, period),
        "channels": selectors.channel_breakdown(ids, period),
        "chart": charts.trend_chart(series, forecast["rows"] if forecast else None),
        "forecast": forecast,
        "top_products": top_products,
        "slow_products": slow_products,
        "falling_products": forecasting.falling_products(store),
        "staff_rows": selectors.staff_leaderboard(ids, period),
        "query": request.GET.urlencode(),
    }
    return render(request, "analytics/store_dashboard.html", context)


@roles_allowed(DASHBOARD_ROLES)
@view_reads_from_replica
def dashboard_home(request: HttpRequest) -> HttpResponse:
    """HQ get the overview; a store manager goes to their (first) store."""
    if request.staff.role in HQ_ROLES:
        return overview(request)
    store = _my_stores(request).select_related("region", "store_type").order_by("code").first()
    if store is None:
        raise PermissionDenied
    return _store_dashboard(request, store)


def overview(request: HttpRequest) -> HttpResponse:
    form, period = _period_context(request)
    group = form.cleaned_data.get("group") if form.is_bound and form.is_valid() else ""
    group = group or "store"
    series = selectors.daily_series(None, period)
    context = {
        "form": form,
        "period": period,
        "group": group,
        "today": selectors.today_live(None),
        "compare": selectors.compare_kpis(None, period),
        "channels": selectors.channel_breakdown(None, period),
        "chart": charts.trend_chart(series),
        "ranking": selectors.store_ranking(period, group),
        "query": request.GET.urlencode(),
    }
    return render(request, "analytics/overview.html", context)


@roles_allowed(DASHBOARD_ROLES)
@view_reads_from_replica
def report_download(request: HttpRequest) -> HttpResponse:
    form, period = _period_context(request)
    if form.is_bound and not form.is_valid():
        # period() falls back to this month on an invalid date: a download must not.
        problems = [error for errors in form.errors.values() for error in errors]
        return HttpResponse(
            " ".join([_("Nothing was exported: the period is invalid."), *problems]),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    report = request.GET.get("report", "stores")
    file_format = request.GET.get("format", "csv")
    store = None
    store_id = request.GET.get("store")
    if store_id and store_id.isdigit():
        store = get_scoped_or_404(Store.objects.all(), request.staff, "pk", pk=int(store_id))
    elif request.staff.role not in HQ_ROLES:
        store = _my_stores(request).order_by("code").first()
        if store is None:
            raise PermissionDenied
    try:
        content, content_type, filename = report_export(
            actor=request.staff,
            report=report,
            period=period,
            store=store,
            file_format=file_format,
        )
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=400, content_type="text/plain")
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
