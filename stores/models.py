"""Regions, store types and stores: the chain's registry."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tenancy.messages import render as render_message
from tenancy.models import StaffMember, TenantScopedModel

region_code_validator = RegexValidator(
    r"^[A-Z]{2,4}$", _("Use 2 to 4 capital letters, for example BJ or SH.")
)
store_type_code_validator = RegexValidator(
    r"^[A-Z]{2,4}$", _("Use 2 to 4 capital letters, for example ZY or JM.")
)


class Region(TenantScopedModel):
    code = models.CharField(_("code"), max_length=4, validators=[region_code_validator])
    name = models.CharField(_("name"), max_length=50)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("parent region"),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="region_code_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Ownership(models.TextChoices):
    """Who owns a store of this type: HQ itself (直营), or a franchisee (加盟) or joint-operation
    partner (联营) who is a separate party. Points settlement is owed between different owners."""

    DIRECT = "direct", _("Directly operated (HQ)")
    FRANCHISE = "franchise", _("Franchise")
    JOINT = "joint", _("Joint operation")


class StoreType(TenantScopedModel):
    code = models.CharField(_("code"), max_length=4, validators=[store_type_code_validator])
    name = models.CharField(_("name"), max_length=50)
    ownership = models.CharField(
        _("ownership"),
        max_length=10,
        choices=Ownership.choices,
        default=Ownership.DIRECT,
        help_text=_("Franchise and joint-operation stores settle points with HQ monthly."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("store type")
        verbose_name_plural = _("store types")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="store_type_code_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class StoreStatus(models.TextChoices):
    PREPARING = "preparing", _("Preparing")
    OPEN = "open", pgettext_lazy("store status", "Open")
    SUSPENDED = "suspended", _("Suspended")
    CLOSED = "closed", _("Closed")


class Store(TenantScopedModel):
    """A store with its code REGION-TYPE-SEQUENCE, which is never edited and never reused."""

    code = models.CharField(_("store code"), max_length=20, editable=False)
    name = models.CharField(_("name"), max_length=100)
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="stores", verbose_name=_("region")
    )
    store_type = models.ForeignKey(
        StoreType, on_delete=models.PROTECT, related_name="stores", verbose_name=_("store type")
    )
    status = models.CharField(
        _("status"), max_length=20, choices=StoreStatus.choices, default=StoreStatus.PREPARING
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    opened_on = models.DateField(_("opened on"), null=True, blank=True)
    next_review_on = models.DateField(_("next review"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    staff = models.ManyToManyField(
        StaffMember,
        through="StoreAssignment",
        related_name="stores",
        blank=True,
        verbose_name=_("staff"),
    )

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="store_code_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class StoreAssignment(TenantScopedModel):
    """A store manager or clerk works for this store."""

    staff = models.ForeignKey(
        StaffMember, on_delete=models.CASCADE, related_name="store_assignments"
    )
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="assignments")

    class Meta:
        verbose_name = _("store assignment")
        verbose_name_plural = _("store assignments")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "staff", "store"], name="store_assignment_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.staff} @ {self.store}"


# --- Codes ----------------------------------------------------------------------------------

# REGION-TYPE-SEQUENCE: the sequence is zero-padded to 3 digits and simply grows to 4 and
# more after 999, so "BJ-ZY-1000" is valid but "BJ-ZY-0999" (padding past 3) is not.
STORE_CODE_PATTERN = r"^(?P<region>[A-Z]{2,4})-(?P<type>[A-Z]{2,4})-(?P<seq>\d{3}|[1-9]\d{3,})$"


class StoreCodeCounter(TenantScopedModel):
    """The last sequence issued for one (region, store type) prefix of one tenant.

    Approval locks this row (select_for_update) and increments it in the same transaction
    that creates the store, so a rolled-back approval gives its number back and concurrent
    approvals queue up instead of taking the same number. It only ever moves forward.
    """

    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="+", verbose_name=_("region")
    )
    store_type = models.ForeignKey(
        StoreType, on_delete=models.PROTECT, related_name="+", verbose_name=_("store type")
    )
    last_sequence = models.PositiveIntegerField(_("last sequence"), default=0)

    class Meta:
        verbose_name = _("store code counter")
        verbose_name_plural = _("store code counters")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "region", "store_type"], name="store_code_counter_prefix"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region.code}-{self.store_type.code}: {self.last_sequence}"


class StoreCodeHistory(TenantScopedModel):
    """Every code ever issued to a store, current and former: a code appears here once.

    The unique (tenant, code) constraint is the backstop that no code, not even a former
    one, is ever given to a second store.
    """

    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="code_history", verbose_name=_("store")
    )
    code = models.CharField(_("store code"), max_length=20)
    issued_at = models.DateTimeField(_("issued at"), auto_now_add=True)
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)
    # How the code was issued, as a message key with parameters (tenancy.messages), read in
    # the reader's language; `reason` holds text only for records from before keys.
    reason_message = models.JSONField(
        _("reason (message key)"), default=dict, blank=True, encoder=DjangoJSONEncoder
    )
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("store code record")
        verbose_name_plural = _("store code records")
        ordering = ["store", "issued_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="store_code_history_code"),
        ]
        indexes = [models.Index(fields=["tenant", "store"], name="store_code_history_store")]

    def __str__(self) -> str:
        return self.code

    @property
    def reason_text(self) -> str:
        return render_message(self.reason_message, fallback=self.reason)


# --- Applications ---------------------------------------------------------------------------


class ApplicationKind(models.TextChoices):
    NEW_STORE = "new_store", _("New store")
    CODE_CHANGE = "code_change", _("Code change")


class ApplicationStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class StoreCodeApplication(TenantScopedModel):
    """A request for a new store's code, or for a new code after a region or type change.

    draft -> submitted -> approved | rejected; a rejected application goes back to the
    applicant, who corrects it and submits again.
    """

    kind = models.CharField(
        _("kind"), max_length=20, choices=ApplicationKind.choices, default=ApplicationKind.NEW_STORE
    )
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=ApplicationStatus.choices,
        default=ApplicationStatus.DRAFT,
    )
    # New store: the store created on approval. Code change: the store whose code changes.
    store = models.ForeignKey(
        Store,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="code_applications",
        verbose_name=_("store"),
    )
    store_name = models.CharField(_("store name"), max_length=100)
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="+", verbose_name=_("region")
    )
    store_type = models.ForeignKey(
        StoreType, on_delete=models.PROTECT, related_name="+", verbose_name=_("store type")
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    contact_name = models.CharField(_("contact person"), max_length=50, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=20, blank=True)
    planned_opening_on = models.DateField(_("planned opening date"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    applicant = models.ForeignKey(
        StaffMember, on_delete=models.PROTECT, related_name="+", verbose_name=_("applicant")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        StaffMember,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    review_note = models.TextField(_("review note"), blank=True)
    previous_code = models.CharField(_("previous code"), max_length=20, blank=True)
    issued_code = models.CharField(_("issued code"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("store code application")
        verbose_name_plural = _("store code applications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "status", "-created_at"], name="store_app_status_idx"),
            models.Index(fields=["tenant", "applicant"], name="store_app_applicant_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.store_name}"

    @property
    def is_editable(self) -> bool:
        return self.status in (ApplicationStatus.DRAFT, ApplicationStatus.REJECTED)


def application_document_path(instance: ApplicationDocument, filename: str) -> str:
    import uuid
    from pathlib import PurePath

    # Never trust the uploaded name for the path: a random name, the checked extension.
    extension = PurePath(filename).suffix.lower()
    return f"store-applications/{instance.tenant_id}/{uuid.uuid4().hex}{extension}"


class ApplicationDocument(TenantScopedModel):
    """A qualification document (business licence, lease...) attached to an application."""

    application = models.ForeignKey(
        StoreCodeApplication,
        on_delete=models.CASCADE,
        related_name="documents",
        verbose_name=_("application"),
    )
    file = models.FileField(_("file"), upload_to=application_document_path, max_length=200)
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveIntegerField(_("size"))
    uploaded_by = models.ForeignKey(
        StaffMember, on_delete=models.PROTECT, related_name="+", verbose_name=_("uploaded by")
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("qualification document")
        verbose_name_plural = _("qualification documents")
        ordering = ["uploaded_at", "id"]
        indexes = [models.Index(fields=["tenant", "application"], name="store_doc_app_idx")]

    def __str__(self) -> str:
        return self.original_name


# --- Periodic re-review ---------------------------------------------------------------------


class ReviewStatus(models.TextChoices):
    DUE = "due", _("Due")
    CONFIRMED = "confirmed", _("Confirmed")
    NEEDS_CHANGE = "needs_change", _("Needs change")
    CLOSED = "closed", _("Store closed")


class StoreReview(TenantScopedModel):
    """One periodic re-review (定期复核) of a store, due on a date.

    The nightly job creates at most one per store and due date (unique), so re-running it
    is harmless; HQ then records the outcome.
    """

    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="reviews", verbose_name=_("store")
    )
    due_on = models.DateField(_("due on"))
    status = models.CharField(
        _("status"), max_length=20, choices=ReviewStatus.choices, default=ReviewStatus.DUE
    )
    note = models.TextField(_("note"), blank=True)
    reviewed_by = models.ForeignKey(
        StaffMember,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("store review")
        verbose_name_plural = _("store reviews")
        ordering = ["due_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "store", "due_on"], name="store_review_once_per_due_date"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "status", "due_on"], name="store_review_queue")]

    def __str__(self) -> str:
        return f"{self.store} {self.due_on}"
