from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = _("Analytics")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenancy.models import HQ_ROLES, Role
        from tenancy.navigation import NavItem, register

        register(
            NavItem(
                _("Dashboards"),
                "analytics:dashboard",
                roles=HQ_ROLES | {Role.STORE_MANAGER},
                order=500,
            ),
            NavItem(
                _("New sale"),
                "analytics:counter_sale",
                roles={Role.CLERK, Role.STORE_MANAGER},
                order=510,
            ),
            NavItem(_("Sales"), "analytics:sale_list", roles=None, order=520),
            NavItem(
                _("Import sales"),
                "analytics:import_upload",
                roles=HQ_ROLES | {Role.STORE_MANAGER},
                order=530,
            ),
            NavItem(_("POS tokens"), "analytics:token_list", roles={Role.HQ_ADMIN}, order=540),
        )
