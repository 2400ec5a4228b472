"""Recommendations from sale lines: the nightly co-occurrence counts equal a brute-force count,
the member page and the counter show what to suggest, and campaigns can use them as a
placeholder and an audience."""

from __future__ import annotations

import datetime
import random
from collections import Counter
from itertools import permutations

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics import recommendations
from analytics.models import Product, ProductPair
from campaigns.services import audience_counts, message_preview
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.analytics.factories import line, record_sale
from tests.analytics.test_counter import form_data
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

SKUS = ["A", "B", "C", "D", "E", "F"]


@pytest.fixture
def baskets(world):
    """40 random baskets of 1-4 products in tenant A (one line per product, sometimes two),
    plus what the count must leave out: a refunded sale, a sale older than the window, and
    tenant B's sales. Returns the baskets that count."""
    rng = random.Random(21)
    now = timezone.now()
    counted = []
    with tenant_context(world.tenant_a):
        for n in range(40):
            chosen = rng.sample(SKUS, rng.randint(1, 4))
            lines = [line(sku, rng.randint(1, 3)) for sku in chosen]
            if n % 7 == 0:  # the same product on two lines is still one basket
                lines.append(line(chosen[0], 1))
            record_sale(world.store_a1, now - datetime.timedelta(days=n * 4, hours=1), lines)
            counted.append(set(chosen))
        refunded = record_sale(
            world.store_a2, now - datetime.timedelta(days=2), [line("A", 1), line("F", 1)]
        )
        record_sale(
            world.store_a2, now - datetime.timedelta(days=1), [line("A", 1)], refund_of=refunded
        )
        record_sale(
            world.store_a1,
            now - datetime.timedelta(days=recommendations.WINDOW_DAYS + 1),
            [line("E", 1), line("F", 1)],
        )
    with tenant_context(world.tenant_b):
        record_sale(world.store_b1, now - datetime.timedelta(days=1), [line("A", 1), line("B", 1)])
    return counted


def brute_force(baskets: list[set[str]]) -> Counter:
    return Counter(pair for basket in baskets for pair in permutations(sorted(basket), 2))


def stored_pairs() -> dict[tuple[str, str], tuple[int, int]]:
    sku = dict(Product.objects.values_list("pk", "sku"))
    return {
        (sku[p.product_id], sku[p.other_id]): (p.together, p.rank)
        for p in ProductPair.objects.all()
    }


def test_co_occurrence_counts_equal_a_brute_force_count(world, baskets):
    expected = brute_force(baskets)
    with tenant_context(world.tenant_a):
        written = recommendations.product_pairs_rebuild(top=100)
        stored = stored_pairs()
    assert written == len(expected)
    assert {pair: together for pair, (together, _rank) in stored.items()} == dict(expected)
    with tenant_context(world.tenant_b):
        assert recommendations.product_pairs_rebuild(top=100) == 2  # A+B, B+A: its own only


def test_only_the_top_n_partners_are_kept_ranked_by_count(world, baskets):
    expected = brute_force(baskets)
    with tenant_context(world.tenant_a):
        recommendations.product_pairs_rebuild(top=2)
        stored = stored_pairs()
        ids = dict(Product.objects.values_list("sku", "pk"))
    for sku in SKUS:
        partners = sorted(
            (other for (first, other) in expected if first == sku),
            key=lambda other: (-expected[(sku, other)], ids[other]),
        )[:2]
        assert [(other, stored[(sku, other)][1]) for other in partners] == [
            (other, rank) for rank, other in enumerate(partners, start=1)
        ]
        assert len([pair for pair in stored if pair[0] == sku]) == len(partners)


def test_the_nightly_job_rebuilds_once_per_local_day(world, baskets):
    with tenant_context(world.tenant_a):
        first = recommendations.recommendations_run_nightly()
        assert first["pairs"] == ProductPair.objects.count() > 0
        assert recommendations.recommendations_run_nightly() == {"pairs": None}


