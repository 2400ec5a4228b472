"""Loyalty: tiers, the per-tenant points rule, and the points ledger with expiring lots.

Invariants (pinned by tests and backed by constraints):
- a member's balance equals the sum of their ledger entries, and is never negative;
- every positive entry creates a lot; every negative entry takes points out of lots, so the
  balance also equals the sum of the lots' remaining points;
- an entry's source key is unique per tenant, which makes earning from a sale idempotent.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customers.models import Customer
from stores.models import Store
from tenancy.models import StaffMember, TenantScopedModel


class Tier(TenantScopedModel):
    """A membership tier (普通会员, 银卡, 金卡, 钻石卡), ordered from the entry tier up.

    A member qualifies when their spend over the rolling window reaches `min_spend`, their
    purchase count reaches `min_purchases`, or the members they referred who made a first
    purchase reach `min_referrals` (a threshold of 0 is not a criterion; a tier with all at 0
    is the entry tier everyone holds).
    """

    order = models.PositiveSmallIntegerField(_("order"), help_text=_("0 is the entry tier."))
    code = models.CharField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=50)
    min_spend = models.DecimalField(
        _("qualifying spend"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    min_purchases = models.PositiveIntegerField(_("qualifying purchases"), default=0)
    # Members who brought others in: referrals whose first purchase was rewarded (and not
    # refunded in full) within the window.
    min_referrals = models.PositiveIntegerField(
        _("qualifying referrals"),
        default=0,
        help_text=_("Referred members who made their first purchase within the window."),
    )
    window_months = models.PositiveSmallIntegerField(
        _("rolling window (months)"), default=12, validators=[MinValueValidator(1)]
    )
    multiplier = models.DecimalField(
        _("points multiplier"),
        max_digits=4,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    benefits = models.TextField(_("benefits"), blank=True)
    # Called "review_months" until issue 19: it was always the review interval, never a grace.
    review_months = models.PositiveSmallIntegerField(
        _("review after (months)"),
        default=12,
        validators=[MinValueValidator(1)],
        help_text=_("A member in this tier is re-evaluated this long after their last change."),
    )
    max_downgrade_steps = models.PositiveSmallIntegerField(
        _("most tiers dropped at one review"), default=1, validators=[MinValueValidator(1)]
    )
    # Retention (保级): a member who no longer meets the retention threshold at a review keeps
    # the tier this long; a review at the end of it keeps or drops them for good.
    retention_months = models.PositiveSmallIntegerField(
        _("grace period (months)"),
        default=0,
        help_text=_(
            "A member who stops qualifying keeps this tier this long before dropping; 0: none."
        ),
    )
    retain_min_spend = models.DecimalField(
        _("retention spend"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Spend over the window that keeps the tier; empty: the entry spend."),
    )
    retain_min_purchases = models.PositiveIntegerField(
        _("retention purchases"),
        null=True,
        blank=True,
        help_text=_("Purchases over the window that keep the tier; empty: the entry count."),
    )
    # Upgrade with points (积分升级): what a member of the tier below pays to move up to this one.
    upgrade_points = models.PositiveIntegerField(
        _("points to buy this tier"),
        default=0,
        help_text=_("A member of the tier below may buy this tier for these points; 0: not sold."),
    )
    # A threshold change HQ chose to apply "at the next evaluation": tiers_evaluate writes it
    # onto the tier and then reviews every member (loyalty.services.tier_rules).
    scheduled_rules = models.JSONField(_("rule change scheduled"), null=True, blank=True)

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["order"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="loyalty_tier_code_uniq"),
            models.UniqueConstraint(fields=["tenant", "order"], name="loyalty_tier_order_uniq"),
        ]

    def __str__(self) -> str:
        return self.name


class IssuanceCapMode(models.TextChoices):
    REFUSE = "refuse", _("Refuse the sale")
    ZERO = "zero", _("Record the sale, earn 0 points")


class RefundShortfall(models.TextChoices):
    """What happens to points a refund should take back when the member already spent them.
    Either way they come out of the next points earned before anything can be spent again."""

    DEBT = "debt", _("Record them as points owed (the balance stays at 0)")
    NEGATIVE = "negative", _("Take them from the balance, which goes below 0")


class PointsRule(TenantScopedModel):
    """How a tenant earns, values, expires and adjusts points. One row per tenant."""

    points_per_yuan = models.DecimalField(
        _("points per yuan"),
        max_digits=8,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    excluded_categories = models.JSONField(
        _("excluded product categories"), default=list, blank=True
    )
    expiry_months = models.PositiveSmallIntegerField(
        _("points expire after (months)"),
        default=12,
        help_text=_("Points expire at the end of the month this many months after earning."),
    )
    redeem_points_per_yuan = models.PositiveIntegerField(
        _("points per yuan of value"), default=100, validators=[MinValueValidator(1)]
    )
    redeem_minimum = models.PositiveIntegerField(_("minimum points per redemption"), default=100)
    expiry_notice_days = models.PositiveSmallIntegerField(
        _("warn members this many days before expiry"), default=30
    )
    adjust_limit_store_manager = models.PositiveIntegerField(
        _("store manager adjustment limit (points)"), default=500
    )
    adjust_limit_hq = models.PositiveIntegerField(_("HQ adjustment limit (points)"), default=50000)
    # Monthly budgets: a per-adjustment limit alone let a manager add 500 points again and
    # again. Summed over the adjuster's own adjustments (added and removed) in the calendar
    # month on the tenant's clock.
    adjust_budget_store_manager = models.PositiveIntegerField(
        _("store manager monthly adjustment budget (points)"),
        default=2000,
        help_text=_(
            "Points each store manager may adjust per calendar month, added and removed "
            "together; 0: none."
        ),
    )
    adjust_budget_hq = models.PositiveIntegerField(
        _("HQ monthly adjustment budget (points)"),
        default=500000,
        help_text=_(
            "Points each HQ administrator may adjust per calendar month, added and removed "
            "together; 0: none."
        ),
    )
    referral_points = models.PositiveIntegerField(
        _("points for a referral"),
        default=0,
        help_text=_("Credited to the referrer at the referred member's first purchase; 0: none."),
    )
    behaviour_points = models.PositiveIntegerField(
        _("points for a rewarded behaviour"),
        default=0,
        help_text=_("E.g. completing the profile; each behaviour at most once; 0: none."),
    )
    # The return window (issue 19): points earned on a sale stay pending this long, so a
    # member cannot buy, spend the points and return the goods keeping their value.
    pending_days = models.PositiveSmallIntegerField(
        _("points pending for (days)"),
        default=0,
        help_text=_(
            "Points earned on a sale become spendable this many days later (the return "
            "window); 0: at once."
        ),
    )
    refund_shortfall = models.CharField(
        _("refund of points already spent"),
        max_length=8,
        choices=RefundShortfall.choices,
        default=RefundShortfall.DEBT,
        # also in the database, so rows written by plain SQL (benchmarks, loaders) get it
        db_default=RefundShortfall.DEBT,
        help_text=_(
            "A sale refunded after its return window whose points were spent. Either way the "
            "next points earned pay them back first, and nothing can be redeemed until then."
        ),
    )
    issuance_cap_mode = models.CharField(
        _("at a store's monthly points cap"),
        max_length=8,
        choices=IssuanceCapMode.choices,
        default=IssuanceCapMode.REFUSE,
    )
    tier_purchase = models.BooleanField(
        _("members may buy the next tier with points"),
        default=False,
        help_text=_("At the counter, at each tier's price in points (积分升级)."),
    )
    tier_purchase_period_months = models.PositiveSmallIntegerField(
        _("one tier purchase per (months)"), default=12, validators=[MinValueValidator(1)]
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("points rule")
        verbose_name_plural = _("points rules")
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="loyalty_rule_one_per_tenant"),
        ]

    def __str__(self) -> str:
        return str(_("Points rule"))


class PointsAccount(TenantScopedModel):
    """A member's points balance and tier. The row every points write locks first."""

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="+", verbose_name=_("member")
    )
    # Below 0 only when the tenant lets refunds of spent points take the balance negative
    # (PointsRule.refund_shortfall); the lots behind it never go below 0 (PointsLot), and
    # while it is negative they are all empty, so nothing can be redeemed.
    balance = models.IntegerField(_("balance"), default=0)
    # Points a refund could not take back because the member had already spent them; later
    # earnings pay it off first (loyalty.services.ledger).
    debt = models.PositiveIntegerField(_("points owed"), default=0)
    tier = models.ForeignKey(
        Tier,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="accounts",
        verbose_name=_("tier"),
    )
    tier_changed_at = models.DateTimeField(_("tier changed at"), null=True, blank=True)
    tier_review_at = models.DateTimeField(_("tier review due"), null=True, blank=True)
    # Set while the member is in the tier's grace period (保级至): the review at this instant
    # keeps the tier if the retention threshold is met again, else drops it.
    tier_grace_until = models.DateTimeField(_("tier kept until"), null=True, blank=True)
    tier_bought_at = models.DateTimeField(_("tier last bought with points"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("points account")
        verbose_name_plural = _("points accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "customer"], name="loyalty_account_customer_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "tier_review_at"], name="loyalty_account_review_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.balance}"


class EntryKind(models.TextChoices):
    EARN = "earn", _("Earned")
    REDEEM = "redeem", _("Redeemed")
    EXPIRE = "expire", _("Expired")
    ADJUST = "adjust", _("Adjusted")
    REVERSE = "reverse", _("Reversed (refund)")
    MERGE_IN = "merge_in", _("Merged in")
    MERGE_OUT = "merge_out", _("Merged out")
    DEBT_PAID = "debt_paid", _("Owed points paid")
    # 0 points: the refund already took them off the balance; its draws record which lot
    # earned them back (settlement counts them as reversed).
    BELOW_ZERO = "below_zero", _("Earned back below zero")


class PointsEntry(TenantScopedModel):
    """One append-only line of a member's points ledger. Never updated, never deleted."""

    account = models.ForeignKey(
        PointsAccount, on_delete=models.PROTECT, related_name="entries", verbose_name=_("account")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=EntryKind.choices)
    points = models.IntegerField(_("points"))
    balance_after = models.IntegerField(_("balance after"))
    # "sale:<id>", "refund:<id>", "sale-redeem:<id>", "expire:<lot>", ...: unique per tenant,
    # so a replayed or retried write finds its earlier entry instead of writing twice.
    source_key = models.CharField(_("source"), max_length=100)
    # Qualifying spend carried by this entry: the sale amount on an earn, minus the refunded
    # amount on a reverse. Tier evaluation sums it over the rolling window.
    amount = models.DecimalField(
        _("amount"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    unreversed_points = models.PositiveIntegerField(
        _("points that could not be reversed"), default=0
    )
    original = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversals",
        verbose_name=_("original entry"),
    )
    lot = models.ForeignKey(
        "PointsLot",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("expired lot"),
    )
    store = models.ForeignKey(
        Store, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    staff = models.ForeignKey(
        StaffMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    occurred_at = models.DateTimeField(_("time"))
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("points entry")
        verbose_name_plural = _("points entries")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source_key"], name="loyalty_entry_source_uniq"
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "account", "occurred_at"], name="loyalty_entry_account_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.points:+d}"


class PointsLot(TenantScopedModel):
    """Points that arrived together and expire together; redemptions draw the earliest first."""

    account = models.ForeignKey(
        PointsAccount, on_delete=models.PROTECT, related_name="lots", verbose_name=_("account")
    )
    entry = models.ForeignKey(
        PointsEntry, on_delete=models.PROTECT, related_name="lots", verbose_name=_("entry")
    )
    points = models.PositiveIntegerField(_("points"))
    remaining = models.PositiveIntegerField(_("remaining"))
    earned_at = models.DateTimeField(_("earned at"))
    # The first instant the points are gone (midnight after the month's last day, in the
    # tenant's time zone), and that last day itself for display and notices.
    expires_at = models.DateTimeField(_("expires at"))
    expires_on = models.DateField(_("valid until"))
    # Set while the lot's points are pending (inside the sale's return window): they count in
    # the balance but cannot be spent until the release job clears it at or after this time.
    pending_until = models.DateTimeField(_("pending until"), null=True, blank=True)
    # The store that issued these points and carries their liability (settlement): the sale's
    # store for earned points, the member's home store for points added by hand (the store
    # whose issuance cap they count against), kept through member merges; empty: HQ (rewards).
    store = models.ForeignKey(
        Store,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("issuing store"),
    )

    class Meta:
        verbose_name = _("points lot")
        verbose_name_plural = _("points lots")
        ordering = ["expires_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining__lte=F("points")), name="loyalty_lot_remaining_lte_points"
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "account", "expires_at"], name="loyalty_lot_account_idx"
            ),
            models.Index(fields=["tenant", "expires_at"], name="loyalty_lot_expiry_idx"),
            models.Index(
                fields=["tenant", "pending_until"],
                name="loyalty_lot_pending_idx",
                condition=Q(pending_until__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.points} until {self.expires_on}"


class LotDraw(TenantScopedModel):
    """Which lots a negative entry (redeem, reverse, adjust, merge out) took points from."""

    entry = models.ForeignKey(PointsEntry, on_delete=models.PROTECT, related_name="draws")
    lot = models.ForeignKey(PointsLot, on_delete=models.PROTECT, related_name="draws")
    points = models.PositiveIntegerField(_("points"))

    class Meta:
        verbose_name = _("lot draw")
        verbose_name_plural = _("lot draws")
        indexes = [models.Index(fields=["tenant", "lot"], name="loyalty_draw_lot_idx")]

    def __str__(self) -> str:
        return f"{self.points} from lot {self.lot_id}"


class ExpiryNotice(TenantScopedModel):
    """ "Your points expire soon": written by the nightly job, sent later by campaigns.

    The seam: campaigns' sender picks rows with `sent_at` empty (see
    loyalty.selectors.expiry_notices_pending) and stamps `sent_at` once delivered.
    """

    account = models.ForeignKey(
        PointsAccount, on_delete=models.PROTECT, related_name="notices", verbose_name=_("account")
    )
    expires_on = models.DateField(_("valid until"))
    points = models.PositiveIntegerField(_("points"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("expiry notice")
        verbose_name_plural = _("expiry notices")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "account", "expires_on"], name="loyalty_notice_once_uniq"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "sent_at"], name="loyalty_notice_pending_idx")]

    def __str__(self) -> str:
        return f"{self.points} until {self.expires_on}"


class StorePointsCap(TenantScopedModel):
    """An optional monthly cap on the points a store issues (earned + added by hand)."""

    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="+", verbose_name=_("store")
    )
    monthly_cap = models.PositiveIntegerField(_("monthly points cap"))

    class Meta:
        verbose_name = _("store points cap")
        verbose_name_plural = _("store points caps")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "store"], name="loyalty_cap_store_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.store_id}: {self.monthly_cap}"


