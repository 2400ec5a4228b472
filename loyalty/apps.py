from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from customers.hooks import (
            member_import_checking,
            member_merged,
            members_imported,
            personal_data_requested,
            register_history,
            register_panel,
        )
        from interactions import hooks
        from loyalty import (
            history,
            tasks,  # noqa: F401 - registers the Celery tasks
        )
        from loyalty.importing import on_member_import_checking, on_members_imported
        from loyalty.selectors import points_timeline
        from loyalty.services import (
            behaviour_reward,
            on_customer_merged,
            on_personal_data_requested,
            referral_reward,
            referral_reward_reverse,
        )
        from loyalty.views import profile_panel_context
        from tenancy.models import ALL_ROLES, HQ_ROLES, Role
        from tenancy.navigation import NavItem, register

        register(
            NavItem(_("Redeem points"), "loyalty:counter", roles=ALL_ROLES, order=40),
            NavItem(_("Loyalty rules"), "loyalty:settings", roles={Role.HQ_ADMIN}, order=80),
            NavItem(_("Points liability"), "loyalty:liability", roles=HQ_ROLES, order=81),
            NavItem(
                _("Points settlement"),
                "loyalty:statements",
                roles=HQ_ROLES | {Role.STORE_MANAGER},
                order=82,
            ),
            NavItem(_("Points caps"), "loyalty:caps", roles={Role.HQ_ADMIN}, order=83),
        )
        register_panel(
            key="loyalty",
            title=_("Points"),
            template="loyalty/_panel.html",
            context=profile_panel_context,
            order=30,
        )
        register_history(prefix="loyalty", render=history.render_history)
        # Apps below loyalty call it only through their seams: interactions credits referral
        # and behaviour rewards and shows points movements on the member timeline; a member
        # merge moves the points inside the merge's own transaction.
        hooks.register("referral_rewarder", referral_reward)
        hooks.register("referral_reverser", referral_reward_reverse)
        hooks.register("behaviour_rewarder", behaviour_reward)
        hooks.register_timeline_source("points", points_timeline)
        member_merged.connect(on_customer_merged, dispatch_uid="loyalty.on_customer_merged")
        personal_data_requested.connect(
            on_personal_data_requested, dispatch_uid="loyalty.personal_data"
        )
        # The member import's 会员等级 and 积分 columns (customers reads, loyalty writes).
        member_import_checking.connect(
            on_member_import_checking, dispatch_uid="loyalty.on_member_import_checking"
        )
        members_imported.connect(on_members_imported, dispatch_uid="loyalty.on_members_imported")
