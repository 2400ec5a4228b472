"""Dashboards, reports and exports read from a real streaming replica, with row-level
security there too, and never at the cost of a stale or failed page.

The test starts its own primary (initdb, wal_level=replica) and a replica made with
`pg_basebackup -R`, both on free loopback ports; migrates the primary as crm_owner
(scripts/pg-setup's roles) and runs tests/replica/scenario.py as crm_app with
DATABASE_REPLICA_URL set. Each test below checks one part of what the scenario saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.replica.cluster import PrimaryAndReplica

pytestmark = [pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "crm_replica"


def _run(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(  # noqa: S603 - our own scripts
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise AssertionError(f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


@pytest.fixture(scope="module")
def seen() -> dict:
    servers = PrimaryAndReplica()
    try:
        servers.start_primary()
        port = str(servers.primary.port)
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DATABASE_", "REPLICA_", "PG", "DJANGO_"))
        }
        base.pop("REDIS_URL", None)  # in-process jobs and a local cache: this test is about SQL
        _run(
            ["scripts/pg-setup"],
            {**base, "PGHOST": "127.0.0.1", "PGPORT": port, "CRM_DATABASE": DATABASE},
        )
        primary_url = f"postgres://%s@127.0.0.1:{port}/{DATABASE}"
        _run(
            [sys.executable, "manage.py", "migrate", "-v0"],
            {**base, "DATABASE_URL": primary_url % "crm_owner"},
        )
        servers.start_replica()
        output = _run(
            [sys.executable, "-m", "tests.replica.scenario"],
            {
                **base,
                "DATABASE_URL": primary_url % "crm_app",
                "DATABASE_REPLICA_URL": (
                    f"postgres://crm_app@127.0.0.1:{servers.replica.port}/{DATABASE}"
                ),
                "REPLICA_MAX_LAG_SECONDS": "1",
                "REPLICA_CHECK_SECONDS": "60",  # re-measured only where the scenario says
                "REPLICA_PIN_SECONDS": "2",
                "PRIMARY_ADMIN_DSN": servers.primary.dsn(),
                "REPLICA_ADMIN_DSN": servers.replica.dsn(),
                "REPLICA_PID": str(servers.replica.process.pid),
            },
        )
    finally:
        servers.stop()
    return json.loads(output.strip().splitlines()[-1])


def test_a_marked_read_runs_on_the_replica(seen):
    assert seen["unmarked_alias"] == "default"
    assert seen["marked_alias"] == "replica"
    assert seen["marked_server"] == [int(seen["replica_port"]), True]
    assert seen["marked_names"] == ["A1"]
    assert seen["dashboard"]["status"] == 200
    assert seen["dashboard"]["replica"] > 0


def test_row_level_security_applies_on_the_replica(seen):
    """Raw SQL as tenant A on the replica sees A's stores only, though B has one too."""
    assert seen["raw_tenants"] == [seen["tenant_ids"]["a"]]


def test_a_write_pins_the_session_to_the_primary_for_a_few_seconds(seen):
    assert seen["write_status"] == 302
    assert seen["after_write"] == {**seen["after_write"], "status": 200, "replica": 0}
    assert seen["after_write"]["primary"] > 0
    assert seen["after_pin"]["status"] == 200
    assert seen["after_pin"]["replica"] > 0


def test_a_lagging_replica_is_left_alone_until_it_catches_up(seen):
    assert seen["lagging"]["status"] == 200
    assert seen["lagging"]["replica"] == 0
    assert seen["lagging_usable"] is False
    assert seen["caught_up_usable"] is True


def test_a_replica_that_went_down_fails_no_page(seen):
    """The first page still believed the replica usable: it fails over inside the view."""
    assert [page["status"] for page in seen["down"]] == [200, 200]
    assert all(page["primary"] > 0 for page in seen["down"])
    assert seen["down_usable"] is False
