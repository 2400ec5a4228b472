"""Sales as they come in, and the daily aggregates the dashboards read.

Raw rows: Product, Sale, SaleLine (written only by analytics.services.sale_record).
Aggregates: StoreDailyStats, ProductDailyStats, StaffDailyStats (written only by the nightly
job, set-based; see analytics/aggregation.py). DirtyDay marks a (store, day) whose sales
arrived after the day ended, so the next run recomputes it.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from campaigns.models import Coupon
from customers.models import Customer
from stores.models import Store
from tenancy import tabular
from tenancy.models import StaffMember, TenantScopedModel

MONEY = {"max_digits": 14, "decimal_places": 2}
ZERO = Decimal("0.00")


class Product(TenantScopedModel):
    sku = models.CharField(_("SKU"), max_length=40)
    name = models.CharField(_("product name"), max_length=100)
    category = models.CharField(_("category"), max_length=50, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["sku"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sku"], name="product_sku_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class SaleChannel(models.TextChoices):
    COUNTER = "counter", _("Counter")
    POS = "pos", _("POS")
    IMPORT = "import", _("File import")


class Sale(TenantScopedModel):
    """One ticket. A refund is a Sale with `refund_of` set and negative amounts.

    Signed amounts let every aggregate be a plain SUM: revenue is net of refunds.
    """

    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="sales", verbose_name=_("store")
    )
    member = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sales",
        verbose_name=_("member"),
    )
    staff = models.ForeignKey(
        StaffMember,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sales",
        verbose_name=_("staff member"),
    )
    occurred_at = models.DateTimeField(_("time of sale"))
    channel = models.CharField(_("channel"), max_length=10, choices=SaleChannel.choices)
    # The POS's own sale id; a retry with the same id returns the first result.
    external_id = models.CharField(_("POS sale id"), max_length=64, blank=True)
    request_hash = models.CharField(max_length=64, blank=True, editable=False)
    refund_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refunds",
        verbose_name=_("refund of"),
    )
    subtotal = models.DecimalField(_("subtotal"), **MONEY, default=ZERO)
    discount_total = models.DecimalField(_("discount"), **MONEY, default=ZERO)
    # The coupon used on this sale (none on refunds: a refund does not give the coupon back).
    # Its discount is applied after line discounts and before points; on a refund the
    # coupon_discount is the refunded share, negative like every other refund amount.
    coupon = models.ForeignKey(
        Coupon,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("coupon"),
    )
    coupon_discount = models.DecimalField(
        _("coupon discount"), **MONEY, default=ZERO, db_default=ZERO
    )
    points_redeemed = models.IntegerField(_("points redeemed"), default=0)
    points_discount = models.DecimalField(_("points discount"), **MONEY, default=ZERO)
    total = models.DecimalField(_("total"), **MONEY, default=ZERO)
    item_count = models.IntegerField(_("items"), default=0)
    points_earned = models.IntegerField(_("points earned"), default=0)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("sale")
        verbose_name_plural = _("sales")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "store", "external_id"],
                condition=~Q(external_id=""),
                name="sale_external_id_per_store",
            ),
            # A coupon pays for one sale only (campaigns' lock is the rule, this the backstop).
            models.UniqueConstraint(
                fields=["tenant", "coupon"],
                condition=Q(coupon__isnull=False),
                name="sale_coupon_once",
            ),
        ]
        indexes = [
            # Serves the nightly aggregation's range scan and today's live figures.
            models.Index(fields=["tenant", "occurred_at"], name="sale_tenant_time_idx"),
            models.Index(fields=["tenant", "store", "occurred_at"], name="sale_store_time_idx"),
            models.Index(fields=["tenant", "member", "occurred_at"], name="sale_member_time_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.total}"

    @property
    def is_refund(self) -> bool:
        return self.refund_of_id is not None


class SaleLine(TenantScopedModel):
    sale = models.ForeignKey(Sale, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveSmallIntegerField(_("line"))
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product")
    )
    quantity = models.IntegerField(_("quantity"))
    unit_price = models.DecimalField(_("unit price"), **MONEY)
    discount = models.DecimalField(_("discount"), **MONEY, default=ZERO)
    line_total = models.DecimalField(_("line total"), **MONEY)
    # On a refund line: the original line it gives money back for (refunds cannot exceed it).
    refunded_line = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="refund_lines"
    )

    class Meta:
        verbose_name = _("sale line")
        verbose_name_plural = _("sale lines")
        ordering = ["sale", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sale", "line_no"], name="sale_line_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} x {self.quantity}"


class StoreApiToken(TenantScopedModel):
    """A POS system's credential for one store. Only a hash of the secret is kept.

    The token handed out is "<tenant id>.<key>.<secret>": the tenant id lets the API select
    the tenant (and so pass row-level security) before looking the key up.
    """

    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="api_tokens", verbose_name=_("store")
    )
    name = models.CharField(_("token name"), max_length=50)
    key = models.CharField(_("key"), max_length=16, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        StaffMember, on_delete=models.PROTECT, related_name="+", verbose_name=_("created by")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_by = models.ForeignKey(
        StaffMember,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("revoked by"),
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("store API token")
        verbose_name_plural = _("store API tokens")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="api_token_key_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


class SaleImportStatus(models.TextChoices):
    CHECKED = "checked", _("Checked, waiting for confirmation")
    PENDING = "pending", _("Waiting")
    DONE = "done", _("Imported")
    FAILED = "failed", _("Rejected")


class SaleImport(TenantScopedModel):
    """An uploaded POS export: parsed rows kept until the job has written them (or not)."""

    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="+", verbose_name=_("store")
    )
    uploaded_by = models.ForeignKey(
        StaffMember, on_delete=models.PROTECT, related_name="+", verbose_name=_("uploaded by")
    )
    file_name = models.CharField(_("file"), max_length=200)
    rows = models.JSONField(default=list, editable=False)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=SaleImportStatus.choices,
        default=SaleImportStatus.PENDING,
    )
    errors = models.JSONField(_("errors"), default=list, blank=True)
    # What the check found, for the page before the confirm: encoding, column mapping.
    preview = models.JSONField(default=dict, blank=True, editable=False)
    sales_created = models.PositiveIntegerField(_("sales created"), default=0)
    sales_skipped = models.PositiveIntegerField(_("already imported"), default=0)
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("sales import")
        verbose_name_plural = _("sales imports")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="sale_import_time_idx")]

    @property
    def error_rows(self) -> list[dict]:
        """Errors in the one format (tenancy.tabular.cell_error); imports from before it
        stored {"line", "message"}. Messages are read in the reader's language."""
        return tabular.error_rows(
            [
                {"row": e["line"], "column": "", "value": "", "message": e["message"]}
                if "line" in e
                else e
                for e in self.errors
            ]
        )

    def __str__(self) -> str:
        return self.file_name


