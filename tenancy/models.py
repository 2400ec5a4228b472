"""Tenants, their staff, the tenant-scoped base model and the audit log."""

from __future__ import annotations

import zoneinfo
from functools import cached_property

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tenancy.context import current_tenant, current_tenant_or_none
from tenancy.messages import render as render_message


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value})


class Tenant(models.Model):
    """One retail company with its chain of stores."""

    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("short name"), max_length=50, unique=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Shanghai", validators=[validate_time_zone]
    )
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    settings = models.JSONField(_("settings"), default=dict, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def setting(self, key: str, default=None):
        return self.settings.get(key, default)


class TenantScopedQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        tenant = current_tenant()
        for obj in objs:
            if obj.tenant_id is None:
                obj.tenant_id = tenant.pk
            elif obj.tenant_id != tenant.pk:
                raise ValueError("bulk_create() was given a row of another tenant.")
        return super().bulk_create(objs, *args, **kwargs)


class TenantScopedManager(models.Manager.from_queryset(TenantScopedQuerySet)):
    """Filters by the current tenant, and raises when none is selected.

    It never falls back to "all tenants": work across tenants uses `Model.unscoped` and says
    so in the code.
    """

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(tenant_id=current_tenant().pk)


class TenantScopedModel(models.Model):
    """Base for every tenant-owned table. Its table also gets RLS in its migration."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, editable=False, related_name="+", verbose_name=_("tenant")
    )

    objects = TenantScopedManager()
    unscoped = models.Manager()

    class Meta:
        abstract = True
        # Following a foreign key must work in cross-tenant jobs too; RLS still applies.
        base_manager_name = "unscoped"

    def save(self, *args, **kwargs) -> None:
        selected = current_tenant_or_none()
        if self.tenant_id is None:
            self.tenant = current_tenant()
        elif selected is not None and selected.pk != self.tenant_id:
            raise ValueError(f"Refusing to save a row of tenant {self.tenant_id} as {selected}.")
        super().save(*args, **kwargs)


class Role(models.TextChoices):
    HQ_ADMIN = "hq_admin", _("HQ administrator")
    HQ_STAFF = "hq_staff", _("HQ staff")
    STORE_MANAGER = "store_manager", _("Store manager")
    CLERK = "clerk", _("Clerk")


HQ_ROLES = frozenset({Role.HQ_ADMIN, Role.HQ_STAFF})
STORE_ROLES = frozenset({Role.STORE_MANAGER, Role.CLERK})
ALL_ROLES = HQ_ROLES | STORE_ROLES


class StaffMember(TenantScopedModel):
    """A person who signs in to work for one tenant, with one role.

    Store managers and clerks work for the stores they are assigned to (stores.StoreAssignment);
    HQ roles see every store of their tenant.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="staff",
        verbose_name=_("user"),
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    display_name = models.CharField(_("display name"), max_length=50)
    phone = models.CharField(
        _("phone"),
        max_length=20,
        blank=True,
        validators=[RegexValidator(r"^[0-9+\- ]*$", _("Enter a valid phone number."))],
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff members")
        ordering = ["display_name"]
        indexes = [models.Index(fields=["tenant", "role"], name="staff_tenant_role_idx")]

    def __str__(self) -> str:
        return self.display_name or self.user.get_username()

    @property
    def is_hq(self) -> bool:
        return self.role in HQ_ROLES

    @cached_property
    def store_ids(self) -> frozenset[int]:
        """Ids of the stores this person works for (empty for HQ, who see all stores)."""
        if self.is_hq:
            return frozenset()
        return frozenset(self.store_assignments.values_list("store_id", flat=True))

    def can_access_store(self, store_id: int) -> bool:
        return self.is_hq or store_id in self.store_ids


class AuditEvent(TenantScopedModel):
    """Who did what to which object, when, from where, and why. Written by services."""

    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_label = models.CharField(_("actor name"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=64)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(_("after"), null=True, blank=True, encoder=DjangoJSONEncoder)
    reason = models.TextField(_("reason"), blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="audit_tenant_time_idx"),
            models.Index(fields=["tenant", "object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["tenant", "action"], name="audit_action_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"


class Notification(TenantScopedModel):
    """One item in a staff member's inbox (case assigned, case overdue, follow-up due, ...).

    Any app may write these through tenancy.services.notify(); each person reads only their own.
    """

    recipient = models.ForeignKey(
        StaffMember,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    kind = models.CharField(_("kind"), max_length=40)
    # Title and text are stored as message keys with parameters (tenancy.messages) and rendered
    # in the reader's language; `title`/`body` hold plain text only for rows from before keys.
    title_message = models.JSONField(
        _("title (message key)"), default=dict, blank=True, encoder=DjangoJSONEncoder
    )
    body_message = models.JSONField(
        _("text (message key)"), default=dict, blank=True, encoder=DjangoJSONEncoder
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    body = models.TextField(_("text"), blank=True)
    link = models.CharField(_("link"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    emailed = models.BooleanField(_("e-mail copy sent"), default=False)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "recipient", "read_at"], name="notification_inbox_idx"),
        ]

    def __str__(self) -> str:
        return self.title_text

    @property
    def title_text(self) -> str:
        return render_message(self.title_message, fallback=self.title)

    @property
    def body_text(self) -> str:
        return render_message(self.body_message, fallback=self.body)


class NotificationSetting(TenantScopedModel):
    """Per-person inbox preferences; no row means the defaults (no e-mail copies)."""

    # A foreign key with a tenant-first unique constraint rather than a one-to-one: every
    # unique rule on tenant data starts with tenant_id.
    staff = models.ForeignKey(
        StaffMember,
        on_delete=models.CASCADE,
        related_name="notification_settings",
        verbose_name=_("staff member"),
    )
    email_copy = models.BooleanField(_("also send each notification by e-mail"), default=False)

    class Meta:
        verbose_name = _("notification setting")
        verbose_name_plural = _("notification settings")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "staff"], name="notification_setting_per_staff"
            ),
        ]

    def __str__(self) -> str:
        return str(self.staff)


class OnboardingStep(TenantScopedModel):
    """One step of a staff member's onboarding checklist, written when the step is done.

    A row exists only for a step that is done: the checklist is the fixed list of steps
    (tenancy.onboarding.STEPS) against these rows. Steps are ticked by the real actions
    (see tenancy/onboarding.py), never by hand.
    """

    class Step(models.TextChoices):
        READ_GUIDE = "read_guide", _("Read the guide")
        LOOK_UP_MEMBER = "look_up_member", _("Look up a member")
        ENROL_MEMBER = "enrol_member", _("Enrol your first member (practice, with your manager)")
        RECORD_SALE = "record_sale", _("Record your first sale (practice, with your manager)")

    staff = models.ForeignKey(
        StaffMember,
        on_delete=models.CASCADE,
        related_name="onboarding_steps",
        verbose_name=_("staff member"),
    )
    step = models.CharField(_("step"), max_length=20, choices=Step.choices)
    done_at = models.DateTimeField(_("done at"), auto_now_add=True)

    class Meta:
        verbose_name = _("onboarding step")
        verbose_name_plural = _("onboarding steps")
        ordering = ["staff", "done_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "staff", "step"], name="onboarding_step_once_per_staff"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.staff} · {self.get_step_display()}"


class CalendarDay(TenantScopedModel):
    """An exception to "Monday to Friday are working days" in the tenant's working calendar:
    a public holiday off (放假) or a weekend made a working day (调休上班).

    China's holidays and make-up days change every year and are announced late (the State
    Council's notice for the next year comes in November), so HQ keeps this list: by hand on
    the working-calendar page, or by importing an announced schedule (tenancy.calendar).
    Deadlines counted in working days (personal-data requests) read it.
    """

    class Kind(models.TextChoices):
        OFF = "off", _("Day off (public holiday)")
        WORK = "work", _("Working day (make-up day, 调休)")

    day = models.DateField(_("date"))
    kind = models.CharField(
        pgettext_lazy("calendar day", "kind"), max_length=4, choices=Kind.choices
    )
    name = models.CharField(pgettext_lazy("calendar day", "name"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("working-calendar day")
        verbose_name_plural = _("working-calendar days")
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "day"], name="tenancy_calendar_day_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.day.isoformat()} {self.get_kind_display()}"
