"""Campaigns (营销活动): audiences, coupons, the delivery outbox and birthday greetings."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customers.models import Customer, Segment
from stores.models import Store
from tenancy.fields import EncryptedCharField, EncryptedTextField
from tenancy.models import StaffMember, TenantScopedModel

MONEY = {"max_digits": 12, "decimal_places": 2}


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    WECHAT = "wechat", _("WeChat template message")
    EMAIL = "email", _("E-mail")
    IN_STORE = "in_store", _("In store only")


# The birthday greeting a tenant has not written itself: a message in the catalogue, so the
# settings page shows it in the reader's language; members get it in the site's language.
DEFAULT_BIRTHDAY_TEMPLATE = _(
    "Dear {name}, happy birthday! Everyone at {store} sends you their best wishes."
)


class CampaignSettings(TenantScopedModel):
    """A tenant's messaging rules: frequency cap, quiet hours and the birthday greeting."""

    frequency_cap = models.PositiveSmallIntegerField(
        _("marketing messages per member per 30 days"),
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    quiet_start = models.TimeField(_("quiet hours start"), default=datetime.time(21, 0))
    quiet_end = models.TimeField(_("quiet hours end"), default=datetime.time(9, 0))
    birthday_enabled = models.BooleanField(_("send birthday greetings"), default=True)
    birthday_send_time = models.TimeField(_("birthday greeting time"), default=datetime.time(9, 0))
    birthday_channel = models.CharField(
        _("birthday channel"), max_length=20, choices=Channel.choices, default=Channel.SMS
    )
    # Empty until the tenant writes its own: DEFAULT_BIRTHDAY_TEMPLATE is used meanwhile.
    birthday_template = models.TextField(_("birthday message"), blank=True, default="")
    birthday_offer = models.ForeignKey(
        "CouponOffer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("birthday coupon"),
    )
    birthday_points = models.PositiveIntegerField(
        _("birthday points"), default=0, validators=[MaxValueValidator(100_000)]
    )
    # Marketing SMS must tell the member how to refuse more; it is sent, and counted, as part
    # of every marketing text message (campaigns and birthday greetings).
    sms_unsubscribe_text = models.CharField(
        _("SMS unsubscribe instruction"),
        max_length=20,
        default="拒收请回复R",
        help_text=_("Added to the end of every marketing SMS, e.g. 拒收请回复R."),
    )

    class Meta:
        verbose_name = _("campaign settings")
        verbose_name_plural = _("campaign settings")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="campaigns_settings_one_per_tenant"),
        ]

    def __str__(self) -> str:
        return str(_("campaign settings"))

    @property
    def birthday_template_shown(self) -> str:
        """The greeting as the reader sees it: the tenant's own, or the default in the
        active language."""
        return self.birthday_template or str(DEFAULT_BIRTHDAY_TEMPLATE)

    def birthday_template_sent(self) -> str:
        """The greeting members get: the tenant's own, or the default in the site's language."""
        if self.birthday_template:
            return self.birthday_template
        with translation.override(settings.LANGUAGE_CODE):
            return str(DEFAULT_BIRTHDAY_TEMPLATE)

    def in_quiet_hours(self, local_time: datetime.time) -> bool:
        """True when `local_time` (the tenant's clock) falls inside the quiet hours."""
        start, end = self.quiet_start, self.quiet_end
        if start == end:
            return False
        if start < end:
            return start <= local_time < end
        return local_time >= start or local_time < end  # spans midnight, e.g. 21:00-09:00


class DiscountKind(models.TextChoices):
    FIXED = "fixed", _("Fixed amount off")
    PERCENT = "percent", _("Percentage off")


