"""Generate (or regenerate) the points settlement statements of any past month."""

import datetime

from django.core.management.base import BaseCommand, CommandError

from loyalty.services import PointsError, settlement_generate
from stores.models import Store
from tenancy.context import tenant_context
from tenancy.models import Tenant


class Command(BaseCommand):
    help = (
        "Write one month's points settlement statements of franchise and joint-operation "
        "stores; drafts are replaced, confirmed statements kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("month", help="YYYY-MM")
        parser.add_argument("--tenant", help="tenant slug (default: every active tenant)")
        parser.add_argument("--store", help="one store's code")
        parser.add_argument(
            "--missing-only", action="store_true", help="write only statements not yet there"
        )

    def handle(self, *args, month, tenant=None, store=None, missing_only=False, **options):
        try:
            first = datetime.datetime.strptime(month, "%Y-%m").date()  # noqa: DTZ007 - a date
        except ValueError as exc:
            raise CommandError("month must be YYYY-MM") from exc
        tenants = Tenant.objects.filter(is_active=True).order_by("pk")
        if tenant:
            tenants = tenants.filter(slug=tenant)
        # Deliberately across tenants, one tenant context at a time.
        for each in tenants:
            with tenant_context(each):
                one = None
                if store:
                    one = Store.objects.filter(code=store).first()
                    if one is None:
                        raise CommandError(f"{each.slug}: no store {store}")
                try:
                    result = settlement_generate(month=first, store=one, only_missing=missing_only)
                except PointsError as error:
                    raise CommandError(f"{each.slug}: {' '.join(error.messages)}") from error
            self.stdout.write(
                f"{each.slug} {month}: {len(result.written)} written, {len(result.kept)} kept"
            )
