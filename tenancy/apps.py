from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class TenancyConfig(AppConfig):
    name = "tenancy"
    verbose_name = _("Tenancy")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenancy import checks, membership, navigation, onboarding  # noqa: F401 - checks registers
        from tenancy.context import install_tenant_settings
        from tenancy.models import Role
        from tenancy.rls import check_role_cannot_bypass_rls, ensure_tenant_foreign_keys

        connection_created.connect(check_role_cannot_bypass_rls, dispatch_uid="rls_role_check")
        connection_created.connect(install_tenant_settings, dispatch_uid="rls_tenant_settings")
        post_migrate.connect(ensure_tenant_foreign_keys, dispatch_uid="tenant_foreign_keys")
        membership.connect_signals()
        onboarding.connect_signals()

        navigation.register(
            navigation.NavItem(_("Home"), "home", roles=None, order=0),
            navigation.NavItem(
                _("Staff onboarding"),
                "onboarding_team",
                roles={Role.STORE_MANAGER, Role.HQ_ADMIN},
                order=870,
            ),
            navigation.NavItem(_("Staff"), "staff_list", roles={Role.HQ_ADMIN}, order=880),
            navigation.NavItem(_("Settings"), "tenant_settings", roles={Role.HQ_ADMIN}, order=890),
            navigation.NavItem(
                _("Working calendar"), "working_calendar", roles={Role.HQ_ADMIN}, order=891
            ),
            navigation.NavItem(_("Audit log"), "audit_list", roles={Role.HQ_ADMIN}, order=900),
        )
