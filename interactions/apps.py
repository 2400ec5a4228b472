from django.apps import AppConfig
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy as _


class InteractionsConfig(AppConfig):
    name = "interactions"
    verbose_name = _("Interactions")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from interactions import (
            hooks,
            messages,  # noqa: F401 - registers its message keys
            receivers,
        )
        from tenancy import navigation

        post_save.connect(
            receivers.member_saved,
            sender="customers.Customer",
            dispatch_uid="interactions_member_name_keys",
        )
        hooks.case_resolved.connect(
            receivers.survey_on_case_resolved, dispatch_uid="interactions_case_survey"
        )
        from customers import hooks as member_hooks
        from customers.hooks import register_panel

        member_hooks.member_merged.connect(
            receivers.member_merged, dispatch_uid="interactions_merge"
        )
        member_hooks.member_erased.connect(
            receivers.member_erased, dispatch_uid="interactions_erase"
        )
        member_hooks.personal_data_requested.connect(
            receivers.personal_data_requested, dispatch_uid="interactions_personal_data"
        )
        member_hooks.members_bulk_written.connect(
            receivers.members_bulk_written, dispatch_uid="interactions_bulk_written"
        )
        from customers.hooks import register_activity
        from interactions.selectors import members_active_since

        register_activity(key="interactions", members_active_since=members_active_since)
        register_panel(
            key="interactions",
            title=_("Contacts and cases"),
            template="interactions/_profile_panel.html",
            context=receivers.profile_panel_context,
            order=300,
        )
        from tenancy.models import ALL_ROLES, HQ_ROLES, Role

        navigation.register(
            navigation.NavItem(_("Counter log"), "interactions:quick", roles=ALL_ROLES, order=150),
            navigation.NavItem(_("Cases"), "interactions:case_list", roles=ALL_ROLES, order=160),
            navigation.NavItem(
                _("Follow-ups"), "interactions:lead_today", roles=ALL_ROLES, order=170
            ),
            navigation.NavItem(
                _("Lead conversion"),
                "interactions:lead_conversion",
                roles=HQ_ROLES | {Role.STORE_MANAGER},
                order=620,
            ),
            navigation.NavItem(
                _("Satisfaction"),
                "interactions:survey_results",
                roles=HQ_ROLES | {Role.STORE_MANAGER},
                order=630,
            ),
            navigation.NavItem(
                _("Case categories"), "interactions:category_list", roles=HQ_ROLES, order=700
            ),
        )
