"""Shared fixtures: tenants, the three actors of every permission test, and skips.

A test that needs PostgreSQL is marked `postgres`; on SQLite it is skipped with the reason,
and with REQUIRE_POSTGRES=1 (set by .ci/run) such a skip fails the run instead.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from hypothesis import settings as hypothesis_settings

from stores.models import Store
from tenancy.context import tenant_context
from tenancy.models import Role, StaffMember, Tenant
from tests.clock import Clock, tenant_zone_name, travelled_start
from tests.factories import StaffMemberFactory, StoreAssignmentFactory, StoreFactory, TenantFactory

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAS_CHROMIUM = os.path.exists(CHROMIUM)


# Locally Hypothesis explores new examples each run; in CI it draws the same ones every time,
# so a red CI is reproducible rather than a roll of the dice.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI") == "true":
    hypothesis_settings.load_profile("ci")


def pytest_configure(config):
    """CRM_TEST_CLOCK moves the whole run's clock before any test module is imported, so
    module constants and factories see the travelled time too (see tests/clock.py)."""
    start = travelled_start()
    if start is not None:
        config._crm_clock = time_machine.travel(start, tick=True)
        config._crm_clock.start()


def pytest_unconfigure(config):
    traveller = getattr(config, "_crm_clock", None)
    if traveller is not None:
        traveller.stop()


def pytest_report_header(config):
    start = travelled_start()
    clock = start.isoformat() if start else "the real clock"
    zone = tenant_zone_name()
    return f"test clock: {clock}; test tenants' zone: {zone}; TZ={os.environ.get('TZ', '-')}"


MODULE_DURATIONS = Path(__file__).with_name("module_durations.json")


def _shard(items) -> None:
    """CRM_TEST_SHARD=k/n keeps the k-th of n shares of the test modules (a module's fixtures
    stay in one process). CI runs the shares side by side, each on its own database and Redis
    db; together they are the suite. Modules are dealt by their measured seconds
    (tests/module_durations.json, written by scripts/shard-weights from a JUnit report), the
    longest first to the share least loaded for its size, so the lanes end together; a module
    not measured yet counts as the median one. CRM_TEST_SHARD_SIZES="45,55" gives the shares
    unequal sizes (a lane with more fixed work takes the smaller share)."""
    share = os.environ.get("CRM_TEST_SHARD")
    if not share:
        return
    k, n = (int(part) for part in share.split("/"))
    sizes = [float(size) for size in os.environ.get("CRM_TEST_SHARD_SIZES", "").split(",") if size]
    sizes = sizes if len(sizes) == n else [1.0] * n
    modules = list(dict.fromkeys(item.nodeid.split("::")[0] for item in items))
    assignment = shard_assignment(modules, _measured_seconds(), sizes)
    items[:] = [item for item in items if assignment[item.nodeid.split("::")[0]] == k - 1]


def _measured_seconds() -> dict[str, float]:
    try:
        return json.loads(MODULE_DURATIONS.read_text())
    except (OSError, ValueError):
        return {}


def shard_assignment(modules, seconds, sizes) -> dict[str, int]:
    """Module -> share index: longest module first, each to the share whose load relative to
    its size is smallest (ties: the lower index), so every lane computes the same split."""
    known = sorted(seconds[module] for module in modules if module in seconds)
    default = known[len(known) // 2] if known else 1.0
    weight = {module: seconds.get(module, default) for module in modules}
    loads = [0.0] * len(sizes)
    assignment = {}
    for module in sorted(modules, key=lambda name: (-weight[name], name)):
        target = min(
            range(len(sizes)),
            key=lambda index: ((loads[index] + weight[module]) / sizes[index], index),
        )
        assignment[module] = target
        loads[target] += weight[module]
    return assignment


def pytest_collection_modifyitems(config, items):
    _shard(items)
    strict = os.environ.get("REQUIRE_POSTGRES") == "1"
    missing = []
    for item in items:
        if "postgres" in item.keywords and not ON_POSTGRES:
            missing.append(item.nodeid)
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL"))
        if "browser" in item.keywords and not HAS_CHROMIUM:
            missing.append(item.nodeid)
            item.add_marker(pytest.mark.skip(reason="needs Debian's chromium at /usr/bin"))
    if strict and missing:
        raise pytest.UsageError(
            "REQUIRE_POSTGRES=1 but these tests would be skipped: " + ", ".join(missing[:5])
        )


@pytest.fixture(autouse=True, scope="session")
def _celery_runs_in_process():
    """Tasks run inline in tests; the one test with a real worker switches this off."""
    from celery import current_app

    current_app.conf.task_always_eager = True
    current_app.conf.task_eager_propagates = True


@pytest.fixture(autouse=True)
def _test_settings(settings):
    """Pages render without collectstatic; passwords hash fast; no cache carries over."""
    from django.core.cache import cache

    cache.clear()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _site_language():
    """Each test starts in the site's language: a page fetched with an English cookie leaves
    English active in the thread, and stored messages are read in the active language."""
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _restore_interactions_hooks():
    """Tests swap interactions' hooks for fakes; each test starts and ends with the app's own."""
    from interactions import hooks

    registry, sources = dict(hooks._registry), dict(hooks._timeline_sources)
    yield
    hooks._registry.clear()
    hooks._registry.update(registry)
    hooks._timeline_sources.clear()
    hooks._timeline_sources.update(sources)


@pytest.fixture
def clock(time_machine) -> Clock:
    """Stops the test's clock where the test says: `clock.at(22)` is today 22:00, tenant time."""
    return Clock(time_machine)


@dataclass
class World:
    """Tenant A with two stores, tenant B with one, and one staff member per role in each."""

    tenant_a: Tenant
    tenant_b: Tenant
    store_a1: Store
    store_a2: Store
    store_b1: Store
    staff_a: dict[str, StaffMember]
    staff_b: dict[str, StaffMember]


def make_staff(tenant: Tenant, role: str, store: Store | None = None, **kwargs) -> StaffMember:
    with tenant_context(tenant):
        staff = StaffMemberFactory(role=role, **kwargs)
        if store is not None and role in (Role.STORE_MANAGER, Role.CLERK):
            StoreAssignmentFactory(staff=staff, store=store)
    return staff


@pytest.fixture
def world(db) -> World:
    tenant_a = TenantFactory(slug="alpha", name="甲连锁")
    tenant_b = TenantFactory(slug="beta", name="乙连锁")
    with tenant_context(tenant_a):
        store_a1 = StoreFactory(code="BJ-ZY-001", name="甲一店")
        store_a2 = StoreFactory(code="BJ-ZY-002", name="甲二店")
    with tenant_context(tenant_b):
        store_b1 = StoreFactory(code="BJ-ZY-001", name="乙一店")
    staff_a = {role: make_staff(tenant_a, role, store_a1) for role in Role.values}
    staff_b = {role: make_staff(tenant_b, role, store_b1) for role in Role.values}
    return World(tenant_a, tenant_b, store_a1, store_a2, store_b1, staff_a, staff_b)


@pytest.fixture
def client_for():
    """A test client signed in as the given staff member."""

    def make(staff: StaffMember) -> Client:
        client = Client()
        client.force_login(staff.user)
        return client

    return make


@pytest.fixture
def tenant(db) -> Tenant:
    return TenantFactory(slug="solo", name="单租户")


@pytest.fixture
def in_tenant(tenant):
    """Run the test body as `tenant`."""
    with tenant_context(tenant):
        yield tenant
