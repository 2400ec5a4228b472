"""Members (会员): the customers a chain knows by phone and card number."""

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customers.lunar import lunar_text
from stores.models import Store
from tenancy.encryption import Unreadable
from tenancy.fields import (
    BlindIndexField,
    EncryptedCharField,
    EncryptedEmailField,
    EncryptedIntegerField,
)
from tenancy.models import StaffMember, TenantScopedManager, TenantScopedModel, TenantScopedQuerySet
from tenancy.tabular import error_rows as tabular_error_rows


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
    SMS_REPLY = "sms_reply", _("SMS reply")
    EMAIL_LINK = "email_link", _("E-mail unsubscribe link")


class RfmSegment(models.TextChoices):
    """The nightly RFM job's segments (analytics.aggregation), stored as keys.

    The member row keeps the key and the page shows the name in the reader's language;
    campaigns and saved segments filter by the key. Before keys the Chinese name was stored
    (migration 0008 converts them; one written later still reads by its key, any other value
    is shown as stored).
    """

    IMPORTANT_VALUE = "important_value", pgettext_lazy("RFM segment", "High-value customers")
    IMPORTANT_KEEP = "important_keep", pgettext_lazy("RFM segment", "Customers to keep")
    IMPORTANT_DEVELOP = "important_develop", pgettext_lazy("RFM segment", "Customers to develop")
    IMPORTANT_WIN_BACK = "important_win_back", pgettext_lazy("RFM segment", "Customers to win back")
    GENERAL_VALUE = "general_value", pgettext_lazy("RFM segment", "Regular value customers")
    GENERAL_KEEP = "general_keep", pgettext_lazy("RFM segment", "Regular customers to keep")
    GENERAL_DEVELOP = (
        "general_develop",
        pgettext_lazy("RFM segment", "Regular customers to develop"),
    )
    DORMANT = "dormant", pgettext_lazy("RFM segment", "Dormant customers")


# The Chinese names stored before keys, for the data migrations and for rows written meanwhile.
RFM_SEGMENT_OLD_NAMES = {
    "重要价值客户": RfmSegment.IMPORTANT_VALUE,
    "重要保持客户": RfmSegment.IMPORTANT_KEEP,
    "重要发展客户": RfmSegment.IMPORTANT_DEVELOP,
    "重要挽留客户": RfmSegment.IMPORTANT_WIN_BACK,
    "一般价值客户": RfmSegment.GENERAL_VALUE,
    "一般保持客户": RfmSegment.GENERAL_KEEP,
    "一般发展客户": RfmSegment.GENERAL_DEVELOP,
    "沉睡客户": RfmSegment.DORMANT,
}


class CustomerQuerySet(TenantScopedQuerySet):
    def active(self) -> "CustomerQuerySet":
        """Members who can still be served: not erased (a merged-away member is erased too)."""
        return self.filter(is_erased=False)


