"""Re-encrypt every encrypted personal-data value under the newest key.

Rotation: put the new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it),
deploy, run this command, then remove the old key. It works in batches of short
transactions while the site runs, writes a row only if nobody changed it since it was read,
and skips values already under the newest key: stop it at any point and run it again.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tenancy.encryption import keyring
from tenancy.models import Tenant
from tenancy.resealing import DEFAULT_BATCH, reseal_table, sealed_tables


class Command(BaseCommand):
    help = "Re-encrypt personal data under the newest FIELD_ENCRYPTION_KEYS key, in batches."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
        parser.add_argument("--tenant", type=int, help="Only this tenant id.")

    def handle(self, *args, batch_size: int, tenant: int | None, **options):
        ring = keyring()
        tenants = Tenant.objects.order_by("pk")
        if tenant is not None:
            tenants = tenants.filter(pk=tenant)
            if not tenants.exists():
                raise CommandError(f"No tenant {tenant}.")
        rewritten = unreadable = 0
        for tenant_id in tenants.values_list("pk", flat=True):
            for target in sealed_tables():
                result = reseal_table(target, tenant_id=tenant_id, batch_size=batch_size, ring=ring)
                rewritten += result.rows_rewritten
                unreadable += result.values_unreadable
                if result.rows_rewritten or result.values_unreadable:
                    self.stdout.write(
                        f"tenant {tenant_id} {target.table}: {result.rows_rewritten} rows "
                        f"re-encrypted, {result.values_unreadable} values unreadable"
                    )
        self.stdout.write(
            f"Done: {rewritten} rows now under key {ring.current_id!r}; "
            f"{unreadable} values could not be read (logged)."
        )
        if unreadable:
            raise CommandError(
                f"{unreadable} values could not be opened with any configured key; "
                "keep the old keys until they are resolved."
            )
