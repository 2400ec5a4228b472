"""Points expire at the end of the month N months after earning, in the tenant's time zone."""

from __future__ import annotations

import datetime

import pytest

from loyalty import services
from loyalty.models import EntryKind, ExpiryNotice, PointsEntry, PointsLot
from tests.loyalty.conftest import BEIJING, account_of, assert_balanced, at, earn

pytestmark = pytest.mark.clock

UTC = datetime.UTC


@pytest.fixture
def rule(in_tenant):
    rule = services.points_rule()
    rule.expiry_months = 12
    rule.redeem_minimum = 1
    rule.save()
    return rule


def test_a_sale_at_2330_beijing_on_the_last_day_is_that_months(member, rule):
    # 2026-01-31 23:30 Beijing is 15:30 UTC the same day; 00:30 on 1 February is still
    # 31 January in UTC, yet February's in Beijing.
    late_january = earn(member, "sale:1", "100", at(2026, 1, 31, 23, 30))
    early_february = earn(member, "sale:2", "100", at(2026, 2, 1, 0, 30))
    assert early_february.occurred_at.astimezone(UTC).date() == datetime.date(2026, 1, 31)
    january_lot = late_january.lots.get()
    february_lot = early_february.lots.get()
    assert january_lot.expires_on == datetime.date(2027, 1, 31)
    assert february_lot.expires_on == datetime.date(2027, 2, 28)
    # The January lot is gone from midnight Beijing time, i.e. 16:00 UTC on 31 January.
    assert january_lot.expires_at == datetime.datetime(2027, 1, 31, 16, 0, tzinfo=UTC)


def test_the_expiry_job_runs_at_the_local_month_end(member, rule):
    earn(member, "sale:1", "100", at(2026, 1, 15))
    earn(member, "sale:2", "40", at(2026, 2, 15))
    just_before = datetime.datetime(2027, 1, 31, 23, 59, tzinfo=BEIJING)
    assert services.points_expire_due(now=just_before) == 0
    assert assert_balanced(member) == 140
    midnight = datetime.datetime(2027, 2, 1, 0, 0, tzinfo=BEIJING)
    assert services.points_expire_due(now=midnight) == 1
    assert assert_balanced(member) == 40
    expired = PointsEntry.objects.get(kind=EntryKind.EXPIRE)
    assert expired.points == -100
    assert expired.balance_after == 40
    assert expired.source_key == f"expire:{expired.lot_id}"


def test_expiry_takes_only_what_is_left_after_redemptions(member, store, rule):
    earn(member, "sale:1", "100", at(2026, 1, 15))
    earn(member, "sale:2", "100", at(2026, 3, 15))
    services.points_redeem(
        customer=member, points=130, source_key="r:1", store=store, staff=None,
        now=at(2026, 6, 1),
    )  # fmt: skip
    # FIFO: January's lot is empty, March's has 70 left.
    services.points_expire_due(now=at(2027, 2, 2))
    assert assert_balanced(member) == 70
    assert not PointsEntry.objects.filter(kind=EntryKind.EXPIRE).exists()
    services.points_expire_due(now=at(2027, 4, 2))
    assert assert_balanced(member) == 0
    assert PointsEntry.objects.get(kind=EntryKind.EXPIRE).points == -70


def test_several_due_lots_of_one_member_expire_in_one_run(member, rule):
    for month in (1, 2, 3):
        earn(member, f"sale:{month}", str(10 * month), at(2026, month, 10))
    earn(member, "sale:9", "5", at(2026, 9, 10))
    assert services.points_expire_due(now=at(2027, 5, 1)) == 3
    assert assert_balanced(member) == 5
    afters = sorted(
        PointsEntry.objects.filter(kind=EntryKind.EXPIRE).values_list("balance_after", flat=True)
    )
    assert afters == [5, 35, 55]  # 65 - 10, - 20, - 30


def test_a_due_lot_cannot_be_redeemed_before_the_job_runs(member, store, rule):
    earn(member, "sale:1", "100", at(2026, 1, 15))
    with pytest.raises(services.PointsError) as error:
        services.points_redeem(
            customer=member, points=50, source_key="r:1", store=store, staff=None,
            now=at(2027, 2, 1, 9),
        )  # fmt: skip
    assert error.value.code == "insufficient"


def test_running_the_nightly_jobs_twice_changes_nothing_the_second_time(member, store, rule):
    from tests.loyalty.factories import standard_tiers

    standard_tiers()
    earn(member, "sale:1", "3000", at(2026, 1, 15))  # 银卡 at once
    earn(member, "sale:2", "100", at(2026, 12, 20))
    night = at(2027, 2, 1, 2)  # January 2026's lot is due; 银卡's anniversary passed
    first = services.loyalty_nightly(now=night)
    assert first["expired_lots"] == 1
    assert first["downgraded"] == 1
    assert first["notices"] == 0
    snapshot = (
        list(PointsEntry.objects.order_by("pk").values()),
        list(PointsLot.objects.order_by("pk").values()),
        list(ExpiryNotice.objects.order_by("pk").values()),
        account_of(member).balance,
        account_of(member).tier_id,
        account_of(member).tier_review_at,
    )
    second = services.loyalty_nightly(now=night)
    assert second == {
        "expired_lots": 0, "upgraded": 0, "downgraded": 0, "grace": 0, "kept": 0,
        "notices": 0,
    }  # fmt: skip
    assert snapshot == (
        list(PointsEntry.objects.order_by("pk").values()),
        list(PointsLot.objects.order_by("pk").values()),
        list(ExpiryNotice.objects.order_by("pk").values()),
        account_of(member).balance,
        account_of(member).tier_id,
        account_of(member).tier_review_at,
    )


def test_members_with_points_expiring_within_30_days_get_one_notice(member, store, rule):
    earn(member, "sale:1", "100", at(2026, 1, 15))  # valid until 2027-01-31
    earn(member, "sale:2", "50", at(2026, 1, 20))  # same day: one notice for 150
    earn(member, "sale:3", "70", at(2026, 6, 15))  # far away
    assert services.points_notify_expiring(now=at(2026, 12, 31)) == 0  # 31 days ahead
    assert services.points_notify_expiring(now=at(2027, 1, 1)) == 1
    notice = ExpiryNotice.objects.get()
    assert (notice.points, notice.expires_on, notice.sent_at) == (
        150, datetime.date(2027, 1, 31), None
    )  # fmt: skip
    assert services.points_notify_expiring(now=at(2027, 1, 2)) == 0
    from loyalty.selectors import expiry_notices_pending

    assert list(expiry_notices_pending()) == [notice]
