"""A database dump holds no member's phone or name in clear (issue 18).

Members are made the ways production makes them (enrolment at the counter with its audit
event, an edit, a factory row with an e-mail), the database is dumped with `pg_dump` as the
backup role (scripts/pg-setup: BYPASSRLS, read only; the owner's dump would show nothing
under forced RLS), and the dump's text is searched for every phone, name and e-mail.
"""

from __future__ import annotations

import glob
import random
import shutil
import subprocess

import pytest
from django.db import connection

from customers.services import customer_enrol, customer_update
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def pg_dump() -> str:
    # The newest client: pg_dump refuses a server newer than itself.
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump")) or [shutil.which("pg_dump")]
    if not found[-1]:
        pytest.fail("needs pg_dump")
    return found[-1]


def unusual_name(rng: random.Random) -> str:
    """Three CJK characters from the rarer part of the block: nothing else in the dump
    (stores, tiers, seeded texts) can contain them by chance."""
    return "".join(chr(rng.randrange(0x8800, 0x9FA0)) for _ in range(3))


def test_a_pg_dump_holds_no_phone_name_or_email_of_any_member(world):
    rng = random.Random(18)
    clerk = world.staff_a[Role.CLERK]
    made: list[tuple[str, str]] = []
    emails = []
    with tenant_context(world.tenant_a):
        for n in range(12):
            phone, name = f"1397{rng.randrange(10**7):07d}", unusual_name(rng)
            member = customer_enrol(
                staff=clerk,
                phone=phone,
                name=name,
                birth_year=1980 + n,
                birth_month=1 + n,
                birth_day=10,
                home_store=world.store_a1,
            )
            made.append((phone, name))
        renamed = unusual_name(rng)
        customer_update(customer=member, staff=clerk, name=renamed)
        made.append((member.phone, renamed))
        for _ in range(5):
            phone, name = f"1396{rng.randrange(10**7):07d}", unusual_name(rng)
            email = f"dump{rng.randrange(10**6)}@example.com"
            CustomerFactory(home_store=world.store_a1, phone=phone, name=name, email=email)
            made.append((phone, name))
            emails.append(email)

    settings = connection.settings_dict
    with connection.cursor() as cursor:
        # The test database is made by the owner, without the backup role's grants.
        cursor.execute("GRANT USAGE ON SCHEMA public TO crm_backup")
        cursor.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO crm_backup")
        cursor.execute("GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO crm_backup")
    done = subprocess.run(  # noqa: S603 - fixed arguments, Debian's binary
        [
            pg_dump(), "--data-only", "--no-owner",
            "-h", settings["HOST"] or "127.0.0.1", "-p", str(settings["PORT"] or 5432),
            "-U", "crm_backup", settings["NAME"],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    dump = done.stdout
    # The dump does hold the members (sealed), so the search below searched something.
    assert dump.count("enc1:dev:") >= 2 * len(made)
    for phone, name in made:
        assert phone not in dump, phone
        assert name not in dump, name
    for email in emails:
        assert email not in dump, email
