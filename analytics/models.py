"""Sales as they come in, and the daily aggregates the dashboards read.

Raw rows: Product, Sale, SaleLine (written only by analytics.services.sale_record).
Aggregates: StoreDailyStats, ProductDailyStats (and its monthly rollup ProductMonthlyStats),
StaffDailyStats, ChannelDailyStats (written only by the nightly job, set-based; see
analytics/aggregation.py). DirtyDay marks a (store, day) whose sales arrived after the day
ended, so the next run recomputes it.
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


class ProductMonthlyStats(TenantScopedModel):
    """The sum of a calendar month's ProductDailyStats rows of one product in one store.

    Kept equal to those rows by the nightly job, which adds each rebuilt day's change to it
    (analytics/aggregation.py); `analytics_rollups_rebuild` recomputes it from the daily rows.
    The store dashboard's product lists read whole months here and only the partial months at
    the ends of a period from the daily rows: a year is about 12 rows per product instead of
    365 (the daily table is the largest aggregate, 3.2 GB at 10M sales).
    `days` counts the daily rows summed: a product sold and refunded within the month sums to
    zero but was still sold in the period; a row whose `days` fell to 0 has no daily rows left
    and reads as absent.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    month = models.DateField(_("month"))
    quantity = models.IntegerField(_("quantity"), default=0)
    revenue = models.DecimalField(_("revenue"), **MONEY, default=ZERO)
    days = models.IntegerField(_("days with sales"), default=0)

    class Meta:
        verbose_name = _("product month")
        verbose_name_plural = _("product months")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "store", "month", "product"],
                name="product_monthly_stats_unique",
            ),
            models.CheckConstraint(condition=Q(month__day=1), name="product_monthly_first_day"),
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.product_id} {self.month:%Y-%m}"


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


# --- Staff performance and incentives ------------------------------------------------------


