"""Recompute the monthly product rollup from the daily product rows.

The nightly job keeps the rollup in step by itself; this is for rows changed by hand, a
restored backup, or to check it (the counts it prints should not move on a re-run).
"""

from django.core.management.base import BaseCommand, CommandError

from analytics.aggregation import product_rollups_rebuild
from analytics.performance import parse_month
from tenancy.context import tenant_context
from tenancy.models import Tenant


class Command(BaseCommand):
    help = "Recompute the monthly product rollup (all months, or --from/--to YYYY-MM)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="tenant slug (default: every tenant)")
        parser.add_argument("--from", dest="first", help="first month, YYYY-MM")
        parser.add_argument("--to", dest="last", help="last month, YYYY-MM")

    def handle(self, *args, **options):
        import datetime

        months = {}
        for key in ("first", "last"):
            if options[key]:
                month = parse_month(options[key], datetime.date.min)
                if month == datetime.date.min:
                    raise CommandError(f"--{'from' if key == 'first' else 'to'} must be YYYY-MM")
                months[key] = month
        if len(months) == 1:
            raise CommandError("give both --from and --to, or neither")
        tenants = Tenant.objects.order_by("pk")
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants:
                raise CommandError(f"no tenant {options['tenant']!r}")
        # Deliberately across tenants, one tenant context at a time.
        for tenant in tenants:
            with tenant_context(tenant):
                written = product_rollups_rebuild(**months)
            self.stdout.write(f"{tenant.slug}: {written} monthly product rows")
