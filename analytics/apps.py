from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = _("Analytics")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from analytics import receivers, recommendations
        from analytics.selectors import campaign_effect
        from campaigns import effect
        from campaigns import hooks as campaign_hooks
        from customers.hooks import member_merged, personal_data_requested, register_panel
        from interactions import hooks as interaction_hooks
        from loyalty.history import register_source
        from tenancy.models import HQ_ROLES, Role
        from tenancy.navigation import NavItem, register

        member_merged.connect(receivers.move_sales_on_merge, dispatch_uid="analytics_merge")
        personal_data_requested.connect(
            receivers.personal_data_requested, dispatch_uid="analytics_personal_data"
        )
        # interactions checks the sale number of a won lead against our sales.
        interaction_hooks.register("sale_reference_check", receivers.sale_reference_check)
        # campaigns (below us) reads a campaign's effect through this seam.
        effect.register(campaign_effect)
        # The ledger keys our sales write, in words, linking to the sale.
        for prefix, label in (
            ("sale", _("Purchase #%(sale_id)s")),
            ("refund", _("Refund #%(sale_id)s")),
            ("sale-redeem", _("Redeemed on purchase #%(sale_id)s")),
        ):
            register_source(
                prefix=prefix,
                label=label,
                params=("sale_id",),
                url_name="analytics:sale_detail",
                url_kwarg="sale_id",
            )
        register_panel(
            key="analytics.recent_purchases",
            title=_("Recent purchases"),
            template="analytics/_member_purchases.html",
            context=receivers.recent_purchases_panel,
            order=300,
        )
        register_panel(
            key="analytics.recommendations",
            title=_("Recommended for this member"),
            template="analytics/_member_recommendations.html",
            context=receivers.recommendations_panel,
            order=310,
        )
        # campaigns (below us): the {recommended_product} placeholder and the "likely to
        # buy" audience, both from the nightly product pairs.
        campaign_hooks.register_placeholder(
            "recommended_product", recommendations.members_next_product
        )
        campaign_hooks.register_audience(
            "likely_to_buy",
            recommendations.likely_buyers_filter,
            label=_("Likely to buy (SKU)"),
            help_text=_("Members who bought what is often bought with this product, and not it."),
        )

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
            NavItem(
                _("Staff performance"),
                "analytics:performance_store",
                roles=HQ_ROLES | {Role.STORE_MANAGER},
                order=550,
            ),
            NavItem(
                _("My performance"),
                "analytics:performance_me",
                roles={Role.CLERK, Role.STORE_MANAGER},
                order=555,
            ),
            # A clerk reaches their own statements from "My performance" (one link fewer at
            # the counter's flat navigation bar).
            NavItem(
                _("Incentives"),
                "analytics:statement_list",
                roles=HQ_ROLES | {Role.STORE_MANAGER},
                order=560,
            ),
        )
