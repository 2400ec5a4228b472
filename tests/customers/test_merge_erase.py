"""Merging duplicates, erasing on request, consent, tags."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from customers.hooks import member_merged
from customers.models import Customer, CustomerTag
from customers.selectors import duplicate_groups
from customers.services import (
    customer_erase,
    customer_merge,
    customer_set_consent,
    customer_tag_add,
    customers_tag_bulk_add,
    customers_tag_bulk_remove,
)
from tenancy.models import AuditEvent, Role
from tests.customers.factories import TagFactory
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def pair(in_a):
    source = CustomerFactory(
        name="张伟",
        birth_month=3,
        birth_day=8,
        notes="爱喝拿铁",
        purchase_count=2,
        total_spent=Decimal("100.00"),
    )
    target = CustomerFactory(
        name="张伟", birth_month=3, birth_day=8, purchase_count=3, total_spent=Decimal("50.50")
    )
    return source, target


def test_duplicates_page_finds_same_name_and_birthday(pair, in_a, client_for):
    CustomerFactory(name="张伟", birth_month=4, birth_day=8)  # another birthday: not a duplicate
    groups = duplicate_groups()
    assert [set(g) for g in groups] == [set(pair)]
    html = (
        client_for(in_a.staff_a[Role.HQ_STAFF])
        .get(reverse("customers:duplicates"))
        .content.decode()
    )
    assert pair[0].card_number in html


def test_same_name_and_last4_with_another_number_is_a_likely_duplicate(in_a, client_for):
    from customers.selectors import similar_phone_groups

    first = CustomerFactory(name="赵敏", phone="13811112222")
    typo = CustomerFactory(name="赵敏", phone="13911112222")
    CustomerFactory(name="钱多", phone="13711112222")  # same digits, another name
    assert [set(g) for g in similar_phone_groups()] == [{first, typo}]
    html = (
        client_for(in_a.staff_a[Role.HQ_ADMIN])
        .get(reverse("customers:duplicates"))
        .content.decode()
    )
    assert typo.card_number in html and "钱多" not in html


def test_different_known_birth_years_are_not_duplicates(in_a):
    CustomerFactory(name="李娜", birth_year=1980, birth_month=1, birth_day=2)
    CustomerFactory(name="李娜", birth_year=1999, birth_month=1, birth_day=2)
    assert duplicate_groups() == []


def test_merge_moves_data_sends_signal_and_audits(pair, in_a):
    source, target = pair
    hq = in_a.staff_a[Role.HQ_ADMIN]
    shared, only_source = TagFactory(name="共有"), TagFactory(name="仅来源")
    customer_tag_add(customer=source, tag=shared, staff=hq)
    customer_tag_add(customer=target, tag=shared, staff=hq)
    customer_tag_add(customer=source, tag=only_source, staff=hq)
    customer_set_consent(customer=source, staff=hq, consent=True, channel="wechat")
    seen = []

    def receiver(sender, source, target, **kwargs):
        # Inside the transaction and before the source is marked merged.
        seen.append((source.pk, target.pk, source.is_erased, source.merged_into_id))

    member_merged.connect(receiver)
    try:
        customer_merge(source=source, target=target, staff=hq)
    finally:
        member_merged.disconnect(receiver)

    assert seen == [(source.pk, target.pk, False, None)]
    source.refresh_from_db()
    target.refresh_from_db()
    assert set(target.tags.values_list("name", flat=True)) == {"共有", "仅来源"}
    assert not CustomerTag.objects.filter(customer=source).exists()
    assert "爱喝拿铁" in target.notes
    assert target.marketing_consent and target.consent_channel == "wechat"
    assert target.purchase_count == 5 and target.total_spent == Decimal("150.50")
    assert source.is_erased and source.merged_into == target and source.phone is None
    assert not source.marketing_consent
    assert AuditEvent.objects.filter(action="customer.merged", object_id=str(target.pk)).exists()


def test_a_failing_receiver_rolls_the_whole_merge_back(pair, in_a):
    source, target = pair
    customer_tag_add(
        customer=source, tag=TagFactory(name="回滚"), staff=in_a.staff_a[Role.HQ_ADMIN]
    )

    def broken(sender, **kwargs):
        raise RuntimeError("ledger refused")

    member_merged.connect(broken)
    try:
        with pytest.raises(RuntimeError):
            customer_merge(source=source, target=target, staff=in_a.staff_a[Role.HQ_ADMIN])
    finally:
        member_merged.disconnect(broken)
    source.refresh_from_db()
    assert not source.is_erased
    assert source.tags.filter(name="回滚").exists()
    assert not AuditEvent.objects.filter(action="customer.merged").exists()


def test_cannot_merge_a_member_into_itself_or_an_erased_one(pair, in_a):
    source, target = pair
    hq = in_a.staff_a[Role.HQ_ADMIN]
    with pytest.raises(ValidationError):
        customer_merge(source=source, target=source, staff=hq)
    customer_erase(customer=target, staff=hq, reason="本人要求")
    with pytest.raises(ValidationError):
        customer_merge(source=source, target=target, staff=hq)


def test_merge_page_is_hq_only_and_merges(pair, in_a, client_for):
    source, target = pair
    data = {"source": source.card_number, "target": target.card_number}
    assert (
        client_for(in_a.staff_a[Role.STORE_MANAGER])
        .post(reverse("customers:merge"), data)
        .status_code
        == 403
    )
    response = client_for(in_a.staff_a[Role.HQ_STAFF]).post(reverse("customers:merge"), data)
    assert response.status_code == 302
    assert Customer.objects.get(pk=source.pk).merged_into_id == target.pk


def test_erase_anonymises_but_keeps_the_row_and_totals(in_a, member):
    member.total_spent = Decimal("88.00")
    member.email = "li@example.com"
    member.save()
    customer_set_consent(customer=member, staff=None, consent=True, channel="counter")
    customer_erase(customer=member, staff=in_a.staff_a[Role.HQ_ADMIN], reason="本人要求注销")
    member.refresh_from_db()
    assert member.is_erased and member.phone is None and member.phone_last4 == ""
    assert member.name == "已注销会员" and member.birth_month is None
    assert not member.marketing_consent and member.email == ""
    assert member.total_spent == Decimal("88.00")
    assert AuditEvent.objects.get(action="customer.erased").reason == "本人要求注销"


def test_personal_data_export_is_hq_only_and_audited(in_a, member, client_for):
    url = reverse("customers:personal_data", args=[member.pk])
    assert client_for(in_a.staff_a[Role.CLERK]).post(url).status_code == 403
    response = client_for(in_a.staff_a[Role.HQ_ADMIN]).post(url)
    assert response.status_code == 200
    assert response.json()["phone"] == "13812345678"
    assert AuditEvent.objects.filter(action="customer.personal_data_exported").count() == 1


def test_withdrawing_consent_records_time_and_channel(in_a, member, client_for):
    member.marketing_consent = True
    member.consent_at = timezone.now() - timedelta(days=30)
    member.save()
    client_for(in_a.staff_a[Role.CLERK]).post(
        reverse("customers:consent", args=[member.pk]), {"consent": "0", "channel": "online"}
    )
    member.refresh_from_db()
    assert not member.marketing_consent
    assert member.consent_channel == "online"
    assert member.consent_at > timezone.now() - timedelta(minutes=1)
    assert AuditEvent.objects.filter(action="customer.consent_withdrawn").exists()


def test_bulk_tag_on_a_filtered_list(in_a, client_for):
    tag = TagFactory(name="批量")
    in_march = [CustomerFactory(birth_month=3, birth_day=1) for _ in range(3)]
    CustomerFactory(birth_month=4, birth_day=1)
    hq = in_a.staff_a[Role.HQ_ADMIN]
    march = Customer.objects.filter(birth_month=3)
    assert customers_tag_bulk_add(customers=march, tag=tag, staff=hq, expected_count=3) == 3
    assert customers_tag_bulk_add(customers=march, tag=tag, staff=hq, expected_count=3) == 0
    assert set(tag.customers.all()) == set(in_march)
    everyone = Customer.objects.all()
    assert customers_tag_bulk_remove(customers=everyone, tag=tag, staff=hq, expected_count=4) == 3


def test_bulk_tag_page_tags_only_the_filtered_members_of_the_managers_stores(in_a, client_for):
    tag = TagFactory(name="店长批量")
    mine = CustomerFactory(birth_month=5, birth_day=1, home_store=in_a.store_a1)
    CustomerFactory(birth_month=5, birth_day=1, home_store=in_a.store_a2)  # another store
    CustomerFactory(birth_month=6, birth_day=1, home_store=in_a.store_a1)  # filtered out
    url = reverse("customers:bulk_tag") + "?birth_month=5"
    client = client_for(in_a.staff_a[Role.STORE_MANAGER])
    asked = client.post(url, {"tag": tag.pk, "action": "add"})
    assert asked.status_code == 200 and asked.context["count"] == 1
    assert not tag.customers.exists()  # asking only shows the count
    response = client.post(url, {"tag": tag.pk, "action": "add", "expected_count": 1})
    assert response.status_code == 302
    assert list(tag.customers.all()) == [mine]


def test_the_old_card_of_a_merged_member_finds_the_member_who_stays(pair, in_a):
    from customers.selectors import customer_lookup

    source, target = pair
    customer_merge(source=source, target=target, staff=in_a.staff_a[Role.HQ_ADMIN])
    clerk = in_a.staff_a[Role.CLERK]
    assert customer_lookup(query=source.card_number, staff=clerk) == [target]
    customer_erase(customer=target, staff=in_a.staff_a[Role.HQ_ADMIN], reason="本人要求")
    assert customer_lookup(query=source.card_number, staff=clerk) == []
