from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StoresConfig(AppConfig):
    name = "stores"
    verbose_name = _("Stores")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from stores import (
            messages,  # noqa: F401 - registers its message keys
            tasks,  # noqa: F401 - registers the Celery task
        )
        from tenancy.models import ALL_ROLES, HQ_ROLES, Role
        from tenancy.navigation import NavItem, register

        register(
            NavItem(_("Stores"), "stores:store_list", roles=ALL_ROLES, order=10),
            NavItem(
                _("Code applications"),
                "stores:application_list",
                roles=HQ_ROLES | {Role.STORE_MANAGER},
                order=11,
            ),
            NavItem(_("Re-reviews"), "stores:review_queue", roles=HQ_ROLES, order=12),
            NavItem(_("Store setup"), "stores:setup", roles={Role.HQ_ADMIN}, order=800),
        )