class StaffTarget(TenantScopedModel):
    """A month's target for a store (staff empty) or for one staff member at a store."""

    store = models.ForeignKey(
        Store, on_delete=models.CASCADE, related_name="+", verbose_name=_("store")
    )
    staff = models.ForeignKey(
        StaffMember,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("staff member"),
    )
    # Always the first day of the month.
    month = models.DateField(_("month"))
    net_sales = models.DecimalField(_("net sales target"), **MONEY, default=ZERO)
    members_enrolled = models.PositiveIntegerField(_("members enrolled target"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("sales target")
        verbose_name_plural = _("sales targets")
        ordering = ["-month", "store", "staff"]
        constraints = [
            # Two partial constraints: NULL staff (the store's own target) is one row too.
            models.UniqueConstraint(
                fields=["tenant", "store", "month"],
                condition=Q(staff__isnull=True),
                name="staff_target_store_month",
            ),
            models.UniqueConstraint(
                fields=["tenant", "store", "staff", "month"],
                condition=Q(staff__isnull=False),
                name="staff_target_staff_month",
            ),
            models.CheckConstraint(condition=Q(month__day=1), name="staff_target_first_day"),
            models.CheckConstraint(condition=Q(net_sales__gte=0), name="staff_target_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.staff_id or '-'} {self.month:%Y-%m}"


class IncentiveKind(models.TextChoices):
    SALES_PERCENT = "sales_percent", _("Percentage of net sales")
    ENROLLED_BUYER = "enrolled_buyer", _("Per enrolled member who buys within 30 days")
    LEAD_WON = "lead_won", _("Per won lead")
    FIVE_STAR = "five_star", _("Per 5-star survey")


class IncentiveRule(TenantScopedModel):
    """One rule of the tenant's scheme: applies to events from `effective_from` until the
    next rule of the same kind takes effect (a change of rate is a new rule; 0 stops it)."""

    kind = models.CharField(_("kind"), max_length=20, choices=IncentiveKind.choices)
    # A percentage for SALES_PERCENT (1.50 = 1.5 %), an amount in CNY for the others.
    amount = models.DecimalField(_("rate or amount"), max_digits=10, decimal_places=2)
    effective_from = models.DateField(_("effective from"))
    created_by = models.ForeignKey(
        StaffMember, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("incentive rule")
        verbose_name_plural = _("incentive rules")
        ordering = ["kind", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "effective_from"], name="incentive_rule_once_a_day"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="incentive_rule_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.effective_from}"


class StatementStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    CONFIRMED = "confirmed", _("Confirmed")


class IncentiveStatement(TenantScopedModel):
    """One staff member's incentive for one month, rebuilt from the ledger until confirmed."""

    staff = models.ForeignKey(
        StaffMember, on_delete=models.PROTECT, related_name="+", verbose_name=_("staff member")
    )
    month = models.DateField(_("month"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=StatementStatus.choices,
        default=StatementStatus.DRAFT,
    )
    total = models.DecimalField(_("total"), **MONEY, default=ZERO)
    computed_at = models.DateTimeField(_("computed at"))
    confirmed_by = models.ForeignKey(
        StaffMember,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("confirmed by"),
    )
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("incentive statement")
        verbose_name_plural = _("incentive statements")
        ordering = ["-month", "staff"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "staff", "month"], name="incentive_statement_unique"
            ),
            models.CheckConstraint(condition=Q(month__day=1), name="incentive_statement_day1"),
        ]
        indexes = [models.Index(fields=["tenant", "month"], name="incentive_statement_month")]

    def __str__(self) -> str:
        return f"{self.staff_id} {self.month:%Y-%m}"


class IncentiveSource(models.TextChoices):
    SALE = "sale", _("Sale")
    MEMBER = "member", _("Member")
    LEAD = "lead", _("Lead")
    SURVEY = "survey", _("Survey")


class IncentiveLine(TenantScopedModel):
    """One earning (or claw-back) of a statement, pointing at the event that caused it."""

    statement = models.ForeignKey(
        IncentiveStatement, on_delete=models.CASCADE, related_name="lines"
    )
    rule = models.ForeignKey(
        IncentiveRule, on_delete=models.PROTECT, related_name="+", verbose_name=_("rule")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=IncentiveKind.choices)
    source_type = models.CharField(_("source"), max_length=10, choices=IncentiveSource.choices)
    source_id = models.BigIntegerField(_("source id"))
    occurred_at = models.DateTimeField(_("time"))
    # What the rule was applied to: the sale's total for a percentage, 1 for a bonus.
    basis = models.DecimalField(_("basis"), **MONEY)
    amount = models.DecimalField(_("amount"), **MONEY)

    class Meta:
        verbose_name = _("incentive line")
        verbose_name_plural = _("incentive lines")
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "statement", "kind", "source_type", "source_id"],
                name="incentive_line_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.source_type}#{self.source_id} {self.amount}"


class StoreForecast(TenantScopedModel):
    """One night's sales forecast for one store: the next FORECAST_DAYS days from `made_on`.

    Written only by the nightly forecast job (analytics/forecasting.py); the dashboard reads
    the newest row, it never fits a model. `mape` is the accuracy of the same method run as
    if it were 4 weeks ago (fitted on the days up to then) against what happened since;
    `naive_mape` is "same day last week" over the same days, for comparison.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    made_on = models.DateField(_("made on"))
    method = models.CharField(_("method"), max_length=40)
    mape = models.DecimalField(
        _("forecast error (MAPE)"), max_digits=9, decimal_places=4, null=True, blank=True
    )
    naive_mape = models.DecimalField(
        _("same-day-last-week error (MAPE)"),
        max_digits=9,
        decimal_places=4,
        null=True,
        blank=True,
    )
    # [{"day": "YYYY-MM-DD", "expected": "123.45", "low": "...", "high": "..."}, ...]
    days = models.JSONField(default=list, editable=False)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("sales forecast")
        verbose_name_plural = _("sales forecasts")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "store", "made_on"], name="store_forecast_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.made_on}"


class ProductForecast(TenantScopedModel):
    """A product's expected units at one store over the next 4 weeks against its last 4.

    Written by the nightly forecast job; `falling` marks the products the dashboard lists
    with the slow movers (the rule is in analytics/forecasting.py, FALL_RATIO).
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    made_on = models.DateField(_("made on"))
    recent_units = models.IntegerField(_("units, last 4 weeks"))
    expected_units = models.DecimalField(
        _("expected units, next 4 weeks"), max_digits=12, decimal_places=1
    )
    falling = models.BooleanField(_("falling sharply"), default=False)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("product forecast")
        verbose_name_plural = _("product forecasts")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "store", "made_on", "product"], name="product_forecast_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.product_id} {self.made_on}"


class ProductPair(TenantScopedModel):
    """ "Bought together": `other` was in `together` of the baskets that held `product`
    over the rolling window, ranked 1.. per product (top N kept).

    Rebuilt nightly per tenant by one set-based statement (analytics/recommendations.py).
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    together = models.IntegerField(_("baskets together"))
    rank = models.PositiveSmallIntegerField(_("rank"))
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("product pair")
        verbose_name_plural = _("product pairs")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "product", "other"], name="product_pair_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "product", "rank"], name="product_pair_rank_idx"),
            models.Index(fields=["tenant", "other"], name="product_pair_other_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} + {self.other_id} ({self.together})"
