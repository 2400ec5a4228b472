from django import forms
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from interactions.models import CaseCategory, CaseKind, Channel, PriceSensitivity, Priority
from stores.models import Store
from tenancy.encryption import phone_index
from tenancy.models import StaffMember


def stores_of(staff: StaffMember):
    stores = Store.objects.all()
    return stores if staff.is_hq else stores.filter(pk__in=staff.store_ids)


def staff_of_stores(stores):
    return (
        StaffMember.objects.filter(is_active=True, store_assignments__store__in=stores)
        .distinct()
        .order_by("display_name")
    )


class QuickEntryForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("How"), choices=Channel.choices, widget=forms.RadioSelect, initial=Channel.VISIT
    )
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.unscoped.none())
    text = forms.CharField(
        label=_("What happened"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, staff: StaffMember, **kwargs):
        super().__init__(*args, **kwargs)
        stores = stores_of(staff)
        self.fields["store"].queryset = stores
        if not self.is_bound and not staff.is_hq:
            self.fields["store"].initial = stores.order_by("code").first()


def find_member(value: str) -> Customer:
    """The member a clerk typed: an 11-digit phone or a card number."""
    value = value.strip()
    members = Customer.objects.active()
    if value.isdigit() and len(value) == 11:
        member = members.filter(phone_hash=phone_index(value)).first()
    else:
        member = members.filter(card_number=value).first()
    if member is None:
        raise forms.ValidationError(_("No member has this phone or card number."))
    return member


class MemberFieldMixin(forms.Form):
    """A member typed as phone or card number, or prefilled from the member's page.

    A prefilled member travels as its id with a masked label in the text box: the full
    phone is read only through the audited reveal, so a form never carries it. Posting
    the label back untouched keeps the prefilled member; typing replaces it.
    """

    member_id = forms.IntegerField(widget=forms.HiddenInput, required=False)
    member = forms.CharField(
        label=_("Member (phone or card number)"),
        # Room for the masked label (name up to 50 characters, masked phone, card number).
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def prefill_member(self, member: Customer | None) -> None:
        if member is None or self.is_bound:
            return
        self.initial.update(member_id=member.pk, member=member.masked_label)
        self.fields["member"].help_text = _(
            "Leave it as shown for this member, or type another member's phone or card number."
        )

    def clean_member(self) -> Customer:
        value = self.cleaned_data["member"].strip()
        member_id = self.cleaned_data.get("member_id")
        if member_id is not None:
            prefilled = Customer.objects.active().filter(pk=member_id).first()
            if prefilled is not None and value == prefilled.masked_label:
                return prefilled
        return find_member(value)

    def clean(self):
        data = super().clean()
        data.pop("member_id", None)  # resolved into "member"; services take the member
        return data


class CaseForm(MemberFieldMixin):
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.unscoped.none())
    category = forms.ModelChoiceField(label=_("Category"), queryset=CaseCategory.unscoped.none())
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices, initial="normal")
    subject = forms.CharField(label=_("Subject"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    assignee = forms.ModelChoiceField(
        label=_("Assignee"), queryset=StaffMember.unscoped.none(), required=False
    )

    def __init__(self, *args, staff: StaffMember, **kwargs):
        super().__init__(*args, **kwargs)
        stores = stores_of(staff)
        self.fields["store"].queryset = stores
        self.fields["assignee"].queryset = staff_of_stores(stores)
        if not self.is_bound and not staff.is_hq:
            self.fields["store"].initial = stores.order_by("code").first()
        self.fields["category"].queryset = CaseCategory.objects.filter(is_active=True)


class TransitionForm(forms.Form):
    status = forms.CharField(max_length=20)


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        label=_("Assignee"), queryset=StaffMember.unscoped.none(), required=False
    )

    def __init__(self, *args, store: Store, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = staff_of_stores([store])


class CommentForm(forms.Form):
    text = forms.CharField(
        label=_("Comment"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )


class AttachmentForm(forms.Form):
    file = forms.FileField(
        label=_("Attach a file"),
        help_text=_("JPEG, PNG or PDF, at most 5 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".jpg,.jpeg,.png,.pdf"}),
    )


class CategoryForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=50)
    kind = forms.ChoiceField(label=_("Kind"), choices=CaseKind.choices)
    sla_hours = forms.IntegerField(label=_("Due within (hours)"), min_value=1, max_value=24 * 90)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)


class LeadForm(MemberFieldMixin):
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.unscoped.none())
    product = forms.CharField(label=_("Product"), max_length=200)
    budget = forms.DecimalField(
        label=_("Budget (yuan)"), max_digits=14, decimal_places=2, min_value=0, required=False
    )
    next_step = forms.CharField(label=_("Next step"), max_length=200, required=False)
    follow_up_on = forms.DateField(
        label=_("Follow up on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, staff: StaffMember, **kwargs):
        super().__init__(*args, **kwargs)
        stores = stores_of(staff)
        self.fields["store"].queryset = stores
        if not self.is_bound and not staff.is_hq:
            self.fields["store"].initial = stores.order_by("code").first()


class FollowUpForm(forms.Form):
    note = forms.CharField(
        label=_("What was said"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    next_step = forms.CharField(label=_("Next step"), max_length=200, required=False)
    follow_up_on = forms.DateField(
        label=_("Next follow-up"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class WinForm(forms.Form):
    sale_reference = forms.CharField(label=_("Sale number"), max_length=64)


class LoseForm(forms.Form):
    reason = forms.CharField(label=_("Why was it lost?"), max_length=200)


class SurveyAnswerForm(forms.Form):
    score = forms.TypedChoiceField(label=_("Your score"), coerce=int, widget=forms.RadioSelect)
    comment = forms.CharField(
        label=_("Anything you would like to tell us?"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, low: int, high: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["score"].choices = [(value, str(value)) for value in range(low, high + 1)]


class MemberProfileForm(forms.Form):
    wechat_id = forms.CharField(label=_("WeChat ID"), max_length=50, required=False)
    occupation = forms.CharField(label=_("Occupation"), max_length=50, required=False)
    interests = forms.CharField(
        label=_("Interests"),
        max_length=200,
        required=False,
        help_text=_("Separate with commas, for example: running, tea, travel"),
    )
    preferred_brands = forms.CharField(label=_("Preferred brands"), max_length=200, required=False)
    preferred_categories = forms.CharField(
        label=_("Preferred categories"), max_length=200, required=False
    )
    price_sensitivity = forms.ChoiceField(
        label=_("Price sensitivity"),
        choices=[("", "—"), *PriceSensitivity.choices],
        required=False,
    )


class ReferralForm(forms.Form):
    referrer = forms.CharField(
        label=_("Referred by (phone or card number)"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def clean_referrer(self):
        return find_member(self.cleaned_data["referrer"])
