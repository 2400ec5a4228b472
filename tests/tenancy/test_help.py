"""The staff manuals: every page's help link opens an existing section, in both languages,
and a manual can never carry a script into a page."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse

from tenancy import manuals
from tenancy.access import PUBLIC
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.tenancy.test_role_matrix import ALL_PATTERNS
from tests.url_samples import load_all

# URLs that answer no page of their own (downloads, exports, JSON and HTML fragments), besides
# the POST-only actions (their samples say 405). The crawl below proves they render no page:
# a page without a section would show a help link without an anchor and fail there.
NOT_PAGES = {
    "stores:store_export",
    "stores:document_download",
    "customers:export",
    "customers:segment_count",
    "customers:import_template",
    "customers:import_errors",
    "interactions:attachment_download",
    "campaigns:audience_count",
    "campaigns:preview",
    "catalog:product_export",
    "analytics:export",
}

HELP_LINK = re.compile(r'href="([^"]*)" data-help-link')


def _pages():
    samples = load_all()
    for _route, name, pattern in ALL_PATTERNS:
        roles = pattern.callback.allowed_roles
        sample = samples.get(name)
        if roles == PUBLIC or name in NOT_PAGES or (sample and sample.ok_status == 405):
            continue
        yield name, roles, sample


def test_every_manual_exists_in_both_languages_with_stable_anchors():
    for name in manuals.MANUALS.values():
        zh, en = (manuals.load(name, language) for language in manuals.LANGUAGES)
        assert zh.title and en.title and zh.title != en.title
        # The same sections in the same order: a link opens the same section in either.
        assert [anchor for _l, anchor, _t in zh.toc] == [anchor for _l, anchor, _t in en.toc]
        assert f'id="{zh.toc[1][1]}"' in zh.html


def test_every_page_maps_to_a_section_of_each_allowed_roles_manual_in_both_languages():
    missing = []
    for name, roles, _sample in _pages():
        if name not in manuals.SECTIONS:
            missing.append(f"{name}: no entry in tenancy.manuals.SECTIONS")
            continue
        for role in roles:
            for language in manuals.LANGUAGES:
                manual, anchor = manuals.help_for(name, role, language)
                html = manuals.load(manual, language).html
                if not anchor or f'id="{anchor}"' not in html:
                    missing.append(f"{name} as {role} in {language}: {manual}#{anchor} missing")
    assert not missing, "\n".join(missing)


def test_every_section_named_in_the_mapping_exists_in_some_manual():
    for language in manuals.LANGUAGES:
        loaded = [manuals.load(name, language) for name in manuals.MANUALS.values()]
        anchors = set().union(*(manual.anchors for manual in loaded))
        assert set(manuals.SECTIONS.values()) <= anchors, language


@pytest.mark.django_db
def test_the_help_link_of_every_page_opens_an_existing_section(world, client_for):
    """Walks every page of the URL samples as each role allowed to see it (own store)."""
    checked = 0
    failures = []
    for name, roles, sample in _pages():
        kwargs = {}
        if sample is not None and sample.build is not None:
            with tenant_context(world.tenant_a):
                kwargs = sample.build(world.store_a1)
        url = reverse(name, kwargs=kwargs)
        for role in sorted(roles):
            response = client_for(world.staff_a[role]).get(url)
            if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
                continue
            found = HELP_LINK.search(response.content.decode())
            if found is None:
                continue  # a fragment, not a page (it does not extend base.html)
            link = found.group(1)
            path, _q, rest = link.partition("?manual=")
            manual, _hash, anchor = rest.partition("#")
            checked += 1
            if path != reverse("help") or not anchor:
                failures.append(f"{name} as {role}: help link {link!r} opens no section")
                continue
            for language in manuals.LANGUAGES:
                if anchor not in manuals.load(manual, language).anchors:
                    failures.append(f"{name} as {role}: #{anchor} not in {manual} ({language})")
    assert checked > 100
    assert not failures, "\n".join(failures)


@pytest.mark.django_db
def test_the_help_page_shows_the_readers_manual_with_contents(world, client_for):
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    page = client.get(reverse("help")).content.decode()
    assert '<h1 id="top">店长操作手册</h1>' in page
    assert '<a href="#onboarding-team">员工入职进度</a>' in page  # table of contents
    assert '<a href="?manual=clerk">店员操作手册</a>' in page  # the manual it builds on

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(reverse("help"), {"manual": "clerk"}).content.decode()
    assert '<h1 id="top">Clerk&#x27;s manual</h1>' in page or "Clerk's manual</h1>" in page
    assert 'id="member-lookup"' in page

    assert client.get(reverse("help"), {"manual": "../settings"}).status_code == 404


@pytest.mark.django_db
def test_the_header_links_to_this_pages_section_for_the_readers_role(world, client_for):
    lookup = reverse("customers:lookup")
    clerk_page = client_for(world.staff_a[Role.CLERK]).get(lookup).content.decode()
    assert HELP_LINK.search(clerk_page).group(1) == "/help/?manual=clerk#member-lookup"
    # An administrator's counter pages are explained in the clerk's manual they build on.
    admin_page = client_for(world.staff_a[Role.HQ_ADMIN]).get(lookup).content.decode()
    assert HELP_LINK.search(admin_page).group(1) == "/help/?manual=clerk#member-lookup"
    staff_page = client_for(world.staff_a[Role.HQ_ADMIN]).get(reverse("staff_list"))
    assert HELP_LINK.search(staff_page.content.decode()).group(1) == "/help/?manual=hq-admin#staff"


def test_a_script_in_a_manual_is_stripped(tmp_path, monkeypatch):
    for language in manuals.LANGUAGES:
        (tmp_path / language).mkdir()
        (tmp_path / language / "clerk.md").write_text(
            "# Manual {#top}\n\n"
            "<script>alert('x')</script>\n\n"
            "## Section {#section}\n\n"
            '<a href="javascript:alert(1)" onclick="alert(2)">click</a> '
            '<img src="x" onerror="alert(3)"> [ok](?manual=manager) <b style="x">bold</b>\n',
            encoding="utf-8",
        )
    monkeypatch.setattr(manuals, "HELP_DIR", tmp_path)
    manuals.load.cache_clear()
    try:
        html = manuals.load("clerk", "en").html
    finally:
        manuals.load.cache_clear()
    assert "<script" not in html and "alert" not in html
    assert "onclick" not in html and "onerror" not in html and "<img" not in html
    assert "javascript:" not in html and "style=" not in html
    assert '<h2 id="section">Section</h2>' in html
    assert 'href="?manual=manager"' in html
