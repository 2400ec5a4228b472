"""A clerk never sees a member's full phone or e-mail, on any page they can reach.

Clerks may not reveal (customers.services.REVEAL_ROLES), so every page, form and download
must show the masked value. The crawl starts from every URL of the role matrix (each app's
url_samples.py, built for the clerk's store and another store of the tenant), adds the
pages that take a member in the query string, follows every link it finds, and fails on
any full phone or e-mail of a generated member in a response body.
"""

from __future__ import annotations

import html
import re
from collections import deque

import pytest
from django.urls import reverse

from customers.models import Customer
from tenancy.access import PUBLIC
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.factories import CustomerFactory
from tests.tenancy.test_role_matrix import ALL_PATTERNS
from tests.url_samples import Sample, load_all

# The admin has its own site and clerks cannot enter it; the rest are files or sign-out.
SKIPPED_LINKS = ("/i18n/", "/admin/", "/static/", "/media/", "/accounts/logout")
# Pages that prefill a member named in the query string; the samples only build path kwargs.
MEMBER_QUERY_PAGES = ("interactions:case_create", "interactions:lead_create")
MAX_PAGES = 400
HREF = re.compile(r'href="([^"#]+)')


def _seeds(world) -> list[str]:
    samples = load_all()
    urls = []
    for _route, name, pattern in ALL_PATTERNS:
        roles = pattern.callback.allowed_roles
        if roles != PUBLIC and Role.CLERK not in roles:
            continue
        sample = samples.get(name, Sample())
        if sample.ok_status != 200:
            continue  # POST-only: a GET shows nothing
        if sample.build is None:
            urls.append(reverse(name))
            continue
        # The clerk's own store and another store of the tenant: members are tenant-wide.
        for store in (world.store_a1, world.store_a2):
            with tenant_context(store.tenant):
                urls.append(reverse(name, kwargs=sample.build(store)))
    return urls


def _body(response) -> str:
    if response.streaming:
        content = b"".join(response.streaming_content)
    else:
        content = response.content
    return content.decode("utf-8", errors="replace")


def _links(body: str) -> list[str]:
    links = []
    for raw in HREF.findall(body):
        url = html.unescape(raw)
        if url.startswith("/") and not url.startswith("//") and not url.startswith(SKIPPED_LINKS):
            links.append(url)
    return links


@pytest.mark.django_db
def test_no_page_shows_a_clerk_a_full_phone_or_email(world, client_for):
    with tenant_context(world.tenant_a):
        for store in (world.store_a1, world.store_a2):
            CustomerFactory(home_store=store)
    seeds = _seeds(world)
    with tenant_context(world.tenant_a):
        # Every generated member gets an e-mail, so the crawl checks that field too.
        for member in Customer.objects.filter(email=""):
            member.email = f"member{member.pk}@example.com"
            member.save(update_fields=["email"])
        members = list(Customer.objects.filter(is_erased=False).order_by("pk"))
        for member in members:
            seeds += [f"{reverse(name)}?member={member.pk}" for name in MEMBER_QUERY_PAGES]
            seeds.append(reverse("customers:edit", kwargs={"pk": member.pk}))
        secrets = [m.phone for m in members if m.phone] + [m.email for m in members if m.email]
    assert secrets

    client = client_for(world.staff_a[Role.CLERK])
    seeds = list(dict.fromkeys(seeds))
    queue, seen, leaks, crawled = deque(seeds), set(seeds), [], set()
    while queue and len(crawled) < MAX_PAGES:
        url = queue.popleft()
        response = client.get(url)
        crawled.add(url)
        body = _body(response)
        # Error pages too: a 403 or a form error must not echo a stored value either.
        leaks += [f"{url}: {secret}" for secret in secrets if secret in body]
        if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
            for link in _links(body):
                if link not in seen:
                    seen.add(link)
                    queue.append(link)

    assert not queue, f"the crawl stopped at {MAX_PAGES} pages: raise MAX_PAGES"
    # The pages that leaked before must have been crawled, or this test proves nothing.
    member_pk = members[0].pk
    for must in (
        reverse("customers:edit", kwargs={"pk": member_pk}),
        f"{reverse('interactions:case_create')}?member={member_pk}",
        f"{reverse('interactions:lead_create')}?member={member_pk}",
    ):
        assert must in crawled, f"the crawl never reached {must}"
    assert not leaks, f"{len(leaks)} full phones or e-mails shown to a clerk:\n" + "\n".join(
        leaks[:40]
    )
