"""Load demo data: idempotent, so `make run` can call it every time."""

from importlib import import_module

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from tenancy import demo
from tenancy.context import tenant_context


class Command(BaseCommand):
    help = "Create or top up the demo tenants, their staff, stores, members and sales."

    def handle(self, *args, **options):
        seeders = []
        for config in apps.get_app_configs():
            try:
                module = import_module(f"{config.name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.demo":
                    raise
                continue
            seeders.append(module)
        for tenant in demo.ensure_tenants():
            with transaction.atomic(), tenant_context(tenant):
                for module in seeders:
                    module.seed(tenant, stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data is ready. Sign in with:"))
        for username, role, _name in demo.DEMO_STAFF:
            self.stdout.write(f"  {role.label:<16} {username:<10} / {demo.DEMO_PASSWORD}")
        self.stdout.write(f"  (second tenant: other-admin / {demo.DEMO_PASSWORD})")
