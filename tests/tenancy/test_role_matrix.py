"""Every URL declares who may use it, and answers each role as declared.

Columns: anonymous, and each role asking for an object of their own store, of another store
of their tenant, and of another tenant. Deny is the default: a view without a declaration
fails here.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tenancy.access import PUBLIC
from tenancy.context import tenant_context
from tenancy.models import HQ_ROLES, Role
from tests.url_samples import Sample, load_all

SKIPPED_NAMESPACES = {"admin"}  # the admin has its own site-level check, tested separately
SKIPPED_PREFIXES = ("i18n/", "admin/", "static/", "media/")


def walk(resolver: URLResolver, prefix: str = "", namespace: str = ""):
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if entry.namespace in SKIPPED_NAMESPACES:
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk(entry, route, inner)
        elif isinstance(entry, URLPattern):
            if route.startswith(SKIPPED_PREFIXES):
                continue
            yield route, (f"{namespace}{entry.name}" if entry.name else None), entry


ALL_PATTERNS = list(walk(get_resolver()))


def test_every_url_has_a_name_and_declares_its_roles():
    for route, name, pattern in ALL_PATTERNS:
        assert name, f"URL {route} has no name"
        roles = getattr(pattern.callback, "allowed_roles", None)
        assert roles is not None, f"{name} ({route}) does not declare which roles may use it"
        assert roles == PUBLIC or roles <= set(Role.values)


def test_every_url_with_arguments_has_a_sample():
    samples = load_all()
    for route, name, pattern in ALL_PATTERNS:
        if pattern.pattern.regex.groups and name not in samples:
            pytest.fail(f"{name} ({route}) takes arguments but has no entry in url_samples")


def expected_status(roles, role, which, sample: Sample) -> int:
    if role not in roles:
        return 403
    if which == "other_tenant":
        return 404
    if which == "other_store" and sample.store_scoped and role not in HQ_ROLES:
        return 404
    return sample.ok_status


@pytest.mark.django_db
def test_role_matrix(world, client_for):
    samples = load_all()
    stores = {
        "own_store": world.store_a1,
        "other_store": world.store_a2,
        "other_tenant": world.store_b1,
    }
    failures = []
    checked = 0
    for _route, name, pattern in ALL_PATTERNS:
        roles = pattern.callback.allowed_roles
        if roles == PUBLIC:
            continue
        sample = samples.get(name, Sample())
        for which, store in stores.items():
            if sample.build is None and which != "own_store":
                continue  # a URL without arguments names no object
            kwargs = {}
            if sample.build is not None:
                with tenant_context(store.tenant):
                    kwargs = sample.build(store)
            url = reverse(name, kwargs=kwargs)
            response = Client().get(url)
            if response.status_code != 302 or "/accounts/login/" not in response["Location"]:
                failures.append(f"anonymous GET {url}: {response.status_code}")
            for role, staff in world.staff_a.items():
                status = client_for(staff).get(url).status_code
                want = expected_status(roles, role, which, sample)
                checked += 1
                if status != want:
                    failures.append(f"{role} GET {url} ({which}): {status}, expected {want}")
    assert checked > 0
    assert not failures, "\n".join(failures)