class Customer(TenantScopedModel):
    """A member. Phone is stored normalised (11 digits); erased members keep no PII.

    Phone, name, birth year and e-mail are encrypted at rest (tenancy.fields); they are found
    through blind indexes (keyed hashes) kept in step by save() and by every bulk write:
    phone_hash (the counter's full-number lookup, unique per tenant), name_hash (exact name
    search, duplicates) and phone_last4. Birth month and day stay clear for the birthday job,
    segments and the duplicates page (docs/customers.md, "Encryption at rest").
    """

    objects = TenantScopedManager.from_queryset(CustomerQuerySet)()

    phone = EncryptedCharField(_("mobile phone"), max_length=11, null=True, blank=True)
    # HMAC of the normalised phone (tenancy.encryption.phone_index): the full-number lookup.
    phone_hash = BlindIndexField(source="phone", kind="phone", null=True, blank=True)
    # The last four digits, kept separately so the counter's "last 4" search uses an index.
    phone_last4 = models.CharField(_("last 4 digits"), max_length=4, blank=True, editable=False)
    card_number = models.CharField(_("card number"), max_length=20)
    name = EncryptedCharField(_("name"), max_length=50)
    # HMAC of the normalised name (tenancy.encryption.name_index): exact name search and the
    # duplicates page's grouping.
    name_hash = BlindIndexField(source="name", kind="name", blank=True, default="")
    gender = models.CharField(
        _("gender"), max_length=10, choices=Gender.choices, default=Gender.UNKNOWN
    )
    birth_year = EncryptedIntegerField(_("birth year"), null=True, blank=True)
    birth_month = models.PositiveSmallIntegerField(_("birth month"), null=True, blank=True)
    birth_day = models.PositiveSmallIntegerField(_("birth day"), null=True, blank=True)
    # A lunar (农历) birthday instead of the solar month and day (customers.lunar); the birth
    # year, when known, is then the lunar year.
    lunar_birth_month = models.PositiveSmallIntegerField(
        _("lunar birth month"), null=True, blank=True
    )
    lunar_birth_day = models.PositiveSmallIntegerField(_("lunar birth day"), null=True, blank=True)
    lunar_birth_leap = models.BooleanField(_("leap month"), default=False, db_default=False)
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
    # Optional; campaigns' e-mail channel writes to it.
    email = EncryptedEmailField(_("e-mail"), blank=True, db_default="")
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
    rfm_segment = models.CharField(
        _("RFM segment"), max_length=32, blank=True, choices=RfmSegment.choices
    )
    # Written by loyalty whenever the member's tier changes, for lookups and segments.
    tier_code = models.CharField(_("tier code"), max_length=20, blank=True)
    tier_name = models.CharField(_("tier"), max_length=50, blank=True)
    # Set when this member was merged into another; the row stays so sales keep their owner.
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="merged_from",
        verbose_name=_("merged into"),
    )
    tags = models.ManyToManyField(
        "Tag", through="CustomerTag", related_name="customers", blank=True, verbose_name=_("tags")
    )

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "phone_hash"], name="customer_phone_hash_per_tenant"
            ),
            models.UniqueConstraint(
                fields=["tenant", "card_number"], name="customer_card_per_tenant"
            ),
            # A member has a solar or a lunar birthday, never both; a lunar one is whole.
            models.CheckConstraint(
                condition=models.Q(birth_month__isnull=True)
                | models.Q(lunar_birth_month__isnull=True),
                name="customer_one_birthday_calendar",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    lunar_birth_month__isnull=True,
                    lunar_birth_day__isnull=True,
                    lunar_birth_leap=False,
                )
                | models.Q(
                    # IS NOT NULL spelled out: a comparison with NULL passes a CHECK.
                    lunar_birth_month__isnull=False,
                    lunar_birth_day__isnull=False,
                    lunar_birth_month__gte=1,
                    lunar_birth_month__lte=12,
                    lunar_birth_day__gte=1,
                    lunar_birth_day__lte=30,
                ),
                name="customer_lunar_birthday_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "phone_last4"], name="customer_last4_idx"),
            models.Index(
                fields=["tenant", "birth_month", "birth_day"], name="customer_birthday_idx"
            ),
            # The birthday job matches today's few (month, day, leap) lunar birthdays.
            models.Index(
                fields=["tenant", "lunar_birth_month", "lunar_birth_day", "lunar_birth_leap"],
                name="customer_lunar_birthday_idx",
                condition=models.Q(lunar_birth_month__isnull=False),
            ),
            models.Index(fields=["tenant", "home_store"], name="customer_home_store_idx"),
            # The duplicates page groups by name and birthday.
            models.Index(
                fields=["tenant", "name_hash", "birth_month", "birth_day"],
                name="customer_name_dedup_idx",
            ),
            # The nightly aggregation counts each day's new members per store.
            models.Index(fields=["tenant", "created_at"], name="customer_enrolled_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.card_number})"

    @property
    def audit_label(self) -> str:
        """How audit events name the member: the name is encrypted at rest, the log keeps
        only its masked form."""
        return f"{self.masked_name} ({self.card_number})"

    def save(self, *args, **kwargs) -> None:
        if not isinstance(self.phone, Unreadable):
            self.phone_last4 = (self.phone or "")[-4:]
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            # The keys travel with the values they are derived from.
            extra = set()
            if "phone" in update_fields:
                extra |= {"phone_last4", "phone_hash"}
            if "name" in update_fields:
                extra.add("name_hash")
            kwargs["update_fields"] = list({*update_fields, *extra})
        super().save(*args, **kwargs)

    @property
    def has_unreadable_data(self) -> bool:
        return any(
            isinstance(value, Unreadable)
            for value in (self.phone, self.name, self.birth_year, self.email)
        )

    @property
    def birthday_text(self) -> str:
        """YYYY-MM-DD, or MM-DD when the year is not known; "" without a birthday."""
        if not (self.birth_month and self.birth_day):
            return ""
        month_day = f"{self.birth_month:02d}-{self.birth_day:02d}"
        return f"{self._year_text}-{month_day}" if self.birth_year else month_day

    @property
    def _year_text(self) -> str:
        year = self.birth_year
        return year if isinstance(year, Unreadable) else f"{year:04d}"

    @property
    def lunar_birthday_text(self) -> str:
        """农历 五月初八 (English: Lunar calendar: month 5, day 8); "" without one."""
        text = lunar_text(self.lunar_birth_month, self.lunar_birth_day, self.lunar_birth_leap)
        if text and self.birth_year:
            return f"{self.birth_year} {text}"
        return text

    @property
    def any_birthday_text(self) -> str:
        """The solar or the lunar birthday, whichever the member has."""
        return self.birthday_text or self.lunar_birthday_text

    @property
    def masked_phone(self) -> str:
        """138****5678: what clerks see."""
        if not self.phone:
            return ""
        if isinstance(self.phone, Unreadable):
            return self.phone
        return f"{self.phone[:3]}****{self.phone[-4:]}"

    @property
    def masked_name(self) -> str:
        """王** : the surname only, for lists that need not say who."""
        if isinstance(self.name, Unreadable):
            return self.name
        return f"{self.name[:1]}{'*' * max(len(self.name) - 1, 1)}" if self.name else ""

    def rfm_segment_label(self) -> str:
        """The RFM segment's name in the reader's language (an old stored name too)."""
        key = RFM_SEGMENT_OLD_NAMES.get(self.rfm_segment, self.rfm_segment)
        if key in RfmSegment.values:
            return str(RfmSegment(key).label)
        return self.rfm_segment

    @property
    def masked_label(self) -> str:
        """会员1 · 138****5678 · 8000000001: names a member on a form without full PII."""
        return " · ".join(part for part in (self.name, self.masked_phone, self.card_number) if part)

    @property
    def masked_email(self) -> str:
        """z***@example.com: the first letter and the domain, enough to tell two apart."""
        if isinstance(self.email, Unreadable):
            return self.email
        local, at, domain = (self.email or "").partition("@")
        if not at:
            return ""
        return f"{local[:1]}***@{domain}"


class Tag(TenantScopedModel):
    """A label on members: presets every tenant gets, plus the tenant's own."""

    name = models.CharField(_("name"), max_length=30)
    is_preset = models.BooleanField(_("preset"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["-is_preset", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="tag_name_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.name


class CustomerTag(TenantScopedModel):
    """Through table for member tags, itself tenant-owned so RLS covers it."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="tag_links", verbose_name=_("member")
    )
    tag = models.ForeignKey(
        Tag, on_delete=models.CASCADE, related_name="member_links", verbose_name=_("tag")
    )
    added_by = models.ForeignKey(
        StaffMember,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("added by"),
    )
    created_at = models.DateTimeField(_("added at"), auto_now_add=True)

    class Meta:
        verbose_name = _("member tag")
        verbose_name_plural = _("member tags")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "customer", "tag"], name="customer_tag_once_per_member"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "tag"], name="customer_tag_tag_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.tag_id}"


class Segment(TenantScopedModel):
    """A saved member filter; campaigns target it through selectors.segment_queryset()."""

    name = models.CharField(_("name"), max_length=100)
    description = models.CharField(_("description"), max_length=200, blank=True)
    # Keys: tags (tag ids, any of), tier_code, home_stores (store ids), birth_month,
    # lunar_birthday_this_month (true: the lunar birthday falls in the current solar month),
    # last_purchase_after / last_purchase_before (ISO dates), total_spent_min / _max
    # (decimal strings), rfm_segment. Missing or empty keys do not filter.
    criteria = models.JSONField(_("criteria"), default=dict, blank=True)
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
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="segment_name_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.name


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    VALIDATING = "validating", _("Checking rows")
    READY = "ready", _("Checked, waiting for confirmation")
    WRITING = "writing", _("Saving")
    DONE = "done", _("Done")
    FAILED = "failed", _("Rejected")


class ImportJob(TenantScopedModel):
    """One uploaded member file, checked as a whole and imported by a background job."""

    file_path = models.CharField(_("stored file"), max_length=255)
    original_name = models.CharField(_("file name"), max_length=255)
    status = models.CharField(
        _("status"), max_length=20, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows checked"), default=0)
    created_count = models.PositiveIntegerField(_("new members"), default=0)
    updated_count = models.PositiveIntegerField(_("updated members"), default=0)
    # [{"row": 3, "column": "生日", "value": "1990-02-30", "message": "..."}, ...]
    # (tenancy.tabular.cell_error) in the language of the person who uploaded it.
    errors = models.JSONField(_("errors"), default=list, blank=True)
    # What the check found, shown before anything is written: encoding, column mapping,
    # the first rows as they will be stored (customers.importing.PREVIEW_ROWS).
    preview = models.JSONField(_("preview"), default=dict, blank=True)
    default_store = models.ForeignKey(
        Store,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("default store"),
        help_text=_("Home store of new members whose row has no store code."),
    )
    # Uploaded from the page: the job checks the file and stops at READY until the uploader
    # confirms the preview (customers.importing.import_job_confirm clears it). False for
    # callers that import directly, and for every job from before previews.
    awaits_confirmation = models.BooleanField(default=False, editable=False)
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    created_by = models.ForeignKey(
        StaffMember,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # The running worker's lease, renewed as it goes; once it has passed, the worker is taken
    # for dead and the jobs sweeper hands the job to another (customers.services).
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("member import")
        verbose_name_plural = _("member imports")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="import_job_time_idx")]

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_running(self) -> bool:
        return self.status in (ImportStatus.PENDING, ImportStatus.VALIDATING, ImportStatus.WRITING)

    @property
    def error_rows(self) -> list[dict]:
        """Errors in the one format, each message in the reader's language (stored as a
        msgid, tenancy.messages); jobs from before it stored {"line", "errors"} as text."""
        rows = []
        for error in self.errors:
            if "line" in error:
                rows += [
                    {"row": error["line"], "column": "", "value": "", "message": message}
                    for message in error["errors"]
                ]
            else:
                rows.append(error)
        return tabular_error_rows(rows)

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 0
        return min(100, self.processed_rows * 100 // self.total_rows)


class RequestKind(models.TextChoices):
    ACCESS = "access", _("Access (copy of the data)")
    CORRECTION = "correction", _("Correction")
    DELETION = "deletion", _("Deletion")
    WITHDRAWAL = "withdrawal", _("Consent withdrawal")


class RequestChannel(models.TextChoices):
    COUNTER = "counter", _("At the counter")
    PHONE = "phone", _("Phone call")
    LETTER = "letter", _("Letter")
    EMAIL = "email", _("E-mail")
    WECHAT = "wechat", _("WeChat")
    ONLINE = "online", _("Online")


class RequestStatus(models.TextChoices):
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")
    REFUSED = "refused", _("Refused")


OPEN_REQUEST_STATUSES = (RequestStatus.OPEN, RequestStatus.IN_PROGRESS)


class DataRequestQuerySet(TenantScopedQuerySet):
    def unfinished(self) -> "DataRequestQuerySet":
        return self.filter(status__in=OPEN_REQUEST_STATUSES)

    def overdue(self, today) -> "DataRequestQuerySet":
        """Unfinished requests whose due date has passed on the tenant's calendar."""
        return self.unfinished().filter(due_on__lt=today)


class DataRequest(TenantScopedModel):
    """A personal-data request (个人信息权利请求) from a member under PIPL articles 44-47:
    who asked for what, how, when it is due, who handles it, and the proof it was answered."""

    objects = TenantScopedManager.from_queryset(DataRequestQuerySet)()

    kind = models.CharField(_("request"), max_length=20, choices=RequestKind.choices)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="data_requests", verbose_name=_("member")
    )
    channel = models.CharField(_("received by"), max_length=20, choices=RequestChannel.choices)
    received_on = models.DateField(_("received on"))
    # received_on + the tenant's working days (weekends skipped); see customers.privacy.
    due_on = models.DateField(_("due on"))
    owner = models.ForeignKey(
        StaffMember,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=RequestStatus.choices, default=RequestStatus.OPEN
    )
    note = models.TextField(_("note"), blank=True)
    # The proof: the audit event of the export handed over (access) or of the erase
    # (deletion) or of the consent withdrawal, written by the action run from the request page.
    evidence = models.ForeignKey(
        "tenancy.AuditEvent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("evidence"),
    )
    # SHA-256 of the export file handed over: proves which file it was without keeping a
    # second copy of the member's data in the register.
    evidence_sha256 = models.CharField(_("export file SHA-256"), max_length=64, blank=True)
    created_by = models.ForeignKey(
        StaffMember,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # Claimed by the reminder job with a conditional update, so each is sent once.
    reminded_at = models.DateTimeField(null=True, blank=True, editable=False)
    overdue_flagged_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("personal-data request")
        verbose_name_plural = _("personal-data requests")
        ordering = ["due_on", "id"]
        indexes = [
            models.Index(fields=["tenant", "status", "due_on"], name="data_request_due_idx"),
            models.Index(fields=["tenant", "customer"], name="data_request_member_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_REQUEST_STATUSES
