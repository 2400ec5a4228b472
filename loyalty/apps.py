from importlib import import_module

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _optional(module: str):
    """A module of the members app that may not exist yet (built in parallel)."""
    try:
        return import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None


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
        # The member profile shows a points panel once the members app offers panels.
        profile = _optional("customers.profile")
        if profile is not None and hasattr(profile, "register_panel"):
            from loyalty.views import profile_panel_context

            profile.register_panel(
                key="loyalty",
                title=_("Points"),
                template="loyalty/_panel.html",
                context=profile_panel_context,
                order=30,
            )
        # interactions (below us) calls loyalty through its hooks to credit rewards.
        # loyalty.selectors.points_timeline is ready for hooks.register_timeline_source; it
        # is left to the lead to switch on, since it adds one query to the member timeline
        # that interactions' query-count test bounds.
        hooks = _optional("interactions.hooks")
        if hooks is not None:
            from loyalty.services import behaviour_reward, referral_reward

            hooks.register("referral_rewarder", referral_reward)
            hooks.register("behaviour_rewarder", behaviour_reward)
        # The members app sends customer_merged inside its merge transaction; our receiver
        # moves the points in that same transaction. Hooked up only once that app has it.
        signals = _optional("customers.signals")
        if signals is not None and hasattr(signals, "customer_merged"):
            signals.customer_merged.connect(
                on_customer_merged, dispatch_uid="loyalty.on_customer_merged"
            )
