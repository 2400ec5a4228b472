"""Build the incentive statements of any past month (drafts only; confirmed ones are kept)."""

from django.core.management.base import BaseCommand, CommandError

from analytics.performance import parse_month
from analytics.services import incentive_statements_compute
from tenancy.context import tenant_context
from tenancy.models import Tenant


class Command(BaseCommand):
    help = "Compute the incentive statements of a month (YYYY-MM) for one tenant or all."

    def add_arguments(self, parser):
        parser.add_argument("month", help="YYYY-MM")
        parser.add_argument("--tenant", help="tenant slug (default: every active tenant)")

    def handle(self, *args, **options):
        import datetime

        month = parse_month(options["month"], datetime.date.min)
        if month == datetime.date.min:
            raise CommandError("month must be YYYY-MM")
        tenants = Tenant.objects.filter(is_active=True).order_by("pk")
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants:
                raise CommandError(f"no active tenant {options['tenant']!r}")
        # Deliberately across tenants, one tenant context at a time.
        for tenant in tenants:
            with tenant_context(tenant):
                result = incentive_statements_compute(month=month)
            self.stdout.write(
                f"{tenant.slug} {month:%Y-%m}: {result['written']} statements, "
                f"{result['lines']} lines, {result['skipped']} confirmed kept"
            )
