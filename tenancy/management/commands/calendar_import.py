"""Import an announced national holiday schedule into tenants' working calendars."""

from django.core.management.base import BaseCommand, CommandError

from tenancy.calendar import OFFICIAL_SCHEDULES, calendar_import_official
from tenancy.context import tenant_context
from tenancy.models import Tenant


class Command(BaseCommand):
    help = (
        "Write the State Council's public holidays and make-up working days of YEAR into the "
        "working calendar of every tenant (or of --tenant SLUG). A repeat changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("year", type=int)
        parser.add_argument("--tenant", help="only this tenant (slug)")

    def handle(self, *args, year: int, tenant: str | None = None, **options):
        if year not in OFFICIAL_SCHEDULES:
            known = ", ".join(str(y) for y in sorted(OFFICIAL_SCHEDULES)) or "none"
            raise CommandError(
                f"No schedule for {year} in tenancy/calendar.py (known: {known}). Add the "
                "announced days to OFFICIAL_SCHEDULES, or enter them on the working-calendar page."
            )
        tenants = Tenant.objects.order_by("pk")
        if tenant:
            tenants = tenants.filter(slug=tenant)
        for each in tenants:
            with tenant_context(each):
                changed = calendar_import_official(actor=None, year=year)
            self.stdout.write(f"{each.slug}: {changed} days written")
