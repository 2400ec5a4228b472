"""Select the signed-in staff member's tenant for the whole request, then clear it."""

from __future__ import annotations

from tenancy.context import set_database_tenant, tenant_context
from tenancy.models import StaffMember
from tenancy.net import client_ip


def load_staff_member(user) -> StaffMember | None:
    """The active staff membership of a user, read before any tenant is selected.

    Row-level security lets a connection read the membership row of the user named in
    `app.user_id` (see the staff member migration) and nothing else. The caller either
    selects the tenant next (which clears `app.user_id` in the same statement) or we clear it.
    """
    set_database_tenant(None, user_id=user.pk)
    staff = None
    try:
        staff = StaffMember.unscoped.select_related("tenant").filter(user_id=user.pk).first()
    finally:
        if staff is None or not (staff.is_active and staff.tenant.is_active):
            set_database_tenant(None)
    if staff is None or not (staff.is_active and staff.tenant.is_active):
        return None
    return staff


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
        with tenant_context(staff.tenant, ip=client_ip(request)):
            return self.get_response(request)
