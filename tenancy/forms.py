import re
import uuid
import zoneinfo

from django import forms
from django.apps import apps
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tenancy.models import CalendarDay, Role

COMMON_ZONES = [
    "Asia/Shanghai",
    "Asia/Urumqi",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Macau",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Europe/London",
    "America/New_York",
]


class OneTimeKeyMixin(forms.Form):
    """A key minted when the form is shown, sent back hidden with every submit.

    A form that writes money, points or stock turns it into the write's unique source key, so
    a double click, a resubmitted page or a retry after a timeout writes once and the repeat
    is answered with the first result (docs/reliability.md).
    """

    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["token"] = uuid.uuid4().hex

    def clean_token(self) -> str:
        token = self.cleaned_data["token"]
        if not re.fullmatch(r"[0-9a-f]{32}", token):
            raise forms.ValidationError(_("The form expired; please try again."))
        return token


class StoreChoiceMixin(forms.Form):
    stores = forms.ModelMultipleChoiceField(
        label=_("Stores"),
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Store managers and clerks work only for the stores ticked here."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        store = apps.get_model("stores", "Store")
        self.fields["stores"].queryset = store.objects.order_by("code")


class StaffForm(StoreChoiceMixin):
    display_name = forms.CharField(label=_("Name"), max_length=50)
    phone = forms.CharField(label=_("Phone"), max_length=20, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    field_order = ["display_name", "phone", "role", "stores"]


class StaffCreateForm(StaffForm):
    username = forms.RegexField(
        label=_("User name"),
        max_length=150,
        regex=r"^[\w.@+-]+$",
        error_messages={"invalid": _("Use letters, digits and . @ + - _ only.")},
    )
    password = forms.CharField(
        label=_("Initial password"), widget=forms.PasswordInput(render_value=False)
    )
    field_order = ["username", "display_name", "phone", "role", "stores", "password"]


class StaffEditForm(StaffForm):
    is_active = forms.BooleanField(label=_("Active"), required=False)


class PasswordResetForm(forms.Form):
    password = forms.CharField(label=_("New password"), widget=forms.PasswordInput)


class TenantForm(forms.Form):
    name = forms.CharField(label=_("Company name"), max_length=100)
    time_zone = forms.ChoiceField(label=_("Time zone"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        zones = sorted(zoneinfo.available_timezones())
        ordered = COMMON_ZONES + [zone for zone in zones if zone not in COMMON_ZONES]
        self.fields["time_zone"].choices = [(zone, zone) for zone in ordered]


class CalendarDayForm(forms.Form):
    """One day of the working calendar: off (a public holiday) or a make-up working day."""

    day = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    kind = forms.ChoiceField(
        label=pgettext_lazy("calendar day", "Kind"), choices=CalendarDay.Kind.choices
    )
    name = forms.CharField(
        label=pgettext_lazy("calendar day", "Name"),
        max_length=40,
        required=False,
        help_text=_("E.g. 国庆节 or 国庆节调休."),
    )
