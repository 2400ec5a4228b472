"""Points across owners (issue 19 §1): the monthly settlement statements of franchise and
joint-operation stores, and the liability view, checked against a recomputation straight
from the ledger for generated data: 3 stores of each ownership type over 2 months."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum

from loyalty import selectors, services
from loyalty.models import (
    EntryKind,
    LotDraw,
    PointsEntry,
    PointsLot,
    SettlementDirection,
    SettlementLine,
    SettlementStatement,
    StatementStatus,
)
from loyalty.services.settlement import line_value
from stores.models import Ownership
from tenancy.models import AuditEvent, Role
from tests.factories import CustomerFactory, StaffMemberFactory, StoreFactory, StoreTypeFactory
from tests.loyalty.conftest import assert_balanced, at, earn

pytestmark = pytest.mark.clock

OCTOBER = datetime.date(2026, 10, 1)
NOVEMBER = datetime.date(2026, 11, 1)


@pytest.fixture
def chain(in_tenant):
    """3 directly operated, 3 franchise and 3 joint-operation stores."""
    types = {
        Ownership.DIRECT: StoreTypeFactory(code="ZY", name="直营", ownership=Ownership.DIRECT),
        Ownership.FRANCHISE: StoreTypeFactory(
            code="JM", name="加盟", ownership=Ownership.FRANCHISE
        ),
        Ownership.JOINT: StoreTypeFactory(code="LY", name="联营", ownership=Ownership.JOINT),
    }
    return {
        ownership: [
            StoreFactory(code=f"BJ-{store_type.code}-{n:03d}", store_type=store_type)
            for n in range(1, 4)
        ]
        for ownership, store_type in types.items()
    }


def _all(chain):
    return [store for stores in chain.values() for store in stores]


@pytest.fixture
def ledger(chain):
    """Two months of earning, redeeming (at stores and without one), refunds, hand
    adjustments, a member merge and an expiry, across all nine stores; seeded, so the same
    every run."""
    rng = random.Random(19)
    stores = _all(chain)
    admin = StaffMemberFactory(role=Role.HQ_ADMIN)
    members = [CustomerFactory(home_store=rng.choice(stores)) for _ in range(24)]
    # Points from a year ago: they expire at the end of October 2026 (the last two members
    # never redeem, so some surely expire).
    for index, member in enumerate(members[:4] + members[-2:]):
        earn(member, f"old:{index}", "400", at(2025, 10, 5), store=rng.choice(stores))
    spenders = members[:-2]
    sale = 0
    for month in (10, 11):
        for day in range(1, 29, 4):
            for member in rng.sample(spenders, 6):
                sale += 1
                store = rng.choice(stores)
                earn(
                    member,
                    f"sale:{sale}",
                    str(rng.randint(50, 900)),
                    at(2026, month, day, 10),
                    store=store,
                )
                if rng.random() < 0.15:
                    services.points_reverse_for_refund(
                        customer=member,
                        source_key=f"refund:{sale}",
                        original_source_key=f"sale:{sale}",
                        refunded_amount=Decimal("40"),
                        store=store,
                        occurred_at=at(2026, month, day, 11),
                    )
            for member in rng.sample(spenders, 5):
                available = selectors.points_summary(
                    customer=member, now=at(2026, month, day, 15)
                ).available
                if available >= 100:
                    services.points_redeem(
                        customer=member,
                        points=rng.randint(100, available),
                        source_key=f"redeem:{month}:{day}:{member.pk}",
                        store=rng.choice([*stores, None]),
                        staff=None,
                        now=at(2026, month, day, 15),
                    )
            if day == 9:
                member = rng.choice(members)
                services.points_adjust(
                    customer=member,
                    points=200,
                    reason="补偿",
                    staff=admin,
                    now=at(2026, month, day, 16),
                )
        if month == 10:
            services.points_expire_due(now=at(2026, 11, 1, 0, 5))
            # A merge moves lots to the surviving member; they keep their issuing store.
            services.points_merge(source=members[-3], target=members[-4])
    for member in members:
        assert_balanced(member)
    return members


def _owner(store):
    if store is None or store.store_type.ownership == Ownership.DIRECT:
        return "HQ"
    return store.pk


def _recompute(month: datetime.date, store) -> dict[str, int]:
    """What the store and HQ owe each other, straight from redemption entries and the lots
    they drew from, store by store in Python: no statement code involved."""
    end = (month + datetime.timedelta(days=32)).replace(day=1)
    start_at = at(month.year, month.month, 1, 0)
    end_at = at(end.year, end.month, 1, 0)
    owed = {
        "to_store": 0,
        "to_hq": 0,
        "amount_to_store": Decimal("0"),
        "amount_to_hq": Decimal("0"),
    }
    rate = services.points_rule().redeem_points_per_yuan
    redemptions = PointsEntry.objects.filter(
        kind=EntryKind.REDEEM, occurred_at__gte=start_at, occurred_at__lt=end_at
    ).select_related("store__store_type")
    for redemption in redemptions:
        for draw in LotDraw.objects.filter(entry=redemption).select_related(
            "lot__store__store_type"
        ):
            issuer, redeemer = _owner(draw.lot.store), _owner(redemption.store)
            if issuer == redeemer:
                continue
            if redeemer == store.pk:
                owed["to_store"] += draw.points
                owed["amount_to_store"] += line_value(draw.points, rate)
            if issuer == store.pk:
                owed["to_hq"] += draw.points
                owed["amount_to_hq"] += line_value(draw.points, rate)
    return owed


def _snapshot(month):
    return [
        (
            s.store_id,
            s.status,
            s.rate,
            s.points_to_store,
            s.points_to_hq,
            s.amount_to_store,
            s.amount_to_hq,
            [
                (
                    line.direction,
                    line.draw_id,
                    line.redemption_id,
                    line.issue_entry_id,
                    line.points,
                    line.amount,
                )
                for line in s.lines.order_by("redeemed_at", "draw_id", "direction")
            ],
        )
        for s in SettlementStatement.objects.filter(month=month).order_by("store_id")
    ]


@pytest.mark.parametrize("rate", [100, 30])
def test_statement_totals_equal_a_recomputation_from_the_ledger(chain, ledger, rate):
    rule = services.points_rule()
    rule.redeem_points_per_yuan = rate
    rule.save()
    crossed = 0
    for month in (OCTOBER, NOVEMBER):
        result = services.settlement_generate(month=month)
        settling = chain[Ownership.FRANCHISE] + chain[Ownership.JOINT]
        assert sorted(s.store_id for s in result.written) == sorted(s.pk for s in settling)
        for store in settling:
            statement = SettlementStatement.objects.get(store=store, month=month)
            owed = _recompute(month, store)
            assert statement.points_to_store == owed["to_store"]
            assert statement.points_to_hq == owed["to_hq"]
            assert statement.amount_to_store == owed["amount_to_store"]
            assert statement.amount_to_hq == owed["amount_to_hq"]
            lines = statement.lines.all()
            assert sum(line.amount for line in lines if line.direction == "to_store") == (
                statement.amount_to_store
            )
            for line in lines.select_related("draw__lot", "redemption"):
                # Traceable: a redemption's draw from a lot its issue entry created.
                assert line.redemption.kind == EntryKind.REDEEM
                assert line.draw.entry_id == line.redemption_id
                assert line.draw.lot.entry_id == line.issue_entry_id
                assert line.draw.lot.store_id == line.issuing_store_id
            crossed += statement.points_to_store + statement.points_to_hq
    assert crossed > 0
    assert not SettlementStatement.objects.filter(
        store__store_type__ownership=Ownership.DIRECT
    ).exists()


def test_regeneration_gives_the_identical_statement(ledger):
    services.settlement_generate(month=NOVEMBER)
    first = _snapshot(NOVEMBER)
    ids = set(SettlementStatement.objects.values_list("pk", flat=True))
    services.settlement_generate(month=NOVEMBER)
    assert _snapshot(NOVEMBER) == first
    assert set(SettlementStatement.objects.values_list("pk", flat=True)) == ids
    assert any(lines for *_totals, lines in first)


def test_a_confirmed_statement_cannot_be_regenerated(chain, ledger):
    franchise = chain[Ownership.FRANCHISE][0]
    services.settlement_generate(month=NOVEMBER)
    statement = SettlementStatement.objects.get(store=franchise, month=NOVEMBER)
    manager = StaffMemberFactory(role=Role.STORE_MANAGER)
    services.statement_decide(statement=statement, confirm=True, staff=manager)
    before = _snapshot(NOVEMBER)
    # New ledger activity in November after the confirmation.
    member = CustomerFactory(home_store=franchise)
    earn(member, "late-sale", "500", at(2026, 11, 29), store=chain[Ownership.DIRECT][0])
    services.points_redeem(
        customer=member,
        points=300,
        source_key="late-redeem",
        store=franchise,
        staff=None,
        now=at(2026, 11, 29, 18),
    )
    with pytest.raises(services.PointsError) as error:
        services.settlement_generate(month=NOVEMBER, store=franchise)
    assert error.value.code == "confirmed"
    result = services.settlement_generate(month=NOVEMBER)
    assert statement.pk in {s.pk for s in result.kept}
    after = {row[0]: row for row in _snapshot(NOVEMBER)}
    assert after[franchise.pk] == {row[0]: row for row in before}[franchise.pk]
    with pytest.raises(services.PointsError):
        services.statement_decide(statement=statement, confirm=False, staff=manager, note="x")
    assert AuditEvent.objects.filter(action="loyalty.statement_confirmed").count() == 1


def test_a_disputed_statement_is_regenerated_as_a_draft(chain, ledger):
    franchise = chain[Ownership.JOINT][1]
    services.settlement_generate(month=OCTOBER)
    statement = SettlementStatement.objects.get(store=franchise, month=OCTOBER)
    admin = StaffMemberFactory(role=Role.HQ_ADMIN)
    with pytest.raises(services.PointsError):
        services.statement_decide(statement=statement, confirm=False, staff=admin, note=" ")
    services.statement_decide(statement=statement, confirm=False, staff=admin, note="金额不符")
    statement.refresh_from_db()
    assert statement.status == StatementStatus.DISPUTED
    services.settlement_generate(month=OCTOBER, store=franchise, staff=admin)
    statement.refresh_from_db()
    assert statement.status == StatementStatus.DRAFT
    assert statement.note == "金额不符"
    assert AuditEvent.objects.filter(action="loyalty.statement_disputed").count() == 1


def test_the_monthly_job_writes_last_months_missing_statements_once(chain, ledger):
    assert services.settlement_generate_last_month(now=at(2026, 12, 1, 0, 30)) == 6
    assert SettlementStatement.objects.filter(month=NOVEMBER).count() == 6
    # Regenerated by HQ, then the job again: it never replaces what is there.
    assert services.settlement_generate_last_month(now=at(2026, 12, 1, 6, 30)) == 0
    # 23:30 on 30 November, Beijing: November is not over on the tenant's clock.
    assert services.settlement_generate_last_month(now=at(2026, 11, 30, 23, 30)) == 6
    assert SettlementStatement.objects.filter(month=OCTOBER).count() == 6


def test_the_management_command_generates_any_past_month(chain, ledger, in_tenant, capsys):
    call_command("loyalty_settle", "2026-10", tenant=in_tenant.slug)
    assert "6 written" in capsys.readouterr().out
    assert SettlementStatement.objects.filter(month=OCTOBER).count() == 6


def test_points_added_by_hand_are_the_home_stores_and_merges_keep_the_issuer(chain):
    franchise = chain[Ownership.FRANCHISE][0]
    admin = StaffMemberFactory(role=Role.HQ_ADMIN)
    member = CustomerFactory(home_store=franchise)
    other = CustomerFactory(home_store=chain[Ownership.DIRECT][0])
    services.points_adjust(customer=member, points=300, reason="补偿", staff=admin)
    assert PointsLot.objects.get(account__customer=member).store == franchise
    services.points_merge(source=member, target=other)
    assert set(
        PointsLot.objects.filter(account__customer=other).values_list("store", flat=True)
    ) == {franchise.pk}


# --- the liability view ----------------------------------------------------------------------


def test_liability_matches_the_ledger_and_outstanding_matches_the_lots(chain, ledger):
    report = services.liability_report(start=OCTOBER, end=datetime.date(2026, 11, 30))
    remaining = dict(
        PointsLot.objects.values("store_id")
        .annotate(n=Sum("remaining"))
        .values_list("store_id", "n")
    )
    for row in report.stores:
        key = row.store.pk if row.store else None
        # At the period's end (after every generated movement) outstanding is what lots hold.
        assert row.outstanding == (remaining.get(key) or 0), row.label
        assert row.outstanding == (
            # issued before the end less what left before the end; nothing before October
            # but the year-old points, which expired inside the period
            row.issued
            + (
                PointsLot.objects.filter(store_id=key, entry__occurred_at__lt=at(2026, 10, 1, 0))
                .exclude(entry__kind=EntryKind.MERGE_IN)
                .aggregate(n=Sum("points"))["n"]
                or 0
            )
            - row.redeemed
            - row.expired
            - row.reversed
        )
        assert row.values["outstanding"] == services.points_value(points=row.outstanding)
    issued = PointsLot.objects.filter(
        entry__kind__in=(EntryKind.EARN, EntryKind.ADJUST),
        entry__occurred_at__gte=at(2026, 10, 1, 0),
    ).aggregate(n=Sum("points"))["n"]
    assert report.total.issued == issued
    redeemed = -PointsEntry.objects.filter(kind=EntryKind.REDEEM).aggregate(n=Sum("points"))["n"]
    assert report.total.redeemed == redeemed
    assert (
        report.total.expired
        == -PointsEntry.objects.filter(kind=EntryKind.EXPIRE).aggregate(n=Sum("points"))["n"]
        > 0
    )
    by_type = {row.ownership: row for row in report.owner_types}
    for ownership, stores in chain.items():
        mine = [row for row in report.stores if row.store in stores]
        assert by_type[ownership].issued == sum(row.issued for row in mine)
        assert by_type[ownership].outstanding == sum(row.outstanding for row in mine) + (
            sum(row.outstanding for row in report.stores if row.store is None)
            if ownership == Ownership.DIRECT
            else 0
        )
    assert report.total.outstanding == sum(row.outstanding for row in report.owner_types)


def test_liability_of_one_month_only_counts_that_months_movements(chain, ledger):
    october = services.liability_report(start=OCTOBER, end=datetime.date(2026, 10, 31))
    november = services.liability_report(start=NOVEMBER, end=datetime.date(2026, 11, 30))
    both = services.liability_report(start=OCTOBER, end=datetime.date(2026, 11, 30))
    for name in ("issued", "redeemed", "expired", "reversed"):
        assert getattr(october.total, name) + getattr(november.total, name) == getattr(
            both.total, name
        )
    assert november.total.outstanding == both.total.outstanding
    assert SettlementLine.objects.count() == 0
    assert SettlementDirection.TO_HQ  # the enum the lines use
