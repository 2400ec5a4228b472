from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from customers.lunar import day_name, month_name
from customers.models import ConsentChannel, Customer, Gender, RfmSegment, Tag
from customers.services import normalise_phone, validate_birthdays
from stores.models import Store, StoreStatus

MONTHS = [("", "—")] + [(str(m), str(m)) for m in range(1, 13)]


class LookupForm(forms.Form):
    q = forms.CharField(label=_("Mobile, last 4 digits or card number"), required=False)


SOLAR, LUNAR = "solar", "lunar"
CALENDARS = [(SOLAR, _("Solar calendar (公历)")), (LUNAR, _("Lunar calendar (农历)"))]
LUNAR_MONTHS = [("", "—")] + [(str(m), f"{m} · {month_name(m, False)}") for m in range(1, 13)]
LUNAR_DAYS = [("", "—")] + [(str(d), f"{d} · {day_name(d)}") for d in range(1, 31)]
SOLAR_FIELDS = ("birth_month", "birth_day")
LUNAR_FIELDS = ("lunar_birth_month", "lunar_birth_day", "lunar_birth_leap")


class BirthdayForm(forms.Form):
    """The birthday part of the enrol and edit forms: a calendar choice (公历/农历), then the
    solar and the lunar month and day. Cleaning drops the choice and empties the other
    calendar's fields, so cleaned_data holds the model's fields only."""

    birthday_calendar = forms.ChoiceField(
        label=_("Birthday calendar"),
        choices=CALENDARS,
        initial=SOLAR,
        required=False,
        widget=forms.RadioSelect,
    )
    birth_year = forms.IntegerField(
        label=_("Birth year (optional)"),
        required=False,
        help_text=_("For a lunar birthday, the lunar year."),
    )
    birth_month = forms.TypedChoiceField(
        label=_("Birth month"), choices=MONTHS, coerce=int, empty_value=None, required=False
    )
    birth_day = forms.IntegerField(label=_("Birth day"), required=False, min_value=1, max_value=31)
    lunar_birth_month = forms.TypedChoiceField(
        label=_("Lunar birth month"),
        choices=LUNAR_MONTHS,
        coerce=int,
        empty_value=None,
        required=False,
    )
    lunar_birth_day = forms.TypedChoiceField(
        label=_("Lunar birth day"), choices=LUNAR_DAYS, coerce=int, empty_value=None, required=False
    )
    lunar_birth_leap = forms.BooleanField(
        label=_("Leap month (闰月)"),
        required=False,
        help_text=_("In years without this leap month the greeting goes out in the regular month."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read by includes/form.html and customers/birthday.js: only the chosen calendar's
        # fields are shown (all of them without JavaScript).
        for name in SOLAR_FIELDS:
            self.fields[name].show_when = f"birthday_calendar={SOLAR}"
        for name in LUNAR_FIELDS:
            self.fields[name].show_when = f"birthday_calendar={LUNAR}"

    def clean(self):
        data = super().clean()
        calendar = data.pop("birthday_calendar", "")
        if not calendar:
            # No choice posted (a client without the radio): the calendar whose fields are filled.
            calendar = LUNAR if any(data.get(name) for name in LUNAR_FIELDS) else SOLAR
        cleared = SOLAR_FIELDS if calendar == LUNAR else LUNAR_FIELDS
        for name in cleared:
            data[name] = False if name == "lunar_birth_leap" else None
        try:
            validate_birthdays(
                year=data.get("birth_year"),
                month=data.get("birth_month"),
                day=data.get("birth_day"),
                lunar_month=data.get("lunar_birth_month"),
                lunar_day=data.get("lunar_birth_day"),
                lunar_leap=bool(data.get("lunar_birth_leap")),
            )
        except ValidationError as exc:
            self.add_error("lunar_birth_day" if calendar == LUNAR else "birth_day", exc)
        return data


def store_choices():
    return Store.objects.exclude(status=StoreStatus.CLOSED).order_by("code")


BIRTHDAY_FIELDS = ["birthday_calendar", "birth_year", *SOLAR_FIELDS, *LUNAR_FIELDS]


class EnrolForm(BirthdayForm):
    phone = forms.CharField(
        label=_("Mobile phone"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"inputmode": "tel", "autocomplete": "off", "autofocus": True}
        ),
    )
    name = forms.CharField(label=_("Name"), max_length=50)
    gender = forms.ChoiceField(label=_("Gender"), choices=Gender.choices, initial=Gender.UNKNOWN)
    home_store = forms.ModelChoiceField(label=_("Home store"), queryset=Store.unscoped.none())
    marketing_consent = forms.BooleanField(
        label=_("The member agrees to receive marketing messages"), required=False
    )
    consent_channel = forms.ChoiceField(
        label=_("Consent given"), choices=ConsentChannel.choices, initial=ConsentChannel.COUNTER
    )

    field_order = ["phone", "name", "gender", *BIRTHDAY_FIELDS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["home_store"].queryset = store_choices()

    def clean_phone(self):
        return normalise_phone(self.cleaned_data["phone"])


class CustomerEditForm(BirthdayForm):
    """A member's details. Phone and e-mail are shown masked, as everywhere else: the full
    values are read only through the audited reveal, never through a form's initial value.
    Posting the masked value back (or, for the phone, nothing) keeps what is stored."""

    phone = forms.CharField(
        label=_("Mobile phone"),
        max_length=20,
        required=False,
        help_text=_("Shown masked. Leave it as shown to keep the number, or type a new one."),
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    name = forms.CharField(label=_("Name"), max_length=50)
    gender = forms.ChoiceField(label=_("Gender"), choices=Gender.choices)
    home_store = forms.ModelChoiceField(label=_("Home store"), queryset=Store.unscoped.none())
    email = forms.CharField(
        label=_("E-mail (optional)"),
        max_length=254,
        required=False,
        help_text=_(
            "Shown masked. Leave it as shown to keep the address, type a new one, "
            "or clear it to remove it."
        ),
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, customer: Customer, **kwargs):
        self.customer = customer
        initial = {
            "phone": customer.masked_phone,
            "name": customer.name,
            "gender": customer.gender,
            "birth_year": customer.birth_year,
            "birth_month": customer.birth_month,
            "birth_day": customer.birth_day,
            "birthday_calendar": LUNAR if customer.lunar_birth_month else SOLAR,
            "lunar_birth_month": customer.lunar_birth_month,
            "lunar_birth_day": customer.lunar_birth_day,
            "lunar_birth_leap": customer.lunar_birth_leap,
            "home_store": customer.home_store_id,
            "email": customer.masked_email,
            "notes": customer.notes,
        }
        super().__init__(*args, initial=initial, **kwargs)
        self.fields["home_store"].queryset = Store.objects.order_by("code")

    def clean_phone(self):
        value = self.cleaned_data["phone"].strip()
        if self.customer.phone and value in ("", self.customer.masked_phone):
            return self.customer.phone
        if "*" in value:
            # An edited masked value would otherwise read as "not a valid number".
            raise ValidationError(
                _("Type the whole new number, or leave the masked one as it was."),
                code="partial",
            )
        return normalise_phone(value)

    def clean_email(self):
        value = self.cleaned_data["email"].strip()
        if self.customer.email and value == self.customer.masked_email:
            return self.customer.email
        if "***" in value:
            # "*" is legal in an address, so an edited masked value would be saved as typed.
            raise ValidationError(
                _("Type the whole new address, or leave the masked one as it was."),
                code="partial",
            )
        if value:
            validate_email(value)
        return value


class ConsentForm(forms.Form):
    consent = forms.TypedChoiceField(
        label=_("Marketing consent"),
        choices=[("1", _("Agrees")), ("0", _("Withdrawn"))],
        coerce=lambda v: v == "1",
    )
    channel = forms.ChoiceField(label=_("Channel"), choices=ConsentChannel.choices)


class TagChoiceForm(forms.Form):
    tag = forms.ModelChoiceField(label=_("Tag"), queryset=Tag.unscoped.none())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tag"].queryset = Tag.objects.all()


class BulkTagForm(TagChoiceForm):
    action = forms.ChoiceField(
        label=_("Action"), choices=[("add", _("Add tag")), ("remove", _("Remove tag"))]
    )
    # Empty on the list page's form: the first POST only asks for confirmation with the count,
    # the confirmation page sends the count back and the action runs only on that many.
    expected_count = forms.IntegerField(min_value=0, required=False, widget=forms.HiddenInput)

    @classmethod
    def confirmation(cls, *, tag: Tag, action: str, count: int) -> BulkTagForm:
        """The confirmation page's form: every choice made, hidden, with the count shown."""
        form = cls(initial={"tag": tag, "action": action, "expected_count": count})
        for name in ("tag", "action"):
            form.fields[name].widget = forms.HiddenInput()
        return form


class TagCreateForm(forms.Form):
    name = forms.CharField(label=_("Tag name"), max_length=30)


class EraseForm(forms.Form):
    reason = forms.CharField(label=_("Reason (for example the member's request)"), max_length=500)


class MergeForm(forms.Form):
    source = forms.CharField(label=_("Duplicate card number (merged away)"), max_length=20)
    target = forms.CharField(label=_("Card number of the member who stays"), max_length=20)


class CriteriaForm(forms.Form):
    """Member filters, shared by the member list and saved segments."""

    tags = forms.ModelMultipleChoiceField(
        label=_("Any of these tags"), queryset=Tag.unscoped.none(), required=False
    )
    tier_code = forms.CharField(label=_("Tier code"), max_length=20, required=False)
    home_stores = forms.ModelMultipleChoiceField(
        label=_("Home stores"), queryset=Store.unscoped.none(), required=False
    )
    birth_month = forms.TypedChoiceField(
        label=_("Birthday month"), choices=MONTHS, coerce=int, empty_value=None, required=False
    )
    lunar_birthday_this_month = forms.BooleanField(
        label=_("Lunar birthday (农历生日) this month"),
        required=False,
        help_text=_("Members whose lunar birthday falls in the current month this year."),
    )
    last_purchase_after = forms.DateField(
        label=_("Last purchase on or after"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    last_purchase_before = forms.DateField(
        label=_("Last purchase before"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    total_spent_min = forms.DecimalField(
        label=_("Total spent at least"), max_digits=14, decimal_places=2, required=False
    )
    total_spent_max = forms.DecimalField(
        label=_("Total spent at most"), max_digits=14, decimal_places=2, required=False
    )
    rfm_segment = forms.ChoiceField(
        label=_("RFM segment"), choices=[("", "—"), *RfmSegment.choices], required=False
    )
    marketing_consent = forms.BooleanField(
        label=_("Only members who agreed to marketing"), required=False
    )

    def __init__(self, *args, stores=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tags"].queryset = Tag.objects.all()
        self.fields["home_stores"].queryset = stores if stores is not None else Store.objects.all()

    def criteria(self) -> dict:
        data = self.cleaned_data
        criteria = {
            "tags": [tag.pk for tag in data.get("tags") or []],
            "tier_code": data.get("tier_code") or "",
            "home_stores": [store.pk for store in data.get("home_stores") or []],
            "birth_month": data.get("birth_month"),
            "lunar_birthday_this_month": bool(data.get("lunar_birthday_this_month")),
            "last_purchase_after": data["last_purchase_after"].isoformat()
            if data.get("last_purchase_after")
            else "",
            "last_purchase_before": data["last_purchase_before"].isoformat()
            if data.get("last_purchase_before")
            else "",
            "total_spent_min": str(data["total_spent_min"])
            if data.get("total_spent_min") is not None
            else "",
            "total_spent_max": str(data["total_spent_max"])
            if data.get("total_spent_max") is not None
            else "",
            "rfm_segment": data.get("rfm_segment") or "",
            "marketing_consent": bool(data.get("marketing_consent")),
        }
        return {key: value for key, value in criteria.items() if value not in ("", None, [], False)}

    @staticmethod
    def initial_from(criteria: dict) -> dict:
        return {key: value for key, value in criteria.items()}


class SegmentForm(CriteriaForm):
    name = forms.CharField(label=_("Segment name"), max_length=100)
    description = forms.CharField(label=_("Description"), max_length=200, required=False)

    field_order = ["name", "description"]


class ImportForm(forms.Form):
    file = forms.FileField(label=_("CSV or XLSX file"))
    default_store = forms.ModelChoiceField(
        label=_("Default store"),
        queryset=Store.unscoped.none(),
        required=False,
        help_text=_("Home store of new members whose row has no store code."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["default_store"].queryset = store_choices()


# Personal data (customers.privacy) ------------------------------------------------------


def _hq_owner_field(required: bool = False) -> forms.ModelChoiceField:
    from tenancy.models import HQ_ROLES, StaffMember

    return forms.ModelChoiceField(
        label=_("Owner"),
        queryset=StaffMember.objects.filter(role__in=HQ_ROLES, is_active=True).order_by(
            "display_name"
        ),
        required=required,
    )


class PrivacySettingsForm(forms.Form):
    retention_years = forms.IntegerField(
        label=_("Anonymise members inactive for (years)"),
        min_value=0,
        max_value=50,
        help_text=_(
            "No purchase and no visit for this many years; 0 turns the policy off. "
            "Check the preview before turning it on."
        ),
    )
    request_days = forms.IntegerField(
        label=_("Working days to answer a personal-data request"), min_value=1, max_value=60
    )
    reminder_days = forms.IntegerField(
        label=_("Remind the owner this many working days before the due date"),
        min_value=0,
        max_value=30,
    )


class DataRequestFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False)
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)

    def __init__(self, *args, **kwargs):
        from customers.models import RequestStatus

        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [
            ("", _("Unfinished")),
            ("all", _("All")),
            *RequestStatus.choices,
        ]


class DataRequestCreateForm(forms.Form):
    card_number = forms.CharField(
        label=_("Member card number"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    kind = forms.ChoiceField(label=_("Request"))
    channel = forms.ChoiceField(label=_("Received by"))
    received_on = forms.DateField(
        label=_("Received on"), widget=forms.DateInput(attrs={"type": "date"})
    )
    note = forms.CharField(
        label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, **kwargs):
        from customers.models import RequestChannel, RequestKind

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = RequestKind.choices
        self.fields["channel"].choices = RequestChannel.choices
        self.fields["owner"] = _hq_owner_field()
        self.order_fields(["card_number", "kind", "channel", "received_on", "owner", "note"])

    def clean_card_number(self):
        card = self.cleaned_data["card_number"].strip().upper()
        customer = Customer.objects.active().filter(card_number=card).first()
        if customer is None:
            raise ValidationError(_("No member has this card number."))
        self.customer = customer
        return card


class DataRequestUpdateForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"))
    note = forms.CharField(
        label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, **kwargs):
        from customers.models import RequestStatus

        super().__init__(*args, **kwargs)
        self.fields["status"].choices = RequestStatus.choices
        self.fields["owner"] = _hq_owner_field()
        self.order_fields(["status", "owner", "note"])
