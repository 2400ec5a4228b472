"""Dashboards, reports and exports read from a real streaming replica, with row-level
security there too, and never at the cost of a stale or failed page.

The test starts its own primary (initdb, wal_level=replica) and a replica made with
`pg_basebackup -R`, both on free loopback ports; migrates the primary as crm_owner
(scripts/pg-setup's roles) and runs tests/replica/scenario.py as crm_app with
DATABASE_REPLICA_URL set. Each test below checks one part of what the scenario saw.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.postgres]


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
    assert len(seen["down_warnings"]) == 1
    assert seen["down_warnings"][0].startswith("replica unusable, reading from the primary")