@pytest.fixture
def tea_buyer(world):
    """Many buyers take tea with cake (and some with nuts); this member bought only tea."""
    now = timezone.now()
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1, phone="13900001111", name="王小明")
        other = CustomerFactory(home_store=world.store_a1, phone="13900002222", name="李四")
        for n in range(5):
            record_sale(
                world.store_a1,
                now - datetime.timedelta(days=n + 1),
                [line("TEA", 1, name="龙井茶"), line("CAKE", 1, name="绿豆糕")],
            )
        for n in range(2):
            record_sale(
                world.store_a1,
                now - datetime.timedelta(days=n + 1, hours=2),
                [line("TEA", 1, name="龙井茶"), line("NUTS", 1, name="碧根果")],
            )
        record_sale(
            world.store_a1, now - datetime.timedelta(hours=3), [line("TEA", 1)], member=member
        )
        record_sale(
            world.store_a1, now - datetime.timedelta(hours=3), [line("CAKE", 1)], member=other
        )
        recommendations.product_pairs_rebuild()
    return member


def test_next_products_for_a_member_leave_out_what_they_bought(world, tea_buyer):
    with tenant_context(world.tenant_a):
        rows = recommendations.member_next_products(member=tea_buyer)
        assert [(r["product"].sku, r["score"]) for r in rows] == [("CAKE", 5), ("NUTS", 2)]
        assert [
            p.other.sku for p in recommendations.bought_together(Product.objects.get(sku="TEA"))
        ] == ["CAKE", "NUTS"]


def test_the_member_page_shows_recommendations(world, client_for, tea_buyer):
    client = client_for(world.staff_a[Role.CLERK])
    response = client.get(reverse("customers:profile", args=[tea_buyer.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "为该会员推荐" in html
    assert 'data-testid="member-recommendations"' in html
    section = html.split('data-testid="member-recommendations"')[1].split("</ol>")[0]
    assert section.index("绿豆糕") < section.index("碧根果")
    assert "龙井茶" not in section


def test_the_counter_suggests_products_after_a_lookup(world, client_for, tea_buyer):
    response = client_for(world.staff_a[Role.CLERK]).post(
        reverse("analytics:counter_sale"),
        {**form_data(world.store_a1, member="13900001111"), "find_coupons": "1"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="counter-recommendations"' in html
    assert "绿豆糕" in html.split('data-testid="counter-recommendations"')[1]


def test_campaigns_reach_likely_buyers_and_name_the_recommended_product(world, tea_buyer):
    with tenant_context(world.tenant_a):
        tea_buyer.marketing_consent = True
        tea_buyer.save()
        # Bought tea (which goes with cake) and not cake: likely to buy cake. The member who
        # bought cake already is not; nobody bought what goes with an unknown SKU.
        counts = audience_counts(criteria={"likely_to_buy": "CAKE"})
        assert (counts.matched, counts.eligible) == (1, 1)
        assert audience_counts(criteria={"likely_to_buy": "NOPE"}).matched == 0
        text = message_preview(template="{name}，试试{recommended_product}", member=tea_buyer)
        assert text == "王小明，试试绿豆糕"


def test_hq_writes_a_likely_to_buy_campaign_with_the_placeholder(world, client_for, tea_buyer):
    from campaigns.models import Campaign
    from tests.campaigns.test_pages import campaign_data

    client = client_for(world.staff_a[Role.HQ_ADMIN])
    page = client.get(reverse("campaigns:campaign_create")).content.decode()
    assert "可能购买（SKU）" in page and "{recommended_product}" in page
    response = client.post(
        reverse("campaigns:campaign_create"),
        campaign_data(likely_to_buy="CAKE", template="{name}您好，{recommended_product}上新了。"),
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        campaign = Campaign.objects.get()
        assert campaign.criteria == {"likely_to_buy": "CAKE"}
    # The draft lists the condition with the others, and editing keeps it.
    detail = client.get(response["Location"]).content.decode()
    assert "可能购买（SKU）" in detail and "CAKE" in detail
    edit = client.get(reverse("campaigns:campaign_edit", args=[campaign.pk])).content.decode()
    assert 'name="likely_to_buy"' in edit and 'value="CAKE"' in edit
