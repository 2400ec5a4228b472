"""Demo tenants and one staff member per role, for `make run` and manual testing."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from tenancy.messages import message
from tenancy.models import (
    AuditEvent,
    Notification,
    NotificationSetting,
    OnboardingStep,
    Role,
    StaffMember,
    Tenant,
)
from tenancy.services import audit_record, notify

DEMO_PASSWORD = "Demo@2026"  # noqa: S105 - printed for demo sign-in on purpose

DEMO_TENANTS = [
    {"slug": "demo", "name": "华美连锁零售", "time_zone": "Asia/Shanghai"},
    {"slug": "other", "name": "西域便利店", "time_zone": "Asia/Urumqi"},
]

# username, role, display name; a prefix keeps the second tenant's logins apart.
DEMO_STAFF = [
    ("admin", Role.HQ_ADMIN, "王总部管理员"),
    ("hq", Role.HQ_STAFF, "李总部专员"),
    ("manager", Role.STORE_MANAGER, "张店长"),
    ("clerk", Role.CLERK, "刘店员"),
]


def demo_username(tenant: Tenant, name: str) -> str:
    return name if tenant.slug == "demo" else f"{tenant.slug}-{name}"


def ensure_tenants() -> list[Tenant]:
    tenants = []
    for spec in DEMO_TENANTS:
        tenant, _ = Tenant.objects.get_or_create(
            slug=spec["slug"], defaults={"name": spec["name"], "time_zone": spec["time_zone"]}
        )
        tenants.append(tenant)
    return tenants


def seed(tenant: Tenant, *, stdout=None, quick: bool = False) -> None:
    """Runs inside tenant_context(tenant)."""
    User = get_user_model()
    for name, role, display_name in DEMO_STAFF:
        username = demo_username(tenant, name)
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        StaffMember.objects.get_or_create(
            user=user, defaults={"role": role, "display_name": display_name}
        )
    if not AuditEvent.objects.filter(action="demo.seed").exists():
        audit_record(action="demo.seed", reason="Demo data loaded")
    if not Notification.objects.exists():
        notify(
            recipients=StaffMember.objects.all(),
            kind="demo.welcome",
            title=message("demo.welcome.title"),
            body=message("demo.welcome.body"),
        )
    admin = StaffMember.objects.get(user__username=demo_username(tenant, "admin"))
    NotificationSetting.objects.get_or_create(staff=admin, defaults={"email_copy": False})
    # The demo clerk is half-way through onboarding, so the checklist and the manager's
    # overview show both done and open steps.
    clerk = StaffMember.objects.get(user__username=demo_username(tenant, "clerk"))
    for step in (OnboardingStep.Step.READ_GUIDE, OnboardingStep.Step.LOOK_UP_MEMBER):
        OnboardingStep.objects.get_or_create(staff=clerk, step=step)
    # The announced national holidays of the years the platform knows (tenancy.calendar).
    from tenancy.calendar import OFFICIAL_SCHEDULES, calendar_import_official

    for year in OFFICIAL_SCHEDULES:
        calendar_import_official(actor=None, year=year)
