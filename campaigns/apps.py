from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from campaigns import (
            messages,  # noqa: F401 - registers its message keys
            tasks,  # noqa: F401 - registers the Celery tasks
        )
        from campaigns.selectors import coupons_panel_context, messages_timeline
        from campaigns.services import (
            on_customer_merged,
            on_member_erased,
            on_personal_data_requested,
            send_via_outbox,
        )
        from customers.hooks import (
            member_erased,
            member_merged,
            personal_data_requested,
            register_panel,
        )
        from interactions import hooks
        from loyalty.history import register_old_reason, register_source
        from tenancy.models import HQ_ROLES, Role
        from tenancy.navigation import NavItem, register

        register(
            NavItem(
                _("Campaigns"),
                "campaigns:campaign_list",
                roles=HQ_ROLES | {Role.STORE_MANAGER},
                order=600,
            ),
            NavItem(_("Coupons"), "campaigns:offer_list", roles=HQ_ROLES, order=610),
            NavItem(
                _("Outbox"), "campaigns:outbox", roles=HQ_ROLES | {Role.STORE_MANAGER}, order=620
            ),
            NavItem(_("Messaging rules"), "campaigns:settings", roles={Role.HQ_ADMIN}, order=630),
        )
        register_source(
            prefix="birthday", label=_("Birthday gift %(year)s"), params=("year", "member")
        )
        register_old_reason(key="campaigns.birthday_gift")
        register_panel(
            key="campaigns.coupons",
            title=_("Coupons"),
            template="campaigns/_coupons_panel.html",
            context=coupons_panel_context,
            order=40,
        )
        # interactions sends survey links and anniversary greetings through our outbox.
        hooks.register("survey_sender", send_via_outbox)
        hooks.register("greeting_sender", send_via_outbox)
        hooks.register_timeline_source("messages", messages_timeline)
        member_merged.connect(on_customer_merged, dispatch_uid="campaigns.on_customer_merged")
        member_erased.connect(on_member_erased, dispatch_uid="campaigns.member_erased")
        personal_data_requested.connect(
            on_personal_data_requested, dispatch_uid="campaigns.personal_data"
        )
