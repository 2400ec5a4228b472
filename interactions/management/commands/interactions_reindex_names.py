"""Backfill pinyin search keys for members written without model signals (bulk imports)."""

from django.core.management.base import BaseCommand

from interactions.services import member_name_keys_rebuild
from tenancy.context import tenant_context
from tenancy.models import Tenant


class Command(BaseCommand):
    help = "Write missing pinyin name keys for every tenant's members."

    def handle(self, *args, **options):
        # Deliberately across tenants, one tenant context at a time.
        for tenant in Tenant.objects.filter(is_active=True).order_by("pk"):
            with tenant_context(tenant):
                count = member_name_keys_rebuild()
            self.stdout.write(f"{tenant.slug}: {count} members indexed")
