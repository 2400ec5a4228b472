import django_filters
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from interactions.models import OPEN_STATUSES, CaseCategory, CaseStatus, Priority, ServiceCase
from stores.models import Store
from tenancy.models import StaffMember


class CaseFilter(django_filters.FilterSet):
    STATE_CHOICES = [
        ("open", pgettext_lazy("cases", "Open")),
        ("overdue", _("Overdue")),
        ("all", _("All")),
    ]

    state = django_filters.ChoiceFilter(
        label=_("Show"), choices=STATE_CHOICES, method="filter_state", empty_label=None
    )
    status = django_filters.ChoiceFilter(label=_("Status"), choices=CaseStatus.choices)
    store = django_filters.ModelChoiceFilter(label=_("Store"), queryset=Store.unscoped.none())
    category = django_filters.ModelChoiceFilter(
        label=_("Category"), queryset=CaseCategory.unscoped.none()
    )
    priority = django_filters.ChoiceFilter(label=_("Priority"), choices=Priority.choices)
    assignee = django_filters.ModelChoiceFilter(
        label=_("Assignee"), queryset=StaffMember.unscoped.none()
    )

    class Meta:
        model = ServiceCase
        fields = []

    def __init__(self, data=None, *args, staff: StaffMember, **kwargs):
        data = data.copy() if data is not None else {}
        data.setdefault("state", "open")
        super().__init__(data, *args, **kwargs)
        stores = Store.objects.all()
        people = StaffMember.objects.filter(is_active=True)
        if not staff.is_hq:
            stores = stores.filter(pk__in=staff.store_ids)
            people = people.filter(store_assignments__store__in=staff.store_ids).distinct()
        self.filters["store"].queryset = stores
        self.filters["category"].queryset = CaseCategory.objects.all()
        self.filters["assignee"].queryset = people

    def filter_state(self, queryset, name, value):
        if value == "open":
            return queryset.filter(status__in=OPEN_STATUSES)
        if value == "overdue":
            return queryset.filter(status__in=OPEN_STATUSES, due_at__lt=timezone.now())
        return queryset
