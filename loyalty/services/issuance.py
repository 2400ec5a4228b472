"""Issuance caps (issue 19, section 1): an optional monthly cap per store on the points it
issues, earned on sales and added by hand, counted in the tenant's calendar month."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import (
    EntryKind,
    IssuanceCapMode,
    PointsLot,
    PointsRule,
    StoreIssuance,
    StorePointsCap,
)
from loyalty.services.rules import PointsError
from stores.models import Store
from tenancy.context import current_tenant
from tenancy.models import StaffMember
from tenancy.services import audit_record


def points_issue_within_cap(
    *,
    store: Store | None,
    points: int,
    at: datetime.datetime,
    rule: PointsRule,
    refuse: bool = False,
) -> int:
    """Count `points` against `store`'s monthly cap; returns the points that may be issued.

    Over the cap, the tenant's rule decides: refuse (PointsError "over_cap", which rolls the
    sale or adjustment back) or issue 0 (the caller records an earn of 0 with the reason).
    Never a partial overrun. `refuse`: refuse whatever the rule (a hand adjustment that
    would add 0 makes no sense). Call inside the writing transaction, after the account lock.
    """
    if store is None or points <= 0:
        return points
    cap = StorePointsCap.objects.filter(store=store).values_list("monthly_cap", flat=True).first()
    if cap is None:
        return points
    month = at.astimezone(current_tenant().zone).date().replace(day=1)
    # ignore_conflicts: the month's first two sales may both insert the row; one survives.
    StoreIssuance.objects.bulk_create(
        [StoreIssuance(store=store, month=month)], ignore_conflicts=True
    )
    # Lock the store's month row: two counters of the store (different members, so different
    # account locks) would each read the same total and together pass the cap. The second
    # waits here and reads what the first issued. Always taken after the account lock.
    issuance = StoreIssuance.objects.select_for_update().get(store=store, month=month)
    if issuance.issued + points > cap:
        if refuse or rule.issuance_cap_mode == IssuanceCapMode.REFUSE:
            raise PointsError(
                _(
                    "This store has reached its monthly points cap (%(cap)d points, %(left)d "
                    "left): %(points)d points cannot be issued."
                ),
                code="over_cap",
                params={"cap": cap, "left": max(cap - issuance.issued, 0), "points": points},
            )
        return 0
    issuance.issued += points
    issuance.save(update_fields=["issued"])
    return points


@transaction.atomic
def store_points_cap_set(
    *, store: Store, monthly_cap: int | None, staff: StaffMember | None
) -> StorePointsCap | None:
    """Set (or with None remove) a store's monthly points cap; audited."""
    before = StorePointsCap.objects.filter(store=store).values_list("monthly_cap", flat=True)
    previous = before.first()
    if monthly_cap is None:
        StorePointsCap.objects.filter(store=store).delete()
        cap = None
    else:
        cap, _created = StorePointsCap.objects.update_or_create(
            store=store, defaults={"monthly_cap": monthly_cap}
        )
    audit_record(
        action="loyalty.store_cap_changed",
        actor=staff,
        obj=store,
        before={"monthly_cap": previous},
        after={"monthly_cap": monthly_cap},
    )
    return cap


@dataclass
class StoreCapRow:
    store: Store
    monthly_cap: int | None
    counted: int  # this month's points on the cap's counter (capped stores)
    issued: int  # this month's points issued by the store, from the ledger

    @property
    def percent(self) -> int:
        if not self.monthly_cap:
            return 100 if self.monthly_cap == 0 else 0
        return min(100, self.counted * 100 // self.monthly_cap)


def store_caps_overview(*, now: datetime.datetime | None = None) -> list[StoreCapRow]:
    """Every store with its cap, the cap's counter and the ledger's issue this month."""
    zone = current_tenant().zone
    month = (now or timezone.now()).astimezone(zone).date().replace(day=1)
    start = datetime.datetime.combine(month, datetime.time.min, zone)
    caps = dict(StorePointsCap.objects.values_list("store_id", "monthly_cap"))
    counted = dict(StoreIssuance.objects.filter(month=month).values_list("store_id", "issued"))
    issued = dict(
        PointsLot.objects.filter(
            entry__kind__in=(EntryKind.EARN, EntryKind.ADJUST),
            entry__occurred_at__gte=start,
            store__isnull=False,
        )
        .values("store_id")
        .annotate(total=Sum("points"))
        .order_by()
        .values_list("store_id", "total")
    )
    return [
        StoreCapRow(
            store=store,
            monthly_cap=caps.get(store.pk),
            counted=counted.get(store.pk, 0),
            issued=issued.get(store.pk, 0),
        )
        for store in Store.objects.select_related("store_type").order_by("code")
    ]