class CouponOffer(TenantScopedModel):
    """What a coupon is worth and when it may be used; coupons are its numbered copies."""

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("discount"), max_length=10, choices=DiscountKind.choices)
    # Yuan off for a fixed coupon, percent off (e.g. 15 = 15%) for a percentage coupon.
    value = models.DecimalField(
        _("value"), **MONEY, validators=[MinValueValidator(Decimal("0.01"))]
    )
    min_spend = models.DecimalField(
        _("minimum spend"), **MONEY, default=Decimal("0.00"), validators=[MinValueValidator(0)]
    )
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"))
    # Days a coupon stays valid after it is issued (birthday coupons); empty: the offer's end.
    valid_days = models.PositiveSmallIntegerField(
        _("valid days after issue"), null=True, blank=True
    )
    per_member_limit = models.PositiveIntegerField(
        _("uses per member"), default=1, validators=[MinValueValidator(1)]
    )
    total_limit = models.PositiveIntegerField(
        _("total uses"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    # Kept on the offer row, which every redemption locks: the total limit holds under
    # concurrent use, and the CHECK below is the backstop.
    used_count = models.PositiveIntegerField(_("used"), default=0, editable=False)
    issued_count = models.PositiveIntegerField(_("issued"), default=0, editable=False)
    stores = models.ManyToManyField(
        Store,
        through="CouponOfferStore",
        blank=True,
        related_name="+",
        verbose_name=_("stores"),
        help_text=_("Empty: every store."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        StaffMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("coupon offer")
        verbose_name_plural = _("coupon offers")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_limit__isnull=True) | Q(used_count__lte=models.F("total_limit")),
                name="campaigns_offer_within_total_limit",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__gt=models.F("valid_from")),
                name="campaigns_offer_valid_range",
            ),
            models.CheckConstraint(
                condition=~Q(kind="percent") | Q(value__lte=100),
                name="campaigns_offer_percent_at_most_100",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def describe(self) -> str:
        if self.kind == DiscountKind.PERCENT:
            text = _("%(value)s%% off") % {"value": f"{self.value.normalize():f}"}
        else:
            text = _("¥%(value)s off") % {"value": self.value}
        if self.min_spend:
            text = _("%(text)s on ¥%(min)s or more") % {"text": text, "min": self.min_spend}
        return str(text)


class CouponOfferStore(TenantScopedModel):
    """Through table of an offer's store restriction (tenant-owned so RLS covers it)."""

    offer = models.ForeignKey(CouponOffer, on_delete=models.CASCADE, related_name="store_links")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "offer", "store"], name="campaigns_offer_store_once"
            ),
        ]


class CouponStatus(models.TextChoices):
    AVAILABLE = "available", _("Available")
    USED = "used", _("Used")
    VOID = "void", _("Void")


class Coupon(TenantScopedModel):
    """One coupon with its own code, issued to a member by a campaign, a birthday or by hand."""

    offer = models.ForeignKey(
        CouponOffer, on_delete=models.PROTECT, related_name="coupons", verbose_name=_("offer")
    )
    member = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="coupons", verbose_name=_("member")
    )
    code = models.CharField(_("coupon code"), max_length=16)
    status = models.CharField(
        _("status"), max_length=10, choices=CouponStatus.choices, default=CouponStatus.AVAILABLE
    )
    valid_until = models.DateTimeField(_("valid until"))
    campaign = models.ForeignKey(
        "Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="coupons",
        verbose_name=_("campaign"),
    )
    issued_by = models.ForeignKey(
        StaffMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    issued_at = models.DateTimeField(_("issued at"), auto_now_add=True)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    used_store = models.ForeignKey(
        Store, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The sale that used it (analytics sits above campaigns, so a plain reference).
    used_sale_id = models.BigIntegerField(_("sale"), null=True, blank=True)
    discount = models.DecimalField(_("discount given"), **MONEY, null=True, blank=True)
    # The one-time key of the form that issued it by hand: a double click or a resent page
    # finds this coupon instead of issuing a second one (docs/reliability.md).
    source_key = models.CharField(_("source key"), max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="campaigns_coupon_code_uniq"),
            models.UniqueConstraint(
                fields=["tenant", "source_key"],
                condition=~Q(source_key=""),
                name="campaigns_coupon_source_uniq",
            ),
            models.CheckConstraint(
                condition=Q(status="used", used_at__isnull=False)
                | (~Q(status="used") & Q(used_at__isnull=True)),
                name="campaigns_coupon_used_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "member", "status"], name="campaigns_coupon_member_idx"),
            models.Index(fields=["tenant", "campaign", "status"], name="campaigns_coupon_camp_idx"),
        ]

    def __str__(self) -> str:
        return self.code


class Audience(models.TextChoices):
    SEGMENT = "segment", _("A saved segment")
    FILTER = "filter", _("These conditions")


class Schedule(models.TextChoices):
    NOW = "now", _("Send now")
    AT = "at", _("At a time")
    WEEKLY = "weekly", _("Every week (member day)")
    MONTHLY = "monthly", _("Every month (member day)")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    RUNNING = "running", _("Recurring")
    DONE = "done", _("Sent")
    CANCELLED = "cancelled", _("Cancelled")


class Campaign(TenantScopedModel):
    """A targeted push: who (segment or filter), what (template, coupon), when, and a holdout."""

    name = models.CharField(_("name"), max_length=100)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    template = models.TextField(
        _("message"),
        max_length=500,
        help_text=_("Placeholders: {name} {tier} {points} {coupon_code} {store}"),
    )
    audience = models.CharField(
        _("audience"), max_length=10, choices=Audience.choices, default=Audience.FILTER
    )
    segment = models.ForeignKey(
        Segment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("segment"),
    )
    # The same keys as customers.Segment.criteria.
    criteria = models.JSONField(_("conditions"), default=dict, blank=True)
    # Stores whose members the campaign may reach: a store manager's campaign is limited to
    # their stores; empty for HQ means the whole chain.
    stores = models.ManyToManyField(
        Store, through="CampaignStore", blank=True, related_name="+", verbose_name=_("stores")
    )
    offer = models.ForeignKey(
        CouponOffer,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        verbose_name=_("coupon"),
    )
    holdout_percent = models.PositiveSmallIntegerField(
        _("holdout group %"), default=0, validators=[MaxValueValidator(50)]
    )
    schedule = models.CharField(
        _("when"), max_length=10, choices=Schedule.choices, default=Schedule.NOW
    )
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    # Recurring campaigns: ISO weekday 1-7 (weekly) or day of month 1-28 (monthly), at send_time.
    recur_day = models.PositiveSmallIntegerField(
        _("member day"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    send_time = models.TimeField(_("send time"), null=True, blank=True)
    ends_on = models.DateField(_("last day"), null=True, blank=True)
    # Sales by targeted and holdout members in this many days after a run count as its effect.
    effect_days = models.PositiveSmallIntegerField(
        _("effect window (days)"),
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
    )
    status = models.CharField(
        _("status"), max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    created_by = models.ForeignKey(
        StaffMember,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "status"], name="campaigns_campaign_status_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_recurring(self) -> bool:
        return self.schedule in (Schedule.WEEKLY, Schedule.MONTHLY)

    @property
    def is_editable(self) -> bool:
        return self.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)


class CampaignStore(TenantScopedModel):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="store_links")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "campaign", "store"], name="campaigns_campaign_store_once"
            ),
        ]


