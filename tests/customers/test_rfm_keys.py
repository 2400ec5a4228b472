"""RFM segments are stored as keys and named in the reader's language (issue 16)."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from django.urls import reverse

from customers.models import Customer, RfmSegment, Segment
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.campaigns.factories import CampaignFactory
from tests.customers.factories import SegmentFactory
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

RAW_KEY = re.compile(r"\b(important|general)_[a-z_]+\b|\bdormant\b")


def _visible(client, url: str, language: str) -> str:
    client.cookies["django_language"] = language
    response = client.get(url)
    assert response.status_code == 200
    return re.sub(r"<[^>]+>", " ", response.content.decode())


def test_the_member_page_names_the_segment_in_both_languages(world, client_for):
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1, rfm_segment=RfmSegment.IMPORTANT_VALUE)
    client = client_for(world.staff_a[Role.CLERK])
    url = reverse("customers:profile", args=[member.pk])
    chinese = _visible(client, url, "zh-hans")
    assert "RFM 分层" in chinese and "重要价值客户" in chinese
    assert not RAW_KEY.search(chinese)
    english = _visible(client, url, "en")
    assert "High-value customers" in english and "重要价值客户" not in english
    assert not RAW_KEY.search(english)


def test_an_old_row_with_the_chinese_name_still_reads_in_english(world, client_for):
    with tenant_context(world.tenant_a):
        old = CustomerFactory(home_store=world.store_a1, rfm_segment="沉睡客户")
        odd = CustomerFactory(home_store=world.store_a1, rfm_segment="自定义")
    client = client_for(world.staff_a[Role.CLERK])
    english = _visible(client, reverse("customers:profile", args=[old.pk]), "en")
    assert "Dormant customers" in english and "沉睡客户" not in english
    # A value that is neither a key nor a known old name is shown as stored.
    assert "自定义" in _visible(client, reverse("customers:profile", args=[odd.pk]), "en")


def test_the_segment_form_offers_named_segments_and_stores_the_key(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    url = reverse("customers:segment_new")
    assert "重要挽留客户" in _visible(client, url, "zh-hans")
    assert "Customers to win back" in _visible(client, url, "en")
    client.post(url, {"name": "挽留", "rfm_segment": "important_win_back"})
    with tenant_context(world.tenant_a):
        assert Segment.objects.get(name="挽留").criteria == {"rfm_segment": "important_win_back"}


def test_the_data_migrations_turn_old_names_into_keys(world):
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1, rfm_segment="重要发展客户")
        segment = SegmentFactory(criteria={"rfm_segment": "一般保持客户", "birth_month": 3})
        campaign = CampaignFactory(criteria={"rfm_segment": "沉睡客户"})
    with tenant_context(world.tenant_b):
        other = CustomerFactory(home_store=world.store_b1, rfm_segment="沉睡客户")
    for module in (
        "customers.migrations.0008_rfm_segment_keys",
        "campaigns.migrations.0005_rfm_segment_keys",
    ):
        importlib.import_module(module).to_keys(apps, None)
    with tenant_context(world.tenant_a):
        assert Customer.objects.get(pk=member.pk).rfm_segment == "important_develop"
        segment.refresh_from_db()
        assert segment.criteria == {"rfm_segment": "general_keep", "birth_month": 3}
        campaign.refresh_from_db()
        assert campaign.criteria == {"rfm_segment": "dormant"}
    with tenant_context(world.tenant_b):
        assert Customer.objects.get(pk=other.pk).rfm_segment == "dormant"
