"""Exit 0 when a worker ran beat's heartbeat task recently, 1 otherwise (a healthcheck)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError

from tenancy.tasks import HEARTBEAT_CACHE_KEY


class Command(BaseCommand):
    help = "Fail unless beat's heartbeat task was run by a worker within --max-age seconds."

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-age",
            type=float,
            default=None,
            help="seconds (default: three heartbeat intervals plus 30 s of slack)",
        )

    def handle(self, *args, max_age=None, **options):
        if max_age is None:
            max_age = 3 * settings.BEAT_HEARTBEAT_SECONDS + 30
        stamp = cache.get(HEARTBEAT_CACHE_KEY)
        if stamp is None:
            raise CommandError("no heartbeat yet: is beat running, and a worker?")
        age = time.time() - float(stamp)
        if age > max_age:
            raise CommandError(f"last heartbeat {age:.0f} s ago (limit {max_age:.0f} s)")
        self.stdout.write(f"heartbeat {age:.1f} s ago")
