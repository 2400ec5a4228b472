"""Forms of the campaign pages. They check input shape; the rules live in campaigns.services."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from campaigns import hooks, services
from campaigns.models import (
    DEFAULT_BIRTHDAY_TEMPLATE,
    Audience,
    Campaign,
    CampaignSettings,
    Channel,
    CouponOffer,
    Schedule,
)
from customers.forms import CriteriaForm
from customers.models import Customer, Segment
from stores.models import Store, StoreStatus
from tenancy.encryption import phone_index
from tenancy.forms import OneTimeKeyMixin
from tenancy.models import StaffMember

WEEKDAYS = [
    (1, _("Monday")),
    (2, _("Tuesday")),
    (3, _("Wednesday")),
    (4, _("Thursday")),
    (5, _("Friday")),
    (6, _("Saturday")),
    (7, _("Sunday")),
]
# Keys of the ad-hoc conditions: the same as customers.Segment.criteria.
CRITERIA_FIELDS = (
    "tags",
    "tier_code",
    "home_stores",
    "birth_month",
    "lunar_birthday_this_month",
    "last_purchase_after",
    "last_purchase_before",
    "total_spent_min",
    "total_spent_max",
    "rfm_segment",
)


def _datetime_widget() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def _time_widget() -> forms.TimeInput:
    return forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


def staff_stores(staff: StaffMember):
    """The open stores a staff member may pick: all for HQ, their own for store managers."""
    stores = Store.objects.exclude(status=StoreStatus.CLOSED).order_by("code")
    return stores if staff.is_hq else stores.filter(pk__in=staff.store_ids)


def usable_offers():
    return CouponOffer.objects.filter(is_active=True, valid_until__gt=timezone.now()).order_by(
        "name"
    )


class AudienceForm(CriteriaForm):
    """Who a campaign reaches: a saved segment or ad-hoc conditions, within some stores.

    Also the live count's form: the count endpoint reads the same fields from the query string.
    """

    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices, initial=Channel.SMS)
    audience = forms.ChoiceField(
        label=_("Choose members by"),
        choices=Audience.choices,
        initial=Audience.FILTER,
        widget=forms.RadioSelect,
    )
    segment = forms.ModelChoiceField(
        label=_("Saved segment"), queryset=Segment.unscoped.none(), required=False
    )
    stores = forms.ModelMultipleChoiceField(
        label=_("Stores"),
        queryset=Store.unscoped.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, staff: StaffMember, **kwargs):
        own = staff_stores(staff)
        super().__init__(*args, stores=own, **kwargs)
        self.staff = staff
        # Campaigns always require marketing consent; it is counted as an exclusion instead.
        del self.fields["marketing_consent"]
        from loyalty.models import Tier

        tiers = [("", "—")] + [(t.code, t.name) for t in Tier.objects.order_by("order")]
        self.fields["tier_code"] = forms.ChoiceField(label=_("Tier"), choices=tiers, required=False)
        self.fields["rfm_segment"].help_text = _(
            "Written nightly from recency, frequency and spend."
        )
        self.fields["segment"].queryset = Segment.objects.order_by("name")
        self.fields["stores"].queryset = own
        self.fields["stores"].help_text = (
            _("Empty: the whole chain.")
            if staff.is_hq
            else _("Only members of these stores are reached.")
        )
        # Conditions the apps above add (campaigns.hooks), e.g. "likely to buy" a product.
        for key, (label, help_text) in hooks.audience_fields().items():
            self.fields[key] = forms.CharField(
                label=label, help_text=help_text, required=False, max_length=40
            )

    def hook_fields(self) -> list:
        return [self[key] for key in hooks.audience_fields() if key in self.fields]

    def criteria(self) -> dict:
        criteria = super().criteria()
        for key in hooks.audience_fields():
            value = (self.cleaned_data.get(key) or "").strip() if key in self.fields else ""
            if value:  # like the other conditions: an empty one is not stored
                criteria[key] = value
        return criteria

    def clean(self):
        data = super().clean()
        if data.get("audience") == Audience.SEGMENT and not data.get("segment"):
            self.add_error("segment", _("Choose a segment."))
        return data

    def audience_criteria(self) -> dict:
        data = self.cleaned_data
        if data.get("audience") == Audience.SEGMENT and data.get("segment"):
            return dict(data["segment"].criteria or {})
        return self.criteria()

    def store_ids(self) -> list[int]:
        """Chosen stores; a store manager who chose none is limited to their own."""
        chosen = [store.pk for store in self.cleaned_data.get("stores") or []]
        if not chosen and not self.staff.is_hq:
            return sorted(self.staff.store_ids)
        return chosen


class CampaignForm(AudienceForm):
    name = forms.CharField(label=_("Campaign name"), max_length=100)
    template = forms.CharField(
        label=_("Message"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Placeholders: {name} {tier} {points} {coupon_code} {store}"),
    )
    offer = forms.ModelChoiceField(
        label=_("Coupon to issue"),
        queryset=CouponOffer.unscoped.none(),
        required=False,
        help_text=_("Each targeted member gets one coupon; {coupon_code} shows its code."),
    )
    holdout_percent = forms.IntegerField(
        label=_("Holdout group %"),
        min_value=0,
        max_value=50,
        initial=0,
        help_text=_("This share of the audience gets nothing, to measure the effect."),
    )
    schedule = forms.ChoiceField(
        label=_("Schedule"),
        choices=Schedule.choices,
        initial=Schedule.NOW,
        widget=forms.RadioSelect,
    )
    send_at = forms.DateTimeField(label=_("Send at"), required=False, widget=_datetime_widget())
    recur_day = forms.IntegerField(
        label=_("Member day"),
        required=False,
        min_value=1,
        max_value=28,
        help_text=_("Weekly: 1 (Monday) to 7 (Sunday). Monthly: day 1 to 28."),
    )
    send_time = forms.TimeField(label=_("Send time"), required=False, widget=_time_widget())
    ends_on = forms.DateField(
        label=_("Last day (optional)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    effect_days = forms.IntegerField(
        label=_("Effect window (days)"),
        min_value=1,
        max_value=90,
        initial=14,
        help_text=_("Purchases in this many days after sending count as the campaign's effect."),
    )

    def __init__(self, *args, staff: StaffMember, campaign: Campaign | None = None, **kwargs):
        if campaign is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_for(campaign)
        super().__init__(*args, staff=staff, **kwargs)
        extra = " ".join("{" + name + "}" for name in hooks.placeholder_names())
        if extra:
            self.fields["template"].help_text = f"{self.fields['template'].help_text} {extra}"
        if not staff.is_hq:
            self.fields["stores"].required = True
            self.fields["stores"].error_messages["required"] = _(
                "Choose at least one of your stores."
            )
        offers = usable_offers()
        if campaign is not None and campaign.offer_id:
            offers = CouponOffer.objects.filter(
                Q(pk__in=offers.values("pk")) | Q(pk=campaign.offer_id)
            ).order_by("name")
        self.fields["offer"].queryset = offers

    @staticmethod
    def initial_for(campaign: Campaign) -> dict:
        return {
            **(campaign.criteria or {}),
            "name": campaign.name,
            "channel": campaign.channel,
            "audience": campaign.audience,
            "segment": campaign.segment_id,
            "stores": list(campaign.store_links.values_list("store_id", flat=True)),
            "template": campaign.template,
            "offer": campaign.offer_id,
            "holdout_percent": campaign.holdout_percent,
            "schedule": campaign.schedule,
            "send_at": campaign.send_at,
            "recur_day": campaign.recur_day,
            "send_time": campaign.send_time,
            "ends_on": campaign.ends_on,
            "effect_days": campaign.effect_days,
        }

    def clean(self):
        data = super().clean()
        schedule = data.get("schedule")
        if schedule == Schedule.WEEKLY and (data.get("recur_day") or 0) > 7:
            self.add_error("recur_day", _("Choose a weekday, 1 (Monday) to 7 (Sunday)."))
        if schedule == Schedule.AT and data.get("send_at") and data["send_at"] <= timezone.now():
            self.add_error("send_at", _("The sending time has passed."))
        return data

    def apply(self, campaign: Campaign) -> Campaign:
        """Copy the form onto the (unsaved) campaign; campaign_save checks and stores it."""
        data = self.cleaned_data
        campaign.name = data["name"]
        campaign.channel = data["channel"]
        campaign.audience = data["audience"]
        segment = data.get("segment") if data["audience"] == Audience.SEGMENT else None
        campaign.segment = segment
        campaign.criteria = self.criteria() if segment is None else {}
        campaign.template = data["template"]
        campaign.offer = data.get("offer")
        campaign.holdout_percent = data["holdout_percent"]
        campaign.schedule = data["schedule"]
        recurring = data["schedule"] in (Schedule.WEEKLY, Schedule.MONTHLY)
        campaign.send_at = data.get("send_at") if data["schedule"] == Schedule.AT else None
        campaign.recur_day = data.get("recur_day") if recurring else None
        campaign.send_time = data.get("send_time") if recurring else None
        campaign.ends_on = data.get("ends_on") if recurring else None
        campaign.effect_days = data["effect_days"]
        return campaign


class PreviewForm(forms.Form):
    template = forms.CharField(label=_("Message"), max_length=500, required=False)
    channel = forms.ChoiceField(choices=Channel.choices, required=False)
    member_q = forms.CharField(
        label=_("Preview for (phone or card number)"), max_length=20, required=False
    )


def find_member(query: str) -> Customer | None:
    """A member by full phone or card number (not erased, not merged away)."""
    query = query.strip()
    if not query:
        return None
    return (
        Customer.objects.filter(Q(phone_hash=phone_index(query)) | Q(card_number=query))
        .filter(is_erased=False, merged_into__isnull=True)
        .select_related("home_store")
        .first()
    )


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason for cancelling"), max_length=300)


class CouponOfferForm(forms.ModelForm):
    stores_limit = forms.ModelMultipleChoiceField(
        label=_("Only in these stores"),
        queryset=Store.unscoped.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Empty: every store."),
    )

    class Meta:
        model = CouponOffer
        fields = [
            "name",
            "kind",
            "value",
            "min_spend",
            "valid_from",
            "valid_until",
            "valid_days",
            "per_member_limit",
            "total_limit",
            "is_active",
        ]
        labels = {
            "name": _("Coupon name"),
            "kind": _("Discount"),
            "value": _("Value (yuan off, or percent off)"),
        }
        widgets = {"valid_from": _datetime_widget(), "valid_until": _datetime_widget()}
        help_texts = {
            "valid_days": _("Empty: until the offer ends."),
            "total_limit": _("Empty: no limit."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stores_limit"].queryset = Store.objects.order_by("code")
        if self.instance.pk:
            self.fields["stores_limit"].initial = list(
                self.instance.store_links.values_list("store_id", flat=True)
            )

    def clean(self):
        data = super().clean()
        # The service's own checks, on the typed values, so they show by field in Chinese
        # (the model's CHECK constraints would otherwise answer with their generic text).
        probe = CouponOffer(
            kind=data.get("kind"),
            value=data.get("value"),
            valid_from=data.get("valid_from"),
            valid_until=data.get("valid_until"),
        )
        try:
            services.offer_check(probe)
        except ValidationError as error:
            for field, errors in error.error_dict.items():
                self.add_error(field, errors)
        limit = data.get("total_limit")
        if limit is not None and limit < self.instance.used_count:
            self.add_error(
                "total_limit",
                _("%(used)d coupons were already used; the limit cannot be lower.")
                % {"used": self.instance.used_count},
            )
        return data


class CouponIssueForm(OneTimeKeyMixin, forms.Form):
    member_q = forms.CharField(label=_("Member's phone or card number"), max_length=20)
    reason = forms.CharField(label=_("Reason"), max_length=200)

    def clean_member_q(self) -> Customer:
        member = find_member(self.cleaned_data["member_q"])
        if member is None:
            raise ValidationError(_("No member has this phone or card number."))
        return member


class CouponVoidForm(forms.Form):
    reason = forms.CharField(label=_("Reason for voiding"), max_length=200)


class CampaignSettingsForm(forms.ModelForm):
    # Declared here: the model's default field would touch the tenant manager at import.
    birthday_offer = forms.ModelChoiceField(
        label=_("Birthday coupon"), queryset=CouponOffer.unscoped.none(), required=False
    )

    class Meta:
        model = CampaignSettings
        fields = [
            "frequency_cap",
            "quiet_start",
            "quiet_end",
            "sms_unsubscribe_text",
            "birthday_enabled",
            "birthday_send_time",
            "birthday_channel",
            "birthday_template",
            "birthday_offer",
            "birthday_points",
        ]
        widgets = {
            "quiet_start": _time_widget(),
            "quiet_end": _time_widget(),
            "birthday_send_time": _time_widget(),
            "birthday_template": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "quiet_start": _("Phone and WeChat messages wait until quiet hours end."),
            "birthday_template": _("Placeholders: {name} {tier} {points} {coupon_code} {store}"),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        offers = usable_offers()
        if self.instance.birthday_offer_id:
            offers = CouponOffer.objects.filter(
                Q(pk__in=offers.values("pk")) | Q(pk=self.instance.birthday_offer_id)
            ).order_by("name")
        self.fields["birthday_offer"].queryset = offers
        # The default greeting is shown in the reader's language and stays the default (a
        # message key, stored as "") until the tenant changes it.
        self.fields["birthday_template"].required = False
        self.initial["birthday_template"] = self.instance.birthday_template_shown

    def clean_birthday_template(self) -> str:
        text = (self.cleaned_data["birthday_template"] or "").strip()
        if not text or text in _default_birthday_texts():
            return ""
        services.template_check(text)
        return text

    def clean_sms_unsubscribe_text(self) -> str:
        text = self.cleaned_data["sms_unsubscribe_text"].strip()
        services.unsubscribe_text_check(text)
        return text


def _default_birthday_texts() -> set[str]:
    """The default greeting in every site language: sent back unchanged, it stays the default."""
    texts = set()
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            texts.add(str(DEFAULT_BIRTHDAY_TEMPLATE))
    return texts
