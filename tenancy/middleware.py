"""Select the signed-in staff member's tenant for the whole request, then clear it."""

from __future__ import annotations

from django.utils import timezone

from tenancy.context import tenant_context
from tenancy.logs import logging_user
from tenancy.membership import load_staff_member
from tenancy.net import client_ip


class TenantMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.staff = None
        request.tenant = None
        if not request.user.is_authenticated:
            return self.get_response(request)
        staff = load_staff_member(request.user)
        if staff is None:
            # Signed in but working for no tenant: every role-checked view answers 403.
            return self.get_response(request)
        request.staff = staff
        request.tenant = staff.tenant
        # Pages show times, read typed times and filter by date on the tenant's clock, never
        # the server's (TIME_ZONE is only the fallback outside a tenant).
        with (
            tenant_context(staff.tenant, ip=client_ip(request)),
            timezone.override(staff.tenant.zone),
            logging_user(request.user.pk),
        ):
            return self.get_response(request)


class HealthzMiddleware:
    """Answer /healthz before anything checks the Host header.

    Container healthchecks and load balancers probe by address (http://127.0.0.1:8000/healthz),
    not by the site's name, so ALLOWED_HOSTS would answer them 400. The probe reads no session,
    cookie or tenant, and answers only whether the database and cache are reachable.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == "/healthz":
            from tenancy.views import healthz  # views import models: load them lazily

            return healthz(request)
        return self.get_response(request)