class StoreIssuance(TenantScopedModel):
    """Points a capped store issued in one month (tenant-local): the row its earns lock."""

    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="+", verbose_name=_("store")
    )
    month = models.DateField(_("month"))
    issued = models.PositiveIntegerField(_("points issued"), default=0)

    class Meta:
        verbose_name = _("store points issued")
        verbose_name_plural = _("store points issued")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "store", "month"], name="loyalty_issuance_month_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.month}: {self.issued}"


# --- Settlement between owners (issue 19, section 1) ----------------------------------------


class StatementStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    CONFIRMED = "confirmed", pgettext_lazy("settlement status", "Confirmed")
    DISPUTED = "disputed", _("Disputed")


class SettlementStatement(TenantScopedModel):
    """One franchise (or joint-operation) store's points settlement with HQ for one month.

    The rule (docs/loyalty.md): the store that issued points carries their liability; a
    redemption at a store of another owner is owed by the issuer to the redeeming store, at
    the tenant's redemption rate, with HQ as the clearing party. So for franchise store F:
    HQ owes F for points of other issuers redeemed at F, and F owes HQ for its own points
    redeemed anywhere else. Regenerating replaces a draft (or disputed) statement, never a
    confirmed one.
    """

    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="+", verbose_name=_("store")
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    status = models.CharField(
        _("status"), max_length=10, choices=StatementStatus.choices, default=StatementStatus.DRAFT
    )
    # Points per yuan of value when generated (PointsRule.redeem_points_per_yuan).
    rate = models.PositiveIntegerField(_("points per yuan of value"))
    points_to_store = models.IntegerField(_("points HQ owes the store"), default=0)
    points_to_hq = models.IntegerField(_("points the store owes HQ"), default=0)
    amount_to_store = models.DecimalField(
        _("HQ owes the store"), max_digits=14, decimal_places=2, default=Decimal("0.00")
    )
    amount_to_hq = models.DecimalField(
        _("the store owes HQ"), max_digits=14, decimal_places=2, default=Decimal("0.00")
    )
    generated_at = models.DateTimeField(_("generated at"))
    generated_by = models.ForeignKey(
        StaffMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(_("confirmed or disputed at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        StaffMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("settlement statement")
        verbose_name_plural = _("settlement statements")
        ordering = ["-month", "store__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "store", "month"], name="loyalty_statement_month_uniq"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "month"], name="loyalty_statement_month_idx")]

    def __str__(self) -> str:
        return f"{self.store_id} {self.month:%Y-%m}"

    @property
    def net_to_store(self) -> Decimal:
        """Positive: HQ pays the store; negative: the store pays HQ."""
        return self.amount_to_store - self.amount_to_hq


class SettlementDirection(models.TextChoices):
    TO_STORE = "to_store", _("HQ owes the store")
    TO_HQ = "to_hq", _("The store owes HQ")


class SettlementLine(TenantScopedModel):
    """One lot draw of one redemption across owners: traceable to the redemption entry (and
    its sale), the lot drawn and the entry (and sale) that issued it."""

    statement = models.ForeignKey(
        SettlementStatement, on_delete=models.CASCADE, related_name="lines"
    )
    direction = models.CharField(_("direction"), max_length=10, choices=SettlementDirection.choices)
    draw = models.ForeignKey(LotDraw, on_delete=models.PROTECT, related_name="+")
    redemption = models.ForeignKey(PointsEntry, on_delete=models.PROTECT, related_name="+")
    issue_entry = models.ForeignKey(PointsEntry, on_delete=models.PROTECT, related_name="+")
    issuing_store = models.ForeignKey(
        Store, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    redeeming_store = models.ForeignKey(
        Store, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    redeemed_at = models.DateTimeField(_("redeemed at"))
    points = models.PositiveIntegerField(_("points"))
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("settlement line")
        verbose_name_plural = _("settlement lines")
        ordering = ["redeemed_at", "draw_id"]
        indexes = [models.Index(fields=["tenant", "statement"], name="loyalty_stmt_line_idx")]

    def __str__(self) -> str:
        return f"{self.direction} {self.points}"
