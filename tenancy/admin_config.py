from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _


class CrmAdminSite(admin.AdminSite):
    site_header = _("Store CRM administration")
    site_title = _("Store CRM")
    index_title = _("Data maintenance")

    def has_permission(self, request) -> bool:
        from tenancy.models import Role  # this module loads before the models are ready

        staff = getattr(request, "staff", None)
        return bool(request.user.is_active and staff and staff.role == Role.HQ_ADMIN)


class CrmAdminConfig(AdminConfig):
    """The admin, on a site that lets only a tenant's HQ administrators in."""

    default_site = "tenancy.admin_config.CrmAdminSite"
