import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, Channel, Delivery, DeliveryKind, DeliveryStatus


class DeliveryFilter(django_filters.FilterSet):
    """The outbox page's filters; holdout rows never reach it (see selectors.outbox)."""

    status = django_filters.ChoiceFilter(
        label=_("Status"),
        choices=[c for c in DeliveryStatus.choices if c[0] != DeliveryStatus.HOLDOUT],
        empty_label=_("All"),
    )
    kind = django_filters.ChoiceFilter(
        label=_("Message type"), choices=DeliveryKind.choices, empty_label=_("All")
    )
    channel = django_filters.ChoiceFilter(
        label=_("Channel"), choices=Channel.choices, empty_label=_("All")
    )
    campaign = django_filters.ModelChoiceFilter(
        label=_("Campaign"), queryset=Campaign.unscoped.none(), empty_label=_("All")
    )
    day = django_filters.DateFilter(
        label=_("Queued on"),
        field_name="created_at",
        lookup_expr="date",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = Delivery
        fields = []

    def __init__(self, *args, campaigns, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["campaign"].queryset = campaigns.order_by("-created_at")
