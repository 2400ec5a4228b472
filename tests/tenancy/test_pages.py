"""Signing in and out, the home page and the navigation of each role, language switch."""

import pytest
from django.test import Client
from django.urls import reverse

from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tenancy.services import audit_record
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_sign_in_lands_on_home_with_role_navigation(world):
    staff = world.staff_a[Role.HQ_ADMIN]
    client = Client()
    response = client.post(
        reverse("login"), {"username": staff.user.username, "password": PASSWORD}, follow=True
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert staff.display_name in html
    assert world.tenant_a.name in html
    assert reverse("audit_list") in html  # HQ admins see the audit log


def test_clerk_navigation_hides_hq_pages(world, client_for):
    response = client_for(world.staff_a[Role.CLERK]).get(reverse("home"))
    assert response.status_code == 200
    assert reverse("audit_list") not in response.content.decode()


def test_wrong_password_shows_a_chinese_message(world):
    staff = world.staff_a[Role.CLERK]
    response = Client().post(reverse("login"), {"username": staff.user.username, "password": "x"})
    assert response.status_code == 200
    assert "请输入一个正确的" in response.content.decode()


def test_sign_out_needs_post_and_ends_the_session(world, client_for):
    client = client_for(world.staff_a[Role.CLERK])
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_interface_is_chinese_by_default_and_english_on_request(world, client_for):
    client = client_for(world.staff_a[Role.CLERK])
    assert "退出登录" in client.get(reverse("home")).content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert "Sign out" in client.get(reverse("home")).content.decode()


def test_user_without_staff_membership_is_forbidden(db):
    from tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory())
    assert client.get(reverse("home")).status_code == 403


def test_audit_log_lists_events_of_own_tenant_with_filters(world, client_for):
    with tenant_context(world.tenant_a):
        audit_record(action="store.approve", actor=world.staff_a[Role.HQ_STAFF], reason="甲原因")
    with tenant_context(world.tenant_b):
        audit_record(action="store.approve", actor=world.staff_b[Role.HQ_STAFF], reason="乙原因")
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    html = client.get(reverse("audit_list"), {"action": "store"}).content.decode()
    assert "甲原因" in html and "乙原因" not in html
    html = client.get(reverse("audit_list"), {"action": "customer"}).content.decode()
    assert "甲原因" not in html
    with tenant_context(world.tenant_a):
        assert AuditEvent.objects.count() == 1


def test_healthz_reports_database_and_cache(db):
    response = Client().get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}


def test_healthz_answers_a_probe_by_address_that_other_pages_refuse(db, settings):
    """Container healthchecks call http://127.0.0.1:8000/healthz, not the site's name."""
    settings.ALLOWED_HOSTS = ["crm.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    probe = Client(HTTP_HOST="127.0.0.1:8000")
    assert probe.get("/healthz").status_code == 200
    assert probe.get(reverse("login")).status_code == 400


def test_admin_is_for_hq_admins_only(world, client_for):
    assert client_for(world.staff_a[Role.HQ_ADMIN]).get("/admin/").status_code == 200
    response = client_for(world.staff_a[Role.HQ_STAFF]).get("/admin/")
    assert response.status_code == 302  # to sign-in: the admin does not let them in
    response = client_for(world.staff_a[Role.CLERK]).get("/admin/stores/store/")
    assert response.status_code == 302


def test_a_signed_in_page_costs_no_query_beyond_its_own(world, client_for):
    """Cached user and membership; the tenant rides on the page's own statements (no query
    of its own to set or clear it), and every statement carries it on PostgreSQL."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(world.staff_a[Role.HQ_ADMIN])
    client.get(reverse("audit_list"))  # warms the cache
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("audit_list")).status_code == 200
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) <= 2  # the audit page itself: one count and one page of events
    if connection.vendor == "postgresql":
        tenant = world.tenant_a.pk
        assert all(
            sql.startswith(f"SELECT set_config('app.tenant_id', '{tenant}', true)")
            for sql in statements
        )


def test_a_role_change_applies_on_the_next_request(world, client_for):
    staff = world.staff_a[Role.HQ_STAFF]
    client = client_for(staff)
    assert client.get(reverse("audit_list")).status_code == 403
    with tenant_context(world.tenant_a):
        staff.role = Role.HQ_ADMIN
        staff.save()
    assert client.get(reverse("audit_list")).status_code == 200


def test_a_choice_group_is_a_fieldset_named_by_its_legend(world, client_for):
    """Screen readers announce the question with each option (no label pointing nowhere)."""
    page = client_for(world.staff_a[Role.HQ_ADMIN]).get(reverse("staff_create")).content.decode()
    group = page[page.index('<fieldset class="field choices') :]
    group = group[: group.index("</fieldset>")]
    assert "<legend>门店</legend>" in group and 'type="checkbox"' in group
    assert '<label for="id_stores">' not in page
