from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Members")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenancy.models import HQ_ROLES, Role
        from tenancy.navigation import NavItem, register

        register(
            NavItem(_("Member lookup"), "customers:lookup", roles=None, order=20),
            NavItem(
                _("Members"), "customers:list", roles=HQ_ROLES | {Role.STORE_MANAGER}, order=21
            ),
            NavItem(_("Segments"), "customers:segments", roles=HQ_ROLES, order=22),
            NavItem(_("Duplicates"), "customers:duplicates", roles=HQ_ROLES, order=23),
            NavItem(_("Member import"), "customers:import", roles=HQ_ROLES, order=24),
            NavItem(
                _("Personal-data requests"), "customers:request_list", roles=HQ_ROLES, order=25
            ),
            NavItem(_("Retention"), "customers:retention", roles=HQ_ROLES, order=26),
        )
