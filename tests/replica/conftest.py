"""One private primary and replica for the package (tests/replica/cluster.py), migrated
and with the read-replica scenario run once: `seen` is what the scenario observed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.replica.cluster import DATABASE, PrimaryAndReplica

ROOT = Path(__file__).resolve().parents[2]


def run(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(  # noqa: S603 - our own scripts
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise AssertionError(f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


@pytest.fixture(scope="package")
def servers():
    servers = PrimaryAndReplica()
    try:
        servers.start_primary()
        yield servers
    finally:
        servers.stop()


def app_env() -> dict[str, str]:
    """This process's environment without its database settings: the test says which."""
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REPLICA_", "PG", "DJANGO_"))
    }
    base.pop("REDIS_URL", None)  # in-process jobs and a local cache: these tests are about SQL
    return base


@pytest.fixture(scope="package")
def seen(servers) -> dict:
    """Roles by scripts/pg-setup, migrate as crm_owner, a replica copied from the migrated
    primary, then tests/replica/scenario.py as crm_app with the replica configured."""
    base = app_env()
    run(
        ["scripts/pg-setup"],
        {
            **base,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(servers.primary.port),
            "CRM_DATABASE": DATABASE,
        },
    )
    run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        {**base, "DATABASE_URL": url(servers.primary, "crm_owner")},
    )
    servers.start_replica()
    output = run(
        [sys.executable, "-m", "tests.replica.scenario"],
        {
            **base,
            "DATABASE_URL": url(servers.primary, "crm_app"),
            "DATABASE_REPLICA_URL": url(servers.replica, "crm_app"),
            "REPLICA_MAX_LAG_SECONDS": "1",
            "REPLICA_CHECK_SECONDS": "60",  # re-measured only where the scenario says
            "REPLICA_PIN_SECONDS": "2",
            "PRIMARY_ADMIN_DSN": servers.primary.dsn(),
            "REPLICA_ADMIN_DSN": servers.replica.dsn(),
            "REPLICA_PID": str(servers.replica.process.pid),
        },
    )
    return json.loads(output.strip().splitlines()[-1])


def url(server, role: str, database: str = DATABASE) -> str:
    return f"postgres://{role}@127.0.0.1:{server.port}/{database}"
