"""Our own 403, 404, 500 and CSRF-failure pages, in both languages, with DEBUG off."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import translation

from tenancy import errors
from tenancy.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _language_back_to_default():
    """A request in English leaves English active in this thread; later tests expect zh-Hans."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


MANAGER_URL = "analytics:dashboard"  # HQ and store managers; not clerks


@pytest.fixture(autouse=True)
def _debug_off(settings):
    settings.DEBUG = False


def _in(client: Client, language: str) -> Client:
    client.post(reverse("set_language"), {"language": language, "next": "/"})
    return client


@pytest.mark.parametrize(
    ("language", "texts"),
    [
        ("zh-hans", ["您无权打开此页面", "经营看板", "总部管理员", "店长", "返回首页"]),
        ("en", ["You may not open this page", "Dashboards", "HQ administrator", "Store manager"]),
    ],
)
def test_a_clerk_on_a_manager_page_is_told_what_and_who(world, client_for, language, texts):
    client = _in(client_for(world.staff_a[Role.CLERK]), language)
    response = client.get(reverse(MANAGER_URL), HTTP_REFERER="http://testserver/members/")
    text = response.content.decode()
    assert response.status_code == 403
    for expected in texts:
        assert expected in text, expected
    assert reverse(MANAGER_URL) in text
    assert 'href="http://testserver/members/"' in text  # the way back
    assert "<h1>403 Forbidden</h1>" not in text


def test_a_foreign_referer_is_not_offered_as_the_way_back(world, client_for):
    client = client_for(world.staff_a[Role.CLERK])
    response = client.get(reverse(MANAGER_URL), HTTP_REFERER="https://evil.example/")
    assert response.status_code == 403 and "evil.example" not in response.content.decode()


@pytest.mark.parametrize(
    ("language", "text"), [("zh-hans", "页面不存在"), ("en", "Page not found")]
)
def test_404_page_in_both_languages(world, client_for, language, text):
    client = _in(client_for(world.staff_a[Role.CLERK]), language)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert text in response.content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/../../etc/passwd",
        "/stores/%00/",
        "/stores/99999999999999999999/",
        "/<script>alert(1)</script>/",
        "/static/../settings.py",
    ],
)
def test_hostile_paths_stay_4xx_and_are_escaped(world, client_for, path):
    response = client_for(world.staff_a[Role.CLERK]).get(path)
    assert 400 <= response.status_code < 500
    assert "<script>alert(1)</script>" not in response.content.decode()


@pytest.mark.parametrize(
    ("language", "text"), [("zh-hans", "表单已失效"), ("en", "The form expired")]
)
def test_csrf_failure_page(world, language, text):
    client = Client(enforce_csrf_checks=True)
    client.cookies["django_language"] = language
    response = client.post(reverse("login"), {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert text in response.content.decode()


@pytest.mark.parametrize(
    ("language", "text"), [("zh-hans", "系统出错了"), ("en", "Something went wrong on our side")]
)
def test_500_page_renders_without_request_or_database(language, text, monkeypatch):
    def no_database(*args, **kwargs):
        raise AssertionError("the 500 page touched the database")

    monkeypatch.setattr(connection, "cursor", no_database)
    with translation.override(language):
        response = errors.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert text in response.content.decode()


def test_500_page_falls_back_to_fixed_html(monkeypatch):
    def broken(name):
        raise RuntimeError("templates are gone")

    monkeypatch.setattr(errors.loader, "get_template", broken)
    response = errors.server_error(None)
    assert response.status_code == 500 and "Server error" in response.content.decode()


def test_an_unhandled_error_shows_our_500_page(world, client_for, monkeypatch):
    from stores import views

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.selectors, "store_list", boom, raising=False)
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    client.raise_request_exception = False
    monkeypatch.setattr(views, "render", boom)
    response = client.get(reverse("stores:store_list"))
    assert response.status_code == 500
    assert "系统出错了" in response.content.decode()
