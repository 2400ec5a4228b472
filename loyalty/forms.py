from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from loyalty.models import PointsRule, Tier
from stores.models import Store, StoreStatus
from tenancy.access import scope_to_stores
from tenancy.forms import OneTimeKeyMixin
from tenancy.models import StaffMember


class MemberLookupForm(forms.Form):
    q = forms.CharField(
        label=_("Phone, card number or last 4 digits"),
        max_length=20,
        widget=forms.TextInput(attrs={"autofocus": True, "inputmode": "search"}),
    )


class RedeemForm(OneTimeKeyMixin, forms.Form):
    """A gift (or a discount) paid with points at the counter.

    `token` is minted when the form is shown and becomes the entry's source key, so a
    double click or a resubmitted page redeems once.
    """

    points = forms.IntegerField(label=_("Points to redeem"), min_value=1)
    reason = forms.CharField(label=_("Gift or purpose"), max_length=200)
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.unscoped.none())

    def __init__(self, *args, staff: StaffMember, **kwargs):
        super().__init__(*args, **kwargs)
        stores = Store.objects.filter(status=StoreStatus.OPEN)
        self.fields["store"].queryset = scope_to_stores(stores, staff, "pk").order_by("code")
        if len(self.fields["store"].queryset) == 1:
            self.fields["store"].initial = self.fields["store"].queryset[0].pk


class TierBuyForm(OneTimeKeyMixin, forms.Form):
    """Upgrade with points at the counter; the token makes a double click buy once."""

    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.unscoped.none())

    def __init__(self, *args, staff: StaffMember, **kwargs):
        super().__init__(*args, **kwargs)
        stores = Store.objects.filter(status=StoreStatus.OPEN)
        self.fields["store"].queryset = scope_to_stores(stores, staff, "pk").order_by("code")
        if len(self.fields["store"].queryset) == 1:
            self.fields["store"].initial = self.fields["store"].queryset[0].pk


class AdjustForm(OneTimeKeyMixin, forms.Form):
    points = forms.IntegerField(
        label=_("Points"), help_text=_("Positive to add, negative to remove.")
    )
    reason = forms.CharField(label=_("Reason"), max_length=200)


class PointsRuleForm(forms.ModelForm):
    excluded_categories_text = forms.CharField(
        label=_("Excluded product categories"),
        required=False,
        help_text=_("Separate categories with commas, e.g. tobacco, gift cards."),
    )

    class Meta:
        model = PointsRule
        fields = [
            "points_per_yuan",
            "expiry_months",
            "redeem_points_per_yuan",
            "redeem_minimum",
            "expiry_notice_days",
            "adjust_limit_store_manager",
            "adjust_limit_hq",
            "adjust_budget_store_manager",
            "adjust_budget_hq",
            "referral_points",
            "behaviour_points",
            "pending_days",
            "refund_shortfall",
            "issuance_cap_mode",
            "tier_purchase",
            "tier_purchase_period_months",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pending_days"].required = False
        self.fields["issuance_cap_mode"].required = False
        self.fields["refund_shortfall"].required = False
        self.fields["tier_purchase_period_months"].required = False
        self.fields["excluded_categories_text"].initial = ", ".join(
            self.instance.excluded_categories or []
        )

    def clean_tier_purchase_period_months(self) -> int:
        value = self.cleaned_data.get("tier_purchase_period_months")
        return value or self.instance.tier_purchase_period_months

    def clean_refund_shortfall(self) -> str:
        # Empty (a form posted before the choice existed): keep the current choice.
        return self.cleaned_data.get("refund_shortfall") or self.instance.refund_shortfall

    def clean_issuance_cap_mode(self) -> str:
        return self.cleaned_data.get("issuance_cap_mode") or self.instance.issuance_cap_mode

    def clean_pending_days(self) -> int:
        # Empty (or a form posted before the return window existed): keep the current window.
        value = self.cleaned_data.get("pending_days")
        return self.instance.pending_days if value is None else value

    def clean_excluded_categories_text(self) -> list[str]:
        raw = self.cleaned_data["excluded_categories_text"]
        names = [part.strip() for part in re.split(r"[,，、\n]", raw)]
        return list(dict.fromkeys(name for name in names if name))

    def save(self, commit: bool = True) -> PointsRule:
        self.instance.excluded_categories = self.cleaned_data["excluded_categories_text"]
        return super().save(commit=commit)


class TierForm(forms.ModelForm):
    class Meta:
        model = Tier
        fields = [
            "order",
            "code",
            "name",
            "min_spend",
            "min_purchases",
            "min_referrals",
            "window_months",
            "multiplier",
            "benefits",
            "review_months",
            "max_downgrade_steps",
            "retention_months",
            "retain_min_spend",
            "retain_min_purchases",
            "upgrade_points",
        ]
        widgets = {"benefits": forms.Textarea(attrs={"rows": 3})}

    # The rule values the preview was computed for; applying other values previews again.
    previewed = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Empty: not a criterion / no grace period / not sold / the entry threshold.
        for name in ("min_referrals", "retention_months", "upgrade_points"):
            self.fields[name].required = False

    def clean_min_referrals(self) -> int:
        return self.cleaned_data.get("min_referrals") or 0

    def clean_retention_months(self) -> int:
        return self.cleaned_data.get("retention_months") or 0

    def clean_upgrade_points(self) -> int:
        return self.cleaned_data.get("upgrade_points") or 0

    def clean(self):
        cleaned = super().clean()
        # A retention threshold (保级门槛) above the entry one would drop members who qualify.
        for retain, entry in (
            ("retain_min_spend", "min_spend"),
            ("retain_min_purchases", "min_purchases"),
        ):
            value = cleaned.get(retain)
            if value is not None and entry in cleaned and value > cleaned[entry]:
                self.add_error(retain, _("The retention threshold cannot exceed the entry one."))
        # The unique constraints start with tenant, which the form does not see: check here
        # so the HQ admin gets a message instead of an error page.
        others = Tier.objects.exclude(pk=self.instance.pk)
        if "code" in cleaned and others.filter(code=cleaned["code"]).exists():
            self.add_error("code", _("Another tier already uses this code."))
        if "order" in cleaned and others.filter(order=cleaned["order"]).exists():
            self.add_error("order", _("Another tier already has this order."))
        return cleaned


# --- settlement, liability and issuance caps -------------------------------------------------


class PeriodForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError(_("The period ends before it starts."))
        return data


class MonthField(forms.DateField):
    """A calendar month typed as YYYY-MM (the browser's month picker), as its first day."""

    widget = forms.DateInput(attrs={"type": "month"})
    input_formats = ["%Y-%m"]

    def prepare_value(self, value):
        return value.strftime("%Y-%m") if hasattr(value, "strftime") else value


class MonthForm(forms.Form):
    month = MonthField(label=_("Month"))


class StatementDecideForm(forms.Form):
    # Sent by the button pressed (name="decision"), so it is not rendered as a field.
    decision = forms.ChoiceField(choices=[("confirm", _("Confirm")), ("dispute", _("Dispute"))])
    note = forms.CharField(
        label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class StoreCapForm(forms.Form):
    monthly_cap = forms.IntegerField(
        label=_("Monthly points cap"),
        min_value=0,
        required=False,
        help_text=_("Leave empty for no cap."),
    )


class CapModeForm(forms.ModelForm):
    class Meta:
        model = PointsRule
        fields = ["issuance_cap_mode"]
