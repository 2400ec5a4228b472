"""A Content-Security-Policy that lets no inline script or style run, on every response."""

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from tenancy.models import Role

ROOT = Path(__file__).resolve().parents[2]

# What a policy without 'unsafe-inline' would refuse: script bodies in the page (JSON data
# blocks do not run and are allowed), <style> elements, style= attributes, on*= handlers
# and javascript: URLs.
INLINE = {
    "inline script": re.compile(
        r"<script\b(?![^>]*\btype=[\"']application/json)[^>]*>\s*[^<\s]", re.I
    ),
    "style element": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "event handler": re.compile(r"\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


def our_templates() -> list[Path]:
    roots = [ROOT / "templates", *ROOT.glob("*/templates")]
    return [path for root in roots for path in root.rglob("*.html")]


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parts = [part.split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in parts}


def test_no_template_of_ours_has_inline_script_or_style():
    templates = our_templates()
    assert len(templates) > 50  # the scan really found the templates
    found = [
        f"{path.relative_to(ROOT)}: {kind}"
        for path in templates
        for kind, pattern in INLINE.items()
        if pattern.search(path.read_text())
    ]
    assert found == []


def test_the_scan_would_catch_each_kind():
    samples = [
        "<script>alert(1)</script>",
        "<style>p{}</style>",
        '<p style="color:red">',
        '<img src=x onerror="alert(1)">',
        '<a href="javascript:alert(1)">',
    ]
    for sample, (kind, pattern) in zip(samples, INLINE.items(), strict=True):
        assert pattern.search(sample), kind
    assert not INLINE["inline script"].search('<script src="/static/js/crm.js"></script>')
    assert not INLINE["inline script"].search('<script type="application/json">{"a": 1}</script>')


@pytest.mark.django_db
def test_a_signed_in_page_carries_a_policy_without_inline_allowances(world, client_for):
    response = client_for(world.staff_a[Role.CLERK]).get(reverse("home"))
    assert response.status_code == 200
    directives = policy(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_every_kind_of_response_carries_it():
    client = Client()
    for response in (
        client.get(reverse("login")),
        client.get("/no/such/page/"),
        client.get(reverse("healthz")),
        client.get(reverse("home")),  # the redirect to sign in
    ):
        assert "script-src 'self'" in response["Content-Security-Policy"], response
