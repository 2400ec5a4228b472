from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from catalog.barcodes import normalise_barcode
from catalog.models import MONEY, Product
from stores.models import Store, StoreStatus


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = ["sku", "barcode", "name", "category", "unit", "list_price", "is_active"]
        widgets = {"barcode": forms.TextInput(attrs={"inputmode": "numeric"})}

    def clean_sku(self) -> str:
        sku = self.cleaned_data["sku"].strip()
        # The form does not carry the tenant, so Django skips the (tenant, sku) constraint.
        if Product.objects.filter(sku=sku).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(_("Another product has this SKU."))
        return sku

    def clean_barcode(self) -> str:
        barcode = normalise_barcode(self.cleaned_data["barcode"] or "")
        others = Product.objects.filter(barcode=barcode).exclude(pk=self.instance.pk)
        if barcode and others.exists():
            raise forms.ValidationError(_("Another product has this barcode."))
        return barcode


class StorePriceForm(forms.Form):
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.unscoped.none())
    price = forms.DecimalField(
        label=_("Store price"),
        required=False,
        min_value=0,
        help_text=_("Leave empty to sell at the list price in this store."),
        **MONEY,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = Store.objects.exclude(status=StoreStatus.CLOSED).order_by(
            "code"
        )
