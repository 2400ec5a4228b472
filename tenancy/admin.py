"""Django admin for a tenant's HQ administrators, scoped to their tenant.

Querysets go through each model's default manager, which the tenant middleware has scoped.
Only HQ administrators get in; store codes and the audit log are read-only here.
"""

from django.contrib import admin
from django.contrib.auth.models import Group, User

from tenancy.models import AuditEvent, Role, StaffMember


class TenantModelAdmin(admin.ModelAdmin):
    """Grants by role instead of Django's per-user permissions."""

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
