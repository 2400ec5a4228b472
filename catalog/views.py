from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from catalog import importing, services
from catalog.forms import ProductForm, StorePriceForm
from catalog.models import Product
from tenancy import tabular
from tenancy.access import roles_allowed
from tenancy.models import HQ_ROLES, Role

# HQ keeps the catalogue; stores sell from it.
CATALOG_ROLES = HQ_ROLES


@roles_allowed(CATALOG_ROLES)
def product_list(request: HttpRequest) -> HttpResponse:
    query = (request.GET.get("q") or "").strip()[:40]
    products = Product.objects.all()
    if query:
        products = products.filter(
            Q(sku__icontains=query) | Q(name__icontains=query) | Q(barcode=query)
        )
    page = Paginator(products.order_by("sku"), 50).get_page(request.GET.get("page"))
    return render(request, "catalog/product_list.html", {"page": page, "query": query})


@roles_allowed(CATALOG_ROLES)
def product_create(request: HttpRequest) -> HttpResponse:
    form = ProductForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        product = services.product_save(product=form.save(commit=False), actor=request.staff)
        messages.success(request, _("Product %(sku)s saved.") % {"sku": product.sku})
        return redirect("catalog:product_edit", product_id=product.pk)
    return render(request, "catalog/product_form.html", {"form": form, "product": None})


@roles_allowed(CATALOG_ROLES)
def product_edit(request: HttpRequest, product_id: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=product_id)
    form = ProductForm(request.POST or None, instance=product)
    if request.method == "POST" and form.is_valid():
        services.product_save(product=form.save(commit=False), actor=request.staff)
        messages.success(request, _("Product %(sku)s saved.") % {"sku": product.sku})
        return redirect("catalog:product_edit", product_id=product.pk)
    return render(
        request,
        "catalog/product_form.html",
        {
            "form": form,
            "product": product,
            "price_form": StorePriceForm(),
            "store_prices": product.store_prices.select_related("store").order_by("store__code"),
        },
    )


@roles_allowed(CATALOG_ROLES)
def store_price(request: HttpRequest, product_id: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=product_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = StorePriceForm(request.POST)
    if form.is_valid():
        services.store_price_set(
            product=product,
            store=form.cleaned_data["store"],
            price=form.cleaned_data["price"],
            actor=request.staff,
        )
        messages.success(request, _("Store price saved."))
        return redirect("catalog:product_edit", product_id=product.pk)
    return render(
        request,
        "catalog/product_form.html",
        {
            "form": ProductForm(instance=product),
            "product": product,
            "price_form": form,
            "store_prices": product.store_prices.select_related("store").order_by("store__code"),
        },
        status=400,
    )


# --- Import and export -----------------------------------------------------------------------

IMPORT_SESSION_KEY = "catalog_import_rows"


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("Product file (CSV, TXT or XLSX)"),
        help_text=_("UTF-8, GBK or UTF-16 (Excel's Unicode text) are all read."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.tsv,.xlsx"}),
    )


@roles_allowed(CATALOG_ROLES)
def product_import(request: HttpRequest) -> HttpResponse:
    """Upload and check (a preview, nothing written), then confirm: all or nothing."""
    context: dict = {"columns": importing.COLUMNS}
    if request.method == "POST" and request.POST.get("confirm"):
        rows = request.session.pop(IMPORT_SESSION_KEY, None)
        if not rows or rows.get("tenant") != request.tenant.pk:
            messages.error(request, _("Nothing to import; upload the file again."))
            return redirect("catalog:product_import")
        created, updated = importing.products_import(rows=rows["rows"], actor=request.staff)
        messages.success(
            request,
            _("%(created)s products added, %(updated)s updated.")
            % {"created": created, "updated": updated},
        )
        return redirect("catalog:product_list")
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            rows, problems = importing.products_file_check(upload.read(), upload.name)
        except ValidationError as error:
            rows, problems = [], importing.check_error(error)
        if not problems:
            request.session[IMPORT_SESSION_KEY] = {"tenant": request.tenant.pk, "rows": rows}
        context.update(rows=rows[:50], count=len(rows), problems=tabular.error_rows(problems))
    context["form"] = form
    return render(request, "catalog/product_import.html", context)


@roles_allowed(CATALOG_ROLES)
def product_export(request: HttpRequest) -> HttpResponse:
    file_format = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
    content, content_type = importing.products_export(file_format=file_format, actor=request.staff)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="products.{file_format}"'
    return response


class CatalogSettingsForm(forms.Form):
    free_lines = forms.BooleanField(
        label=_("At the counter, codes not in the catalogue may be sold as hand-typed lines"),
        required=False,
    )
    pos_requires_sku = forms.BooleanField(
        label=_("The POS API refuses SKUs that are not active products of the catalogue"),
        required=False,
    )


@roles_allowed(Role.HQ_ADMIN)
def catalog_settings(request: HttpRequest) -> HttpResponse:
    form = CatalogSettingsForm(
        request.POST or None,
        initial={
            "free_lines": services.free_lines_allowed(),
            "pos_requires_sku": services.pos_requires_catalog(),
        },
    )
    if request.method == "POST" and form.is_valid():
        services.catalog_settings_update(actor=request.staff, **form.cleaned_data)
        messages.success(request, _("Settings saved."))
        return redirect("catalog:settings")
    return render(request, "catalog/settings.html", {"form": form})
