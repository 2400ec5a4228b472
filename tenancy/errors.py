"""Our own 403, 404, 500 and CSRF-failure pages (crm_site/urls.py handlers, CSRF_FAILURE_VIEW).

Django calls these only when DEBUG is off. 403, 404 and CSRF failures render inside base.html
with the request's context (navigation, language switch). The 500 page must render when the
database or the request context is what failed, so it uses no context processors and nothing
that touches the database, and falls back to fixed HTML if even its template fails.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import requires_csrf_token

from tenancy.access import RoleRequired
from tenancy.models import Role
from tenancy.navigation import label_for

logger = logging.getLogger(__name__)

FALLBACK_500 = (
    '<!doctype html><html lang="zh-hans"><head><meta charset="utf-8"><title>500</title></head>'
    "<body><h1>服务器出错 · Server error</h1><p>请稍后再试。Please try again later.</p>"
    '<p><a href="/">返回首页 · Home</a></p></body></html>'
)


def _back(request: HttpRequest) -> str | None:
    """The referring page, when it is one of ours (never an open redirect to elsewhere)."""
    referer = request.headers.get("referer", "")
    safe = url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return referer if referer and safe else None


def _tried(request: HttpRequest) -> str | None:
    match = getattr(request, "resolver_match", None)
    return label_for(match.view_name) if match else None


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    roles = getattr(exception, "roles", None) if isinstance(exception, RoleRequired) else None
    context = {
        "tried": _tried(request),
        "path": request.path,
        "back": _back(request),
        # In the Role order (HQ first), as labels in the reader's language.
        "roles": [role.label for role in Role if role in roles] if roles else [],
    }
    return render(request, "errors/403.html", context, status=403)


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(
        request, "errors/404.html", {"path": request.path, "back": _back(request)}, status=404
    )


@requires_csrf_token
def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(
        request, "errors/csrf.html", {"path": request.path, "back": _back(request)}, status=403
    )


def server_error(request: HttpRequest | None = None) -> HttpResponse:
    try:
        body = loader.get_template("errors/500.html").render({})
    except Exception:  # the page of last resort must not fail itself
        logger.exception("The 500 page could not be rendered")
        body = FALLBACK_500
    return HttpResponseServerError(body)
