"""Django admin for a tenant's HQ administrators, scoped to their tenant.

Querysets go through each model's default manager, which the tenant middleware has scoped.
Only HQ administrators get in; store codes and the audit log are read-only here.
"""

from django.contrib import admin
from django.contrib.admin.filters import FieldListFilter, ListFilter
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth.models import Group, User

from tenancy.models import AuditEvent, Role, StaffMember


class TenantModelAdmin(admin.ModelAdmin):
    """Grants by role instead of Django's per-user permissions; filters only by list_filter."""

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        """Deny by default: only the query-string parameters of this admin's own list filters.

        Django allows any lookup on a local field (`?phone__startswith=1390`), so counting the
        rows of a changelist would rebuild a phone number digit by digit, unaudited. A refused
        lookup raises DisallowedModelAdminLookup, which Django answers with a 400.
        """
        return lookup in self._allowed_lookups(request)

    def _allowed_lookups(self, request) -> set[str]:
        allowed: set[str] = set()
        for item in self.get_list_filter(request) if request else self.list_filter:
            if isinstance(item, type) and issubclass(item, ListFilter):
                spec = item(request, {}, self.model, self)
            else:
                path, filter_class = item if isinstance(item, list | tuple) else (item, None)
                field = get_fields_from_path(self.model, path)[-1]
                # The filter class names its own parameters (e.g. `region__id__exact` and
                # `region__isnull` for a relation), exactly the ones its links produce.
                spec = (filter_class or FieldListFilter.create)(
                    field, request, {}, self.model, self, field_path=path
                )
            allowed.update(spec.expected_parameters() or [])
        if self.date_hierarchy:
            allowed.update(f"{self.date_hierarchy}__{part}" for part in ("year", "month", "day"))
        return allowed

    def _is_hq_admin(self, request) -> bool:
        staff = getattr(request, "staff", None)
        return bool(staff and staff.role == Role.HQ_ADMIN)

    def has_module_permission(self, request) -> bool:
        return self._is_hq_admin(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._is_hq_admin(request)

    def has_add_permission(self, request) -> bool:
        return self._is_hq_admin(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._is_hq_admin(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._is_hq_admin(request)


class ReadOnlyTenantModelAdmin(TenantModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# Users and groups span tenants; staff are managed through StaffMember instead.
for model in (User, Group):
    try:
        admin.site.unregister(model)
    except admin.sites.NotRegistered:
        pass


@admin.register(StaffMember)
class StaffMemberAdmin(ReadOnlyTenantModelAdmin):
    list_display = ["display_name", "user", "role", "is_active"]
    list_filter = ["role", "is_active"]
    search_fields = ["display_name", "user__username"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyTenantModelAdmin):
    list_display = ["created_at", "actor_label", "action", "object_repr", "ip_address"]
    list_filter = ["action"]
    search_fields = ["action", "object_repr", "actor_label", "reason"]
    date_hierarchy = None
