"""The settlement, liability and cap pages: who sees which statement, exports (audited),
confirm/dispute, HQ's generate button, and the cap admin page."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from loyalty import services
from loyalty.models import SettlementStatement, StatementStatus, StoreIssuance, StorePointsCap
from stores.models import Ownership, Store
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.factories import CustomerFactory, StoreTypeFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

BEIJING = datetime.timezone(datetime.timedelta(hours=8))
NOVEMBER = datetime.date(2026, 11, 1)


def reload(world, statement):
    with tenant_context(world.tenant_a):
        statement.refresh_from_db()


@pytest.fixture
def statements(world):
    """Tenant A's two stores are franchise stores; a member earns at a2 and spends at a1."""
    with tenant_context(world.tenant_a):
        franchise = StoreTypeFactory(code="JM", name="加盟", ownership=Ownership.FRANCHISE)
        Store.objects.filter(pk__in=[world.store_a1.pk, world.store_a2.pk]).update(
            store_type=franchise
        )
        member = CustomerFactory(home_store=world.store_a2)
        services.points_earn_for_sale(
            customer=member,
            source_key="sale:501",
            amount=Decimal("800"),
            store=world.store_a2,
            occurred_at=datetime.datetime(2026, 11, 3, 10, tzinfo=BEIJING),
        )
        services.points_redeem(
            customer=member,
            points=500,
            source_key="sale-redeem:502",
            store=world.store_a1,
            staff=None,
            now=datetime.datetime(2026, 11, 5, 10, tzinfo=BEIJING),
        )
        services.settlement_generate(month=NOVEMBER)
        return {
            store.pk: SettlementStatement.objects.get(store=store, month=NOVEMBER)
            for store in (world.store_a1, world.store_a2)
        }


def test_hq_sees_every_statement_and_the_rule_both_ways(world, client_for, statements):
    page = client_for(world.staff_a[Role.HQ_STAFF]).get(reverse("loyalty:statements"))
    assert page.status_code == 200
    assert len(page.context["page"].object_list) == 2
    own, other = statements[world.store_a1.pk], statements[world.store_a2.pk]
    assert (own.points_to_store, own.amount_to_store, own.points_to_hq) == (500, Decimal("5.00"), 0)
    assert (other.points_to_hq, other.amount_to_hq, other.points_to_store) == (
        500,
        Decimal("5.00"),
        0,
    )
    assert not page.context["can_generate"]


def test_a_store_manager_sees_only_their_stores_statements(world, client_for, statements):
    client = client_for(world.staff_a[Role.STORE_MANAGER])  # works for store a1
    listing = client.get(reverse("loyalty:statements"))
    assert [s.store_id for s in listing.context["page"].object_list] == [world.store_a1.pk]
    own = statements[world.store_a1.pk]
    other = statements[world.store_a2.pk]
    detail = client.get(reverse("loyalty:statement", args=[own.pk]))
    assert detail.status_code == 200
    assert client.get(reverse("loyalty:statement", args=[other.pk])).status_code == 404
    assert (
        client.get(reverse("loyalty:statement", args=[other.pk]), {"format": "csv"}).status_code
        == 404
    )
    assert (
        client.post(
            reverse("loyalty:statement_decide", args=[other.pk]), {"decision": "confirm"}
        ).status_code
        == 404
    )


def test_clerks_and_other_tenants_see_no_statement(world, client_for, statements):
    own = statements[world.store_a1.pk]
    clerk = client_for(world.staff_a[Role.CLERK])
    assert clerk.get(reverse("loyalty:statements")).status_code == 403
    assert clerk.get(reverse("loyalty:statement", args=[own.pk])).status_code == 403
    outsider = client_for(world.staff_b[Role.HQ_ADMIN])
    assert outsider.get(reverse("loyalty:statement", args=[own.pk])).status_code == 404
    assert len(outsider.get(reverse("loyalty:statements")).context["page"].object_list) == 0