class DirtyDay(TenantScopedModel):
    """A (store, day) that got sales after it ended; the aggregation recomputes it.

    Kept after recomputation (cleaned_at set) as a record of late data.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("day"))
    marked_at = models.DateTimeField(_("marked at"))
    cleaned_at = models.DateTimeField(_("recomputed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("day to recompute")
        verbose_name_plural = _("days to recompute")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "store", "day"], name="dirty_day_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.day}"


class StoreDailyStats(TenantScopedModel):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("day"))
    revenue = models.DecimalField(_("revenue"), **MONEY, default=ZERO)
    transactions = models.IntegerField(_("transactions"), default=0)
    refunds = models.IntegerField(_("refunds"), default=0)
    items = models.IntegerField(_("items"), default=0)
    average_ticket = models.DecimalField(_("average ticket"), **MONEY, default=ZERO)
    member_revenue = models.DecimalField(_("member revenue"), **MONEY, default=ZERO)
    member_share = models.DecimalField(
        _("member share"), max_digits=7, decimal_places=4, default=Decimal("0")
    )
    new_members = models.IntegerField(_("new members"), default=0)
    points_earned = models.IntegerField(_("points earned"), default=0)
    points_redeemed = models.IntegerField(_("points redeemed"), default=0)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("store day")
        verbose_name_plural = _("store days")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "store", "day"], name="store_daily_stats_unique"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "day"], name="store_daily_day_idx")]

    def __str__(self) -> str:
        return f"{self.store_id} {self.day}"


class ProductDailyStats(TenantScopedModel):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("day"))
    quantity = models.IntegerField(_("quantity"), default=0)
    revenue = models.DecimalField(_("revenue"), **MONEY, default=ZERO)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("product day")
        verbose_name_plural = _("product days")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "store", "day", "product"], name="product_daily_stats_unique"
            ),
        ]
        # The nightly job's stale-row cleanup and HQ's chain-wide rankings read by day.
        indexes = [models.Index(fields=["tenant", "day"], name="product_daily_day_idx")]

    def __str__(self) -> str:
        return f"{self.store_id} {self.product_id} {self.day}"


class StaffDailyStats(TenantScopedModel):
    """The staff leaderboard's source: one row per clerk per store per day."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("day"))
    revenue = models.DecimalField(_("revenue"), **MONEY, default=ZERO)
    transactions = models.IntegerField(_("transactions"), default=0)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("staff day")
        verbose_name_plural = _("staff days")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "store", "day", "staff"], name="staff_daily_stats_unique"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "day"], name="staff_daily_day_idx")]

    def __str__(self) -> str:
        return f"{self.store_id} {self.staff_id} {self.day}"


class ChannelDailyStats(TenantScopedModel):
    """The channel breakdown's source: one row per store per day per sales channel."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("day"))
    channel = models.CharField(_("channel"), max_length=10, choices=SaleChannel.choices)
    revenue = models.DecimalField(_("revenue"), **MONEY, default=ZERO)
    transactions = models.IntegerField(_("transactions"), default=0)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("channel day")
        verbose_name_plural = _("channel days")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "store", "day", "channel"], name="channel_daily_stats_unique"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "day"], name="channel_daily_day_idx")]

    def __str__(self) -> str:
        return f"{self.store_id} {self.channel} {self.day}"
