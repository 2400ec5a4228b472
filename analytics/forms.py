from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from analytics.models import IncentiveKind
from analytics.selectors import DEFAULT_PRESET, PRESETS
from analytics.services import LineInput
from customers.models import Customer
from stores.models import Store, StoreStatus
from tenancy.context import current_tenant
from tenancy.encryption import phone_index
from tenancy.forms import OneTimeKeyMixin
from tenancy.models import StaffMember


class StoreChoiceMixin:
    def limit_stores(self, stores) -> None:
        field = self.fields["store"]
        field.queryset = stores.exclude(status=StoreStatus.CLOSED).order_by("code")
        if field.queryset.count() == 1:
            field.initial = field.queryset.first().pk


class CounterSaleForm(StoreChoiceMixin, OneTimeKeyMixin, forms.Form):
    """The counter's quick sale. Its one-time `token` becomes the sale's unique key, so the
    same form sent twice (a double click, a retry after a timeout) records one sale."""

    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.unscoped.none())
    # A barcode scanner types the code and Enter: the form comes back with the line added
    # (or its quantity raised) from the catalogue; the sale is recorded only without a code.
    scan = forms.CharField(
        label=_("Scan or type a barcode or SKU"),
        required=False,
        max_length=40,
        help_text=_("Press Enter to add the line; scanning a product again adds one more."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autofocus": True, "enterkeyhint": "enter"}
        ),
    )
    member = forms.CharField(
        label=_("Member phone or card number"),
        required=False,
        max_length=20,
        help_text=_("Leave empty for a walk-in customer."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "search"}),
    )
    coupon_code = forms.CharField(
        label=_("Coupon code"),
        required=False,
        max_length=16,
        help_text=_("Members only; taken off after line discounts, before points."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )
    # The member's available coupons to pick from; offered by the view once the member is
    # known (offer_coupons), so its choices are only a convenience: the coupon itself is
    # checked by campaigns when the sale is recorded.
    coupon_pick = forms.CharField(
        label=_("Or pick one of the member's coupons"),
        required=False,
        widget=forms.RadioSelect,
    )
    points = forms.IntegerField(
        label=_("Points to redeem"),
        required=False,
        min_value=0,
        help_text=_("Members only; the points' value comes off the total."),
    )

    def __init__(self, *args, stores, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit_stores(stores)

    def clean_member(self) -> Customer | None:
        value = self.cleaned_data["member"].strip().replace(" ", "")
        if not value:
            return None
        member = (
            Customer.objects.active()
            .filter(Q(phone_hash=phone_index(value)) | Q(card_number=value))
            .order_by("pk")
            .first()
        )
        if member is None:
            raise ValidationError(_("No member has this phone or card number."))
        return member

    def clean(self):
        data = super().clean()
        typed = (data.get("coupon_code") or "").strip().upper()
        picked = (data.get("coupon_pick") or "").strip().upper()
        if typed and picked and typed != picked:
            self.add_error(
                "coupon_code", _("Type a code or pick a coupon, not two different coupons.")
            )
        data["coupon"] = typed or picked
        return data

    def offer_coupons(self, coupons) -> None:
        """Show the member's available coupons as choices, or no choice when there are none."""
        if not coupons:
            self.fields.pop("coupon_pick", None)
            return
        zone = current_tenant().zone
        self.fields["coupon_pick"].widget.choices = [
            ("", _("No coupon")),
            *(
                (
                    coupon.code,
                    _("%(code)s · %(offer)s · until %(until)s")
                    % {
                        "code": coupon.code,
                        "offer": coupon.offer.describe(),
                        "until": f"{timezone.localtime(coupon.valid_until, zone):%Y-%m-%d}",
                    },
                )
                for coupon in coupons
            ),
        ]


class SaleLineForm(forms.Form):
    sku = forms.CharField(label=_("SKU"), max_length=40, required=False)
    name = forms.CharField(label=_("Product name"), max_length=100, required=False)
    category = forms.CharField(label=_("Category"), max_length=50, required=False)
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=100000, initial=1)
    unit_price = forms.DecimalField(
        label=_("Unit price"),
        min_value=Decimal("0"),
        max_digits=12,
        decimal_places=2,
        required=False,
    )
    discount = forms.DecimalField(
        label=_("Discount"),
        min_value=Decimal("0"),
        max_digits=12,
        decimal_places=2,
        required=False,
    )

    # No price is fine here: a catalogue product takes its price from the catalogue, and a
    # hand-typed line without one is refused when the sale is priced.

    def line(self) -> LineInput | None:
        data = self.cleaned_data
        if not data.get("sku"):
            return None
        return LineInput(
            sku=data["sku"],
            quantity=data["quantity"],
            unit_price=data["unit_price"],
            discount=data.get("discount") or Decimal("0"),
            name=data.get("name", ""),
            category=data.get("category", ""),
        )


SaleLineFormSet = forms.formset_factory(SaleLineForm, extra=5, max_num=50, validate_max=True)


class ApiTokenForm(StoreChoiceMixin, forms.Form):
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.unscoped.none())
    name = forms.CharField(
        label=_("Token name"), max_length=50, help_text=_("Which till or POS system uses it.")
    )

    def __init__(self, *args, stores, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit_stores(stores)


class SaleImportForm(StoreChoiceMixin, forms.Form):
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.unscoped.none())
    file = forms.FileField(
        label=_("POS export (CSV or XLSX)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )

    def __init__(self, *args, stores, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit_stores(stores)


class PeriodForm(forms.Form):
    preset = forms.ChoiceField(
        label=_("Period"), choices=list(PRESETS.items()), required=False, initial=DEFAULT_PRESET
    )
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    group = forms.ChoiceField(
        label=_("Group by"),
        required=False,
        choices=[("store", _("Store")), ("region", _("Region")), ("type", _("Store type"))],
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        custom = data.get("preset") == "custom" or (not data.get("preset") and (start or end))
        if custom:
            # A custom range needs both dates: never fall back to one day silently.
            if not start and "start" not in self.errors:
                self.add_error("start", _("Enter the first day of the custom range."))
            if not end and "end" not in self.errors:
                self.add_error("end", _("Enter the last day of the custom range."))
        return data

    def period(self):
        """The chosen period; the default (last 30 days) when the form is invalid, whose
        errors the page shows beside the default figures."""
        from analytics.selectors import period_for

        data = self.cleaned_data if self.is_valid() else {}
        preset = data.get("preset") or DEFAULT_PRESET
        if data.get("start") and data.get("end") and preset == "custom":
            return period_for("custom", data["start"], data["end"])
        if data.get("start") and data.get("end") and not data.get("preset"):
            return period_for("custom", data["start"], data["end"])
        if preset == "custom":
            return period_for(DEFAULT_PRESET)
        return period_for(preset)


# --- Staff performance and incentives ------------------------------------------------------


class MonthField(forms.DateField):
    """A month as <input type="month"> (YYYY-MM), cleaned to its first day."""

    widget = forms.DateInput(attrs={"type": "month"}, format="%Y-%m")
    input_formats = ["%Y-%m", "%Y-%m-%d"]

    def clean(self, value):
        day = super().clean(value)
        return day.replace(day=1) if day else day


class StaffTargetForm(forms.Form):
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.unscoped.none())
    staff = forms.ModelChoiceField(
        label=_("Staff member"),
        queryset=StaffMember.unscoped.none(),
        required=False,
        empty_label=pgettext_lazy("target for", "The whole store"),
    )
    month = MonthField(label=_("Month"))
    net_sales = forms.DecimalField(
        label=_("Net sales target"), min_value=0, max_digits=14, decimal_places=2
    )
    members_enrolled = forms.IntegerField(
        label=_("Members enrolled target"), min_value=0, max_value=100000
    )

    def __init__(self, *args, stores, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = stores
        self.fields["staff"].queryset = StaffMember.objects.filter(
            store_assignments__store__in=stores, is_active=True
        ).distinct()

    def clean(self):
        data = super().clean()
        store, staff = data.get("store"), data.get("staff")
        if store and staff and not staff.store_assignments.filter(store=store).exists():
            self.add_error("staff", _("This staff member does not work at this store."))
        return data


class IncentiveRuleForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=IncentiveKind.choices)
    amount = forms.DecimalField(
        label=_("Rate (%) or amount (CNY)"),
        min_value=0,
        max_digits=10,
        decimal_places=2,
        help_text=_("A percentage for net sales (1.5 = 1.5 %), an amount per event otherwise."),
    )
    effective_from = forms.DateField(
        label=_("Effective from"), widget=forms.DateInput(attrs={"type": "date"})
    )


class MonthForm(forms.Form):
    month = MonthField(label=_("Month"))
