"""Where a counter lookup request spends its CPU: cProfile on process time over 300 phone
lookups through the test client, as benchmarks/report.py times them.

    DATABASE_URL=... TENANT=bench .venv/bin/python -m benchmarks.lookup_profile
"""

from __future__ import annotations

import cProfile
import os
import pstats
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")
django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from tenancy.context import tenant_context  # noqa: E402
from tenancy.models import StaffMember, Tenant  # noqa: E402

REQUESTS = 300
# Label -> a piece of the profiled function's "file:line(name)" that identifies it.
PARTS = {
    "whole request (test client)": "client.py:633(generic)",
    "session read (cached_db)": "cached_db.py:34(load)",
    "user + membership (cache)": "membership.py:35(get_user)",
    "lookup query: ORM compile": "compiler.py:755(as_sql)",
    "lookup query: execute": "tenant_settings_wrapper",
    "template render": "template/base.py:166(render)",
    "redis.Redis() built": "redis/client.py:258(__init__)",
}


def main() -> None:
    tenant = Tenant.objects.get(slug=os.environ.get("TENANT", "bench"))
    with tenant_context(tenant), connection.cursor() as cursor:
        clerk = StaffMember.objects.select_related("user").filter(role="clerk").first()
        cursor.execute(
            "SELECT phone FROM customers_customer WHERE tenant_id = %s AND phone IS NOT NULL "
            "LIMIT %s",
            [tenant.pk, REQUESTS],
        )
        phones = ([row[0] for row in cursor.fetchall()] * REQUESTS)[:REQUESTS]
    client = Client()
    client.force_login(clerk.user, backend="tenancy.membership.CachedModelBackend")
    url = reverse("customers:lookup")
    for phone in phones[:30]:  # warm the caches and the connection
        client.get(url, {"q": phone}, HTTP_X_REQUESTED_WITH="fetch")
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    for phone in phones:
        client.get(url, {"q": phone}, HTTP_X_REQUESTED_WITH="fetch")
    profile.disable()
    stats = pstats.Stats(profile).stats
    calls = sum(row[1] for row in stats.values())
    print(f"function calls per request: {calls / REQUESTS:.0f}")
    for label, needle in PARTS.items():
        cpu = sum(row[3] for key, row in stats.items() if needle in f"{key[0]}:{key[1]}({key[2]})")
        print(f"{label:32s} {cpu / REQUESTS * 1000:7.3f} ms CPU")


if __name__ == "__main__":
    main()