def test_statement_export_csv_and_xlsx_traceable_and_audited(world, client_for, statements):
    own = statements[world.store_a1.pk]
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    response = client.get(reverse("loyalty:statement", args=[own.pk]), {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('-202611.csv"')
    text = response.content.decode("utf-8-sig")
    assert "sale-redeem:502" in text and "sale:501" in text
    assert world.store_a2.code in text and "5.00" in text
    response = client.get(reverse("loyalty:statement", args=[own.pk]), {"format": "xlsx"})
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][4] == 500 and rows[1][7] == "sale-redeem:502"
    with tenant_context(world.tenant_a):
        events = AuditEvent.objects.filter(action="loyalty.statement_exported")
        assert events.count() == 2


def test_the_store_confirms_and_then_hq_cannot_regenerate(world, client_for, statements):
    own = statements[world.store_a1.pk]
    manager = client_for(world.staff_a[Role.STORE_MANAGER])
    response = manager.post(
        reverse("loyalty:statement_decide", args=[own.pk]), {"decision": "confirm", "note": ""}
    )
    assert response.status_code == 302
    reload(world, own)
    assert own.status == StatementStatus.CONFIRMED
    admin = client_for(world.staff_a[Role.HQ_ADMIN])
    response = admin.post(reverse("loyalty:statement_regenerate", args=[own.pk]), follow=True)
    assert "已确认" in response.content.decode() or "confirmed" in response.content.decode()
    before = own.generated_at
    reload(world, own)
    assert own.generated_at == before and own.status == StatementStatus.CONFIRMED
    # HQ's button for the month keeps it too and rewrites the other store's draft.
    admin.post(reverse("loyalty:statements_generate"), {"month": "2026-11"})
    reload(world, own)
    assert own.generated_at == before
    with tenant_context(world.tenant_a):
        assert AuditEvent.objects.filter(action="loyalty.statement_confirmed").count() == 1
        assert AuditEvent.objects.filter(action="loyalty.statement_generated").count() == 3


def test_a_dispute_needs_a_note(world, client_for, statements):
    own = statements[world.store_a1.pk]
    manager = client_for(world.staff_a[Role.STORE_MANAGER])
    manager.post(reverse("loyalty:statement_decide", args=[own.pk]), {"decision": "dispute"})
    reload(world, own)
    assert own.status == StatementStatus.DRAFT
    manager.post(
        reverse("loyalty:statement_decide", args=[own.pk]),
        {"decision": "dispute", "note": "第 3 行不是本店兑换"},
    )
    reload(world, own)
    assert own.status == StatementStatus.DISPUTED and own.note == "第 3 行不是本店兑换"


def test_liability_page_and_its_audited_export(world, client_for, statements):
    client = client_for(world.staff_a[Role.HQ_STAFF])
    params = {"start": "2026-11-01", "end": "2026-11-30"}
    page = client.get(reverse("loyalty:liability"), params)
    assert page.status_code == 200
    report = page.context["report"]
    assert report.total.issued == 800 and report.total.redeemed == 500
    assert report.total.outstanding == 300
    franchise = {row.ownership: row for row in report.owner_types}[Ownership.FRANCHISE]
    assert franchise.outstanding == 300 and franchise.values["outstanding"] == Decimal("3.00")
    assert world.store_a2.code in page.content.decode()
    response = client.get(reverse("loyalty:liability"), {**params, "format": "csv"})
    assert "800" in response.content.decode("utf-8-sig")
    with tenant_context(world.tenant_a):
        assert AuditEvent.objects.filter(action="loyalty.liability_exported").count() == 1
    assert (
        client_for(world.staff_a[Role.STORE_MANAGER]).get(reverse("loyalty:liability")).status_code
        == 403
    )


def test_hq_sets_a_cap_and_sees_issued_against_it(world, client_for):
    admin = client_for(world.staff_a[Role.HQ_ADMIN])
    response = admin.post(
        reverse("loyalty:cap_edit", args=[world.store_a1.pk]), {"monthly_cap": "1000"}
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        assert StorePointsCap.objects.get(store=world.store_a1).monthly_cap == 1000
        member = CustomerFactory(home_store=world.store_a1)
        from django.utils import timezone

        services.points_earn_for_sale(
            customer=member, source_key="sale:9", amount=Decimal("250"), store=world.store_a1,
            occurred_at=timezone.now(),
        )  # fmt: skip
        assert StoreIssuance.objects.get(store=world.store_a1).issued == 250
    page = admin.get(reverse("loyalty:caps"))
    rows = {row.store.pk: row for row in page.context["rows"]}
    assert (rows[world.store_a1.pk].monthly_cap, rows[world.store_a1.pk].counted) == (1000, 250)
    assert rows[world.store_a1.pk].issued == 250 and rows[world.store_a1.pk].percent == 25
    assert rows[world.store_a2.pk].monthly_cap is None
    admin.post(reverse("loyalty:caps"), {"issuance_cap_mode": "zero"})
    with tenant_context(world.tenant_a):
        assert services.points_rule().issuance_cap_mode == "zero"
    # Clearing the field removes the cap.
    admin.post(reverse("loyalty:cap_edit", args=[world.store_a1.pk]), {"monthly_cap": ""})
    with tenant_context(world.tenant_a):
        assert not StorePointsCap.objects.filter(store=world.store_a1).exists()
    assert client_for(world.staff_a[Role.HQ_STAFF]).get(reverse("loyalty:caps")).status_code == 403
