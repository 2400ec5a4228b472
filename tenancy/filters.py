import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from tenancy.models import AuditEvent


def filtered(filterset: django_filters.FilterSet) -> tuple[QuerySet, int]:
    """The rows a list shows and its status: none and 400 when a filter value is invalid.

    django-filter's `.qs` leaves an invalid field out of the filtering, so a mistyped or
    foreign value (another tenant's store id) silently widened the list to everything in scope.
    The form keeps its errors for the page to show.
    """
    if filterset.is_bound and not filterset.is_valid():
        return filterset.queryset.none(), 400
    return filterset.qs, 200


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(label=_("Action"), lookup_expr="startswith")
    actor = django_filters.CharFilter(
        label=_("Actor"), field_name="actor_label", lookup_expr="icontains"
    )
    object = django_filters.CharFilter(
        label=_("Object"), field_name="object_repr", lookup_expr="icontains"
    )
    since = django_filters.DateFilter(
        label=_("From"),
        field_name="created_at",
        lookup_expr="date__gte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = django_filters.DateFilter(
        label=_("To"),
        field_name="created_at",
        lookup_expr="date__lte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = AuditEvent
        fields = []
