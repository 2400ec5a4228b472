"""Members (会员): the customers a chain knows by phone and card number."""

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from stores.models import Store
from tenancy.models import StaffMember, TenantScopedModel


class Gender(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")


class ConsentChannel(models.TextChoices):
    COUNTER = "counter", _("At the counter")
    PAPER = "paper", _("Paper form")
    WECHAT = "wechat", _("WeChat")
    ONLINE = "online", _("Online")
    IMPORT = "import", _("Imported")


class Customer(TenantScopedModel):
    """A member. Phone is stored normalised (11 digits); erased members keep no PII."""

    phone = models.CharField(_("mobile phone"), max_length=11, null=True, blank=True)
    # The last four digits, kept separately so the counter's "last 4" search uses an index.
    phone_last4 = models.CharField(_("last 4 digits"), max_length=4, blank=True, editable=False)
    card_number = models.CharField(_("card number"), max_length=20)
    name = models.CharField(_("name"), max_length=50)
    gender = models.CharField(
        _("gender"), max_length=10, choices=Gender.choices, default=Gender.UNKNOWN
    )
    birth_year = models.PositiveSmallIntegerField(_("birth year"), null=True, blank=True)
    birth_month = models.PositiveSmallIntegerField(_("birth month"), null=True, blank=True)
    birth_day = models.PositiveSmallIntegerField(_("birth day"), null=True, blank=True)
    home_store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="members", verbose_name=_("home store")
    )
    enrolled_by = models.ForeignKey(
        StaffMember,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("enrolled by"),
    )
    marketing_consent = models.BooleanField(_("marketing consent"), default=False)
    consent_at = models.DateTimeField(_("consent recorded at"), null=True, blank=True)
    consent_channel = models.CharField(
        _("consent channel"), max_length=20, choices=ConsentChannel.choices, blank=True
    )
    notes = models.TextField(_("notes"), blank=True)
    is_erased = models.BooleanField(_("erased"), default=False)
    created_at = models.DateTimeField(_("enrolled at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # Written by the nightly analytics job so segments and campaigns can target them.
    last_purchase_at = models.DateTimeField(_("last purchase"), null=True, blank=True)
    purchase_count = models.PositiveIntegerField(_("purchases"), default=0)
    total_spent = models.DecimalField(
        _("total spent"), max_digits=14, decimal_places=2, default=Decimal("0.00")
    )
    rfm_segment = models.CharField(_("RFM segment"), max_length=32, blank=True)
    # Written by loyalty whenever the member's tier changes, for lookups and segments.
    tier_code = models.CharField(_("tier code"), max_length=20, blank=True)
    tier_name = models.CharField(_("tier"), max_length=50, blank=True)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "phone"], name="customer_phone_per_tenant"),
            models.UniqueConstraint(
                fields=["tenant", "card_number"], name="customer_card_per_tenant"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "phone_last4"], name="customer_last4_idx"),
            models.Index(
                fields=["tenant", "birth_month", "birth_day"], name="customer_birthday_idx"
            ),
            models.Index(fields=["tenant", "home_store"], name="customer_home_store_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.card_number})"

    def save(self, *args, **kwargs) -> None:
        self.phone_last4 = (self.phone or "")[-4:]
        super().save(*args, **kwargs)

    @property
    def masked_phone(self) -> str:
        """138****5678: what clerks see."""
        if not self.phone:
            return ""
        return f"{self.phone[:3]}****{self.phone[-4:]}"
