"""Regions, store types and stores: the chain's registry."""

from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

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


class StoreType(TenantScopedModel):
    code = models.CharField(_("code"), max_length=4, validators=[store_type_code_validator])
    name = models.CharField(_("name"), max_length=50)
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
    OPEN = "open", _("Open")
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
