"""Who is signed in, cached: the user row and their staff membership.

Every page needs both before it can run a single query of its own. Reading them from the
cache (Redis in production) keeps a counter lookup at its own queries plus the tenant
setting. Any save of the user, the staff member or the tenant drops the cached copy, so a
role change, deactivation or password change applies on the very next request.

The cache is only an accelerator: with Redis down, tenancy.cache.ResilientRedisCache answers
every read as a miss and these functions read PostgreSQL instead (docs/reliability.md).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache

from tenancy.context import database_user
from tenancy.models import StaffMember

CACHE_SECONDS = 300


def user_key(user_id) -> str:
    return f"auth-user:{user_id}"


def staff_key(user_id) -> str:
    return f"staff-member:{user_id}"


class CachedModelBackend(ModelBackend):
    """ModelBackend whose per-request user lookup is served from the cache."""

    def get_user(self, user_id):
        # One round trip for both: the membership rides along for the tenant middleware.
        found = cache.get_many([user_key(user_id), staff_key(user_id)])
        user = found.get(user_key(user_id))
        if user is None:
            user = super().get_user(user_id)
            if user is not None:
                cache.set(user_key(user_id), user, CACHE_SECONDS)
        if user is None or not self.user_can_authenticate(user):
            return None
        user._cached_staff = found.get(staff_key(user_id))
        return user


def load_staff_member(user) -> StaffMember | None:
    """The active staff membership of a user, read before any tenant is selected.

    Row-level security lets a connection read the membership row of the user named in
    `app.user_id` (see the staff member migration) and nothing else.
    """
    key = staff_key(user.pk)
    staff = getattr(user, "_cached_staff", None) or cache.get(key)
    if staff is None:
        with database_user(user.pk):
            staff = StaffMember.unscoped.select_related("tenant").filter(user_id=user.pk).first()
        if staff is None:
            return None
        cache.set(key, staff, CACHE_SECONDS)
    if not (staff.is_active and staff.tenant.is_active):
        return None
    return staff


def forget_user(sender, instance, **kwargs) -> None:
    cache.delete_many([user_key(instance.pk), staff_key(instance.pk)])


def forget_staff(sender, instance, **kwargs) -> None:
    cache.delete(staff_key(instance.user_id))


def forget_tenant_staff(sender, instance, **kwargs) -> None:
    user_ids = StaffMember.unscoped.filter(tenant=instance).values_list("user_id", flat=True)
    cache.delete_many([staff_key(user_id) for user_id in user_ids])


def connect_signals() -> None:
    from django.db.models.signals import post_delete, post_save

    from tenancy.models import Tenant

    user_model = get_user_model()
    for signal in (post_save, post_delete):
        signal.connect(forget_user, sender=user_model, dispatch_uid=f"forget_user_{signal}")
        signal.connect(forget_staff, sender=StaffMember, dispatch_uid=f"forget_staff_{signal}")
    post_save.connect(forget_tenant_staff, sender=Tenant, dispatch_uid="forget_tenant_staff")
