"""The member import's loyalty columns: 会员等级 (a tier, by name) and 积分 (an opening balance).

customers reads them from the file and hands them over through customers.hooks, so that
customers never imports loyalty. Both receivers run for a whole file at once.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from loyalty.models import EntryKind, PointsEntry, Tier
from loyalty.services import points_rule
from loyalty.services.rules import _add_lot, _append, _existing, _lock_account
from loyalty.services.tiers import _set_tier
from tenancy.models import StaffMember

# One opening balance per member, ever: re-running the same file (or another file of the
# same migration) finds the entry instead of crediting twice (unique per tenant).
OPENING_KEY = "import-opening:{customer_id}"
MAX_OPENING_POINTS = 100_000_000


def _tiers_by_name() -> dict[str, Tier]:
    tiers = list(Tier.objects.order_by("order"))
    by_name = {tier.code.strip().lower(): tier for tier in tiers}
    by_name.update({tier.name.strip().lower(): tier for tier in tiers})  # the name wins
    return by_name


def _points(text: str) -> int | None:
    """Whole points of 0 or more ("1,200" and "1200.0" as spreadsheets write them)."""
    try:
        number = Decimal(text.replace(",", "").replace("，", ""))
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    if not 0 <= number <= MAX_OPENING_POINTS:
        return None
    return int(number)


def on_member_import_checking(sender, *, values: dict, **kwargs) -> dict:
    """customers.hooks.member_import_checking: refuse unknown tiers and bad balances."""
    tiers = _tiers_by_name()
    names = "、".join(tier.name for tier in Tier.objects.order_by("order")) or "—"
    keys = {
        OPENING_KEY.format(customer_id=row["customer_id"]): line
        for line, row in values.items()
        if row.get("customer_id") and "opening_points" in row
    }
    earlier = dict(
        PointsEntry.objects.filter(source_key__in=keys).values_list("source_key", "points")
    )
    refused: dict[int, dict[str, str]] = {}
    for line, row in values.items():
        problems = {}
        if "tier" in row and row["tier"].strip().lower() not in tiers:
            problems["tier"] = _("No tier is called %(name)s. Tiers: %(names)s.") % {
                "name": row["tier"],
                "names": names,
            }
        if "opening_points" in row:
            points = _points(row["opening_points"])
            key = OPENING_KEY.format(customer_id=row.get("customer_id"))
            if points is None:
                problems["opening_points"] = _("Points must be a whole number of 0 or more.")
            elif key in earlier and earlier[key] != points:
                problems["opening_points"] = _(
                    "This member's opening balance was imported before (%(points)s points); "
                    "change it with a points adjustment instead."
                ) % {"points": earlier[key]}
        if problems:
            refused[line] = problems
    return refused


def on_members_imported(
    sender, *, values: dict, staff: StaffMember | None = None, **kwargs
) -> None:
    """customers.hooks.members_imported: inside the import's write transaction."""
    tiers = _tiers_by_name()
    rule = points_rule()
    now = timezone.now()
    # Accounts are locked in primary-key order, as every multi-account write does, so an
    # import cannot deadlock with a merge or a sale touching the same members.
    for customer in Customer.objects.filter(pk__in=list(values)).order_by("pk"):
        row = values[customer.pk]
        account = _lock_account(customer)
        points = _points(row.get("opening_points", "")) or 0
        key = OPENING_KEY.format(customer_id=customer.pk)
        if points and _existing(key) is None:
            entry = _append(
                account,
                kind=EntryKind.ADJUST,
                points=points,
                source_key=key,
                occurred_at=now,
                staff=staff,
                reason="opening balance (member import)",
            )
            _add_lot(account, entry, points, earned_at=now, rule=rule)
        tier = tiers.get(row.get("tier", "").strip().lower())
        if tier is not None and account.tier_id != tier.pk:
            _set_tier(account, tier, at=now, reason="member import", actor=staff)
