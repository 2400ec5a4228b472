import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from stores.models import (
    ApplicationKind,
    ApplicationStatus,
    Region,
    Store,
    StoreCodeApplication,
    StoreStatus,
    StoreType,
)

DATE = forms.DateInput(attrs={"type": "date"})


def _regions(request):
    return Region.objects.all()


def _types(request):
    return StoreType.objects.all()


class ApplicationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(label=_("Status"), choices=ApplicationStatus.choices)
    kind = django_filters.ChoiceFilter(label=_("Kind"), choices=ApplicationKind.choices)
    region = django_filters.ModelChoiceFilter(label=_("Region"), queryset=_regions)
    store_type = django_filters.ModelChoiceFilter(label=_("Store type"), queryset=_types)
    since = django_filters.DateFilter(
        label=_("Submitted from"), field_name="submitted_at", lookup_expr="date__gte", widget=DATE
    )
    until = django_filters.DateFilter(
        label=_("Submitted to"), field_name="submitted_at", lookup_expr="date__lte", widget=DATE
    )

    class Meta:
        model = StoreCodeApplication
        fields = []


class StoreFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label=_("Code or name"), method="search")
    region = django_filters.ModelChoiceFilter(label=_("Region"), queryset=_regions)
    store_type = django_filters.ModelChoiceFilter(label=_("Store type"), queryset=_types)
    status = django_filters.ChoiceFilter(label=_("Status"), choices=StoreStatus.choices)

    class Meta:
        model = Store
        fields = []

    def search(self, queryset, name, value):
        from stores.services import store_code_search

        return queryset.filter(pk__in=store_code_search(query=value).values("pk"))
