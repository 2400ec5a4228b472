"""The counter quick-sale form and the sale record service's rules."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from analytics.models import Product, Sale
from analytics.services import LineInput
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.analytics.factories import line, record_sale
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def form_data(store, member="", lines=()):
    data = {
        "store": store.pk,
        "member": member,
        "lines-TOTAL_FORMS": "5",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "50",
        # A fresh one-time key per form, as the page mints one each time it is shown.
        "token": uuid.uuid4().hex,
    }
    for index in range(5):
        values = lines[index] if index < len(lines) else {}
        data.update(
            {
                f"lines-{index}-sku": values.get("sku", ""),
                f"lines-{index}-name": values.get("name", ""),
                f"lines-{index}-category": values.get("category", ""),
                f"lines-{index}-quantity": values.get("quantity", "1"),
                f"lines-{index}-unit_price": values.get("unit_price", ""),
                f"lines-{index}-discount": values.get("discount", ""),
            }
        )
    return data


def test_clerk_records_a_member_sale_found_by_phone(world, client_for):
    clerk = world.staff_a[Role.CLERK]
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1, phone="13812345678")
    response = client_for(clerk).post(
        reverse("analytics:counter_sale"),
        form_data(
            world.store_a1,
            member="13812345678",
            lines=[
                {"sku": "A1", "name": "面包", "quantity": "2", "unit_price": "6.50"},
                {"sku": "B2", "name": "牛奶", "unit_price": "4.00", "discount": "1.00"},
            ],
        ),
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        sale = Sale.objects.get()
        assert response["Location"] == reverse("analytics:sale_detail", kwargs={"sale_id": sale.pk})
        assert (sale.member, sale.staff, sale.total, sale.item_count) == (
            member,
            clerk,
            Decimal("16.00"),
            3,
        )
        assert set(Product.objects.values_list("sku", flat=True)) == {"A1", "B2"}


def test_walk_in_sale_and_errors_shown_in_chinese(world, client_for):
    client = client_for(world.staff_a[Role.CLERK])
    response = client.post(reverse("analytics:counter_sale"), form_data(world.store_a1))
    assert response.status_code == 200
    assert "请至少添加一行商品。" in response.content.decode()
    response = client.post(
        reverse("analytics:counter_sale"), form_data(world.store_a1, member="000")
    )
    assert "没有使用此手机号或卡号的会员。" in response.content.decode()
    response = client.post(
        reverse("analytics:counter_sale"),
        form_data(
            world.store_a1, lines=[{"sku": "X", "name": "x", "unit_price": "1", "discount": "5"}]
        ),
    )
    assert "折扣必须在 0 与该行金额之间" in response.content.decode()
    with tenant_context(world.tenant_a):
        assert not Sale.objects.exists()


def test_a_clerk_cannot_sell_for_another_store(world, client_for):
    response = client_for(world.staff_a[Role.CLERK]).post(
        reverse("analytics:counter_sale"),
        form_data(world.store_a2, lines=[{"sku": "A", "name": "a", "unit_price": "1"}]),
    )
    assert response.status_code == 200  # the store is not among the choices
    with tenant_context(world.tenant_a):
        assert not Sale.objects.exists()


def test_partial_refunds_never_exceed_the_sale_and_leave_no_cent_behind(world):
    with tenant_context(world.tenant_a):
        now = timezone.now()
        sale = record_sale(
            world.store_a1, now - datetime.timedelta(hours=1), lines=[line("T", 3, "10.00", "1.00")]
        )
        refunds = [
            record_sale(world.store_a1, now, lines=[LineInput(sku="T", quantity=1)], refund_of=sale)
            for _ in range(3)
        ]
        assert [r.total for r in refunds] == [Decimal("-9.67"), Decimal("-9.67"), Decimal("-9.66")]
        assert sum(r.total for r in refunds) == -sale.total
        with pytest.raises(ValidationError):
            record_sale(world.store_a1, now, lines=[LineInput(sku="T", quantity=1)], refund_of=sale)
        with pytest.raises(ValidationError):
            record_sale(world.store_a1, now, lines=[LineInput(sku="Z", quantity=1)], refund_of=sale)
        assert Sale.objects.count() == 4


def test_future_sales_and_closed_stores_are_refused(world):
    with tenant_context(world.tenant_a):
        with pytest.raises(ValidationError):
            record_sale(world.store_a1, timezone.now() + datetime.timedelta(days=1))
        world.store_a2.status = "closed"
        world.store_a2.save()
        with pytest.raises(ValidationError):
            record_sale(world.store_a2, timezone.now())
        assert not Sale.objects.exists()


def test_sale_pages_are_scoped_to_the_store(world, client_for):
    with tenant_context(world.tenant_a):
        own = record_sale(world.store_a1, timezone.now())
        other = record_sale(world.store_a2, timezone.now())
    client = client_for(world.staff_a[Role.CLERK])
    listing = client.get(reverse("analytics:sale_list")).content.decode()
    assert reverse("analytics:sale_detail", kwargs={"sale_id": own.pk}) in listing
    assert reverse("analytics:sale_detail", kwargs={"sale_id": other.pk}) not in listing
    assert (
        client.get(reverse("analytics:sale_detail", kwargs={"sale_id": other.pk})).status_code
        == 404
    )
