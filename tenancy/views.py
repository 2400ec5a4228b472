from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from tenancy.access import public, roles_allowed
from tenancy.filters import AuditEventFilter
from tenancy.models import ALL_ROLES, AuditEvent, Role

sign_in = public(
    auth_views.LoginView.as_view(
        template_name="registration/login.html", redirect_authenticated_user=True
    )
)
sign_out = public(auth_views.LogoutView.as_view())


@roles_allowed(ALL_ROLES)
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "tenancy/home.html", {"role_label": Role(request.staff.role).label})


@roles_allowed(Role.HQ_ADMIN)
def audit_list(request: HttpRequest) -> HttpResponse:
    events = AuditEventFilter(request.GET, queryset=AuditEvent.objects.all())
    page = Paginator(events.qs, 50).get_page(request.GET.get("page"))
    return render(request, "tenancy/audit_list.html", {"filter": events, "page": page})


@public
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness for the load balancer: database and cache both answer."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        cache.set("healthz", "ok", 5)
        checks["cache"] = "ok" if cache.get("healthz") == "ok" else "error: no read-back"
    except Exception as exc:  # noqa: BLE001
        checks["cache"] = f"error: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )
