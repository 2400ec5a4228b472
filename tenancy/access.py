"""Who may use which view: deny unless a role allows, and store scope for store staff."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from tenancy.models import ALL_ROLES, HQ_ROLES, StaffMember

PUBLIC = "public"


class RoleRequired(PermissionDenied):
    """A 403 that knows which roles may use the page, so the error page can say so."""

    def __init__(self, roles: Iterable[str]):
        super().__init__("role required")
        self.roles = frozenset(roles)


def roles_allowed(*roles: str | Iterable[str]) -> Callable:
    """Let only signed-in staff members with one of `roles` use the view.

    Anonymous visitors are sent to sign in; everyone else without the role gets 403.
    The roles are kept on the view so the role-matrix test can read them.
    """
    allowed: set[str] = set()
    for role in roles:
        allowed.update([role] if isinstance(role, str) else role)
    unknown = allowed - ALL_ROLES
    if unknown or not allowed:
        raise ValueError(f"roles_allowed() needs known roles, got {sorted(roles)!r}")

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            staff = getattr(request, "staff", None)
            if staff is None or staff.role not in allowed:
                raise RoleRequired(allowed)
            return view(request, *args, **kwargs)

        wrapper.allowed_roles = frozenset(allowed)
        return wrapper

    return decorator


def public(view):
    """Mark a view that anyone may use (sign-in, health check, signed links)."""
    view.allowed_roles = PUBLIC
    return view


def scope_to_stores(queryset: QuerySet, staff: StaffMember, store_field: str = "store"):
    """HQ sees every store of the tenant; store staff only the stores they work for."""
    if staff.role in HQ_ROLES:
        return queryset
    return queryset.filter(**{f"{store_field}__in": staff.store_ids})


def get_scoped_or_404(queryset: QuerySet, staff: StaffMember, store_field: str = "store", **lookup):
    """One object within the staff member's store scope; 404 outside it (or another tenant)."""
    return get_object_or_404(scope_to_stores(queryset, staff, store_field), **lookup)
