from importlib import import_module

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from loyalty import tasks  # noqa: F401 - registers the Celery tasks
        from loyalty.services import on_customer_merged
        from tenancy.models import ALL_ROLES, Role
        from tenancy.navigation import NavItem, register

        register(
            NavItem(_("Redeem points"), "loyalty:counter", roles=ALL_ROLES, order=40),
            NavItem(_("Loyalty rules"), "loyalty:settings", roles={Role.HQ_ADMIN}, order=80),
        )
        # The members app sends customer_merged inside its merge transaction; our receiver
        # moves the points in that same transaction. Hooked up only once that app has it.
        try:
            signals = import_module("customers.signals")
        except ModuleNotFoundError:
            signals = None
        if signals is not None and hasattr(signals, "customer_merged"):
            signals.customer_merged.connect(
                on_customer_merged, dispatch_uid="loyalty.on_customer_merged"
            )