class CampaignRun(TenantScopedModel):
    """One sending of a campaign: once, or one per occurrence of a recurring campaign.

    (campaign, occurrence) is unique, so two schedulers or a repeated click start it once.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs")
    occurrence = models.CharField(_("occurrence"), max_length=20)  # "once" or the local date
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    matched = models.PositiveIntegerField(_("matched"), default=0)
    targeted = models.PositiveIntegerField(_("targeted"), default=0)
    holdout = models.PositiveIntegerField(_("holdout"), default=0)
    excluded_consent = models.PositiveIntegerField(_("no marketing consent"), default=0)
    excluded_erased = models.PositiveIntegerField(_("erased"), default=0)
    excluded_cap = models.PositiveIntegerField(_("over the frequency cap"), default=0)
    excluded_no_address = models.PositiveIntegerField(_("no address for the channel"), default=0)
    held_quiet = models.PositiveIntegerField(_("held for quiet hours"), default=0)
    started_by = models.ForeignKey(
        StaffMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("campaign run")
        verbose_name_plural = _("campaign runs")
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "campaign", "occurrence"], name="campaigns_run_once_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.occurrence}"

    @property
    def excluded(self) -> int:
        return (
            self.excluded_consent
            + self.excluded_erased
            + self.excluded_cap
            + self.excluded_no_address
        )


class DeliveryKind(models.TextChoices):
    CAMPAIGN = "campaign", _("Campaign")
    BIRTHDAY = "birthday", _("Birthday greeting")
    ANNIVERSARY = "anniversary", _("Membership anniversary")
    SURVEY = "survey", _("Survey invitation")
    POINTS_EXPIRY = "points_expiry", _("Points expiry notice")


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    # Cut off inside the provider call (the worker died): the provider may have it, so it
    # is neither "failed" nor sent again.
    UNKNOWN = "unknown", _("Unknown (interrupted while sending)")
    HOLDOUT = "holdout", _("Held out (control group)")


# What the outbox itself writes into Delivery.last_error: stable English keys, shown through
# Delivery.error_text in the reader's language.
DELIVERY_ERRORS = {
    "member erased": pgettext_lazy("delivery error", "member erased"),
    "campaign cancelled": pgettext_lazy("delivery error", "campaign cancelled"),
    "no address for this channel": pgettext_lazy("delivery error", "no address for this channel"),
    "no e-mail address": pgettext_lazy("delivery error", "no e-mail address"),
    "interrupted while sending; the provider may have it; not sent again": pgettext_lazy(
        "delivery error", "interrupted while sending; the provider may have it; not sent again"
    ),
    "provider answered with invalid JSON": pgettext_lazy(
        "delivery error", "provider answered with invalid JSON"
    ),
}


class Delivery(TenantScopedModel):
    """The outbox: one row per message to one member, written before anything is sent.

    `key` is unique per tenant ("campaign:<run>:<member>", "birthday:<year>:<member>",
    ...), so a re-run, a second scheduler or a retried task never makes a second message.
    Holdout members get a row too (status holdout, never sent) so the report can compare them.
    """

    key = models.CharField(_("key"), max_length=80)
    kind = models.CharField(_("kind"), max_length=20, choices=DeliveryKind.choices)
    campaign = models.ForeignKey(
        Campaign,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("campaign"),
    )
    run = models.ForeignKey(
        CampaignRun, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    member = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("member")
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    # Phone, WeChat id or e-mail address at the time of queuing; empty for in-store only.
    # Both encrypted at rest (tenancy.fields): the address is the member's personal data and
    # a message usually names them.
    address = EncryptedCharField(_("to"), max_length=254, blank=True)
    text = EncryptedTextField(_("message"))
    coupon = models.ForeignKey(
        Coupon, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_marketing = models.BooleanField(_("marketing"), default=True)
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_error = models.CharField(_("error"), max_length=300, blank=True)
    provider_id = models.CharField(_("provider message id"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("queued at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("outbox")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="campaigns_delivery_key_uniq"),
            models.UniqueConstraint(
                fields=["tenant", "run", "member"],
                condition=Q(run__isnull=False),
                name="campaigns_delivery_once_per_run",
            ),
        ]
        indexes = [
            # The dispatcher's queue: due messages in order.
            models.Index(
                fields=["tenant", "status", "next_attempt_at"], name="campaigns_delivery_due_idx"
            ),
            # The frequency cap counts each member's recent marketing messages.
            models.Index(
                fields=["tenant", "member", "created_at"], name="campaigns_delivery_member_idx"
            ),
            models.Index(fields=["tenant", "run", "status"], name="campaigns_delivery_run_idx"),
        ]

    @property
    def error_text(self) -> str:
        """The error in the reader's language when the system wrote it (a key below); a
        provider's own words are shown as they came."""
        label = DELIVERY_ERRORS.get(self.last_error)
        return str(label) if label is not None else self.last_error

    def __str__(self) -> str:
        return self.key


