from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = _("Product catalogue")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenancy.models import HQ_ROLES, Role
        from tenancy.navigation import NavItem, register

        register(
            NavItem(_("Products"), "catalog:product_list", roles=HQ_ROLES, order=550),
            NavItem(_("Catalogue rules"), "catalog:settings", roles={Role.HQ_ADMIN}, order=560),
        )
