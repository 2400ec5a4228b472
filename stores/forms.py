from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from stores import services
from stores.models import (
    ApplicationStatus,
    Region,
    ReviewStatus,
    StoreCodeApplication,
    StoreStatus,
    StoreType,
)
from tenancy.models import HQ_ROLES, StaffMember

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class RegionForm(forms.ModelForm):
    # Declared so that no query runs at import time (the default manager needs a tenant).
    parent = forms.ModelChoiceField(
        label=_("Parent region"), queryset=Region.unscoped.none(), required=False
    )

    class Meta:
        model = Region
        fields = ["code", "name", "parent", "is_active"]
        help_texts = {"code": _("2 to 4 capital letters, for example BJ.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        parents = Region.objects.all()
        if self.instance.pk:
            parents = parents.exclude(pk=self.instance.pk)
        self.fields["parent"].queryset = parents

    def clean_code(self):
        return self.cleaned_data["code"].strip().upper()


class StoreTypeForm(forms.ModelForm):
    class Meta:
        model = StoreType
        fields = ["code", "name", "ownership", "is_active"]
        help_texts = {"code": _("2 to 4 capital letters, for example ZY.")}

    def clean_code(self):
        return self.cleaned_data["code"].strip().upper()


class ApplicationForm(forms.ModelForm):
    document = forms.FileField(
        label=_("Qualification document"),
        required=False,
        help_text=_("PDF, JPG or PNG, at most 5 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}),
    )

    region = forms.ModelChoiceField(label=_("Region"), queryset=Region.unscoped.none())
    store_type = forms.ModelChoiceField(label=_("Store type"), queryset=StoreType.unscoped.none())

    class Meta:
        model = StoreCodeApplication
        fields = [
            "store_name",
            "region",
            "store_type",
            "address",
            "contact_name",
            "contact_phone",
            "planned_opening_on",
            "reason",
        ]
        widgets = {"planned_opening_on": DATE, "reason": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].queryset = Region.objects.filter(is_active=True)
        self.fields["store_type"].queryset = StoreType.objects.filter(is_active=True)
        for name in ("address", "contact_name", "contact_phone", "planned_opening_on"):
            self.fields[name].required = True

    def clean_document(self):
        upload = self.cleaned_data.get("document")
        if upload:
            services.document_check(upload)
        return upload


class CodeChangeForm(forms.Form):
    region = forms.ModelChoiceField(label=_("New region"), queryset=Region.unscoped.none())
    store_type = forms.ModelChoiceField(
        label=_("New store type"), queryset=StoreType.unscoped.none()
    )
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].queryset = Region.objects.filter(is_active=True)
        self.fields["store_type"].queryset = StoreType.objects.filter(is_active=True)


class DocumentForm(forms.Form):
    document = forms.FileField(
        label=_("Qualification document"),
        help_text=_("PDF, JPG or PNG, at most 5 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}),
    )

    def clean_document(self):
        upload = self.cleaned_data["document"]
        services.document_check(upload)
        return upload


class ApproveForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, max_length=500)


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for rejection"), widget=forms.Textarea(attrs={"rows": 2})
    )


class StoreStatusForm(forms.Form):
    status = forms.ChoiceField(label=_("New status"), choices=StoreStatus.choices)
    reason = forms.CharField(label=_("Reason"), max_length=500)


class ReviewOutcomeForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[(s.value, s.label) for s in ReviewStatus if s != ReviewStatus.DUE],
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=1000)


class ReviewIntervalForm(forms.Form):
    months = forms.IntegerField(label=_("Re-review every (months)"), min_value=1, max_value=60)


class FourEyesForm(forms.Form):
    required = forms.BooleanField(
        label=_("Four-eyes review: the submitter may not approve or reject their own application"),
        required=False,
    )


class CodeRecipientsForm(forms.Form):
    """Which HQ people hear about every store-code application, approval and re-review."""

    recipients = forms.ModelMultipleChoiceField(
        label=_("HQ people told about store codes"),
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Nobody ticked: every HQ administrator is told."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["recipients"].queryset = StaffMember.objects.filter(
            is_active=True, role__in=HQ_ROLES
        ).order_by("display_name")


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "CSV (UTF-8, GBK or UTF-16) or XLSX with the columns of the export, in Chinese "
            "or English."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.xlsx"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        name = (upload.name or "").lower()
        # .txt is what Excel writes for "Unicode text" (UTF-16, tab-separated).
        if not name.endswith((".csv", ".txt", ".xlsx")):
            raise forms.ValidationError(_("Upload a .csv, .txt or .xlsx file."))
        if upload.size > 5 * 1024 * 1024:
            raise forms.ValidationError(_("The file may be at most 5 MB."))
        return upload


EDITABLE_STATUSES = (ApplicationStatus.DRAFT, ApplicationStatus.REJECTED)