class BirthdayGreeting(TenantScopedModel):
    """The claim: at most one birthday greeting per member per year, committed before sending."""

    member = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    year = models.PositiveSmallIntegerField(_("year"))
    created_at = models.DateTimeField(_("claimed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("birthday greeting")
        verbose_name_plural = _("birthday greetings")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "member", "year"], name="campaigns_birthday_once_a_year"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}:{self.year}"


class ReplyOutcome(models.TextChoices):
    WITHDRAWN = "withdrawn", _("Consent withdrawn")
    ALREADY = "already", _("Had no consent to withdraw")
    NOT_UNSUBSCRIBE = "other_text", _("Not an unsubscribe keyword")
    UNKNOWN_NUMBER = "unknown", _("No member has this number")


class InboundReply(TenantScopedModel):
    """A text message a member sent back through an SMS provider.

    One row per provider message id, so a provider that delivers the same reply twice (they
    retry until they get a 200) changes consent once and is answered the same way.
    """

    provider = models.CharField(_("provider"), max_length=30)
    provider_message_id = models.CharField(_("provider message id"), max_length=100)
    # The number as normalised for lookups; the reply text is kept short for the record.
    # Encrypted at rest (tenancy.fields), like the member's own phone.
    phone = EncryptedCharField(_("mobile phone"), max_length=11)
    text = models.CharField(_("reply"), max_length=200)
    received_at = models.DateTimeField(_("received at"))
    outcome = models.CharField(_("outcome"), max_length=12, choices=ReplyOutcome.choices)
    members_withdrawn = models.PositiveIntegerField(_("members withdrawn"), default=0)
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("SMS reply")
        verbose_name_plural = _("SMS replies")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "provider", "provider_message_id"],
                name="campaigns_reply_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.provider_message_id}"
