"""Safe tier-rule changes: the preview is the evaluation run dry, so its counts are what the
evaluation then does, now or at the next evaluation; audited with the rules before and after."""

from __future__ import annotations

import copy
import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty import services
from loyalty.models import PointsAccount, Tier
from tenancy.models import AuditEvent
from tests.factories import CustomerFactory, StoreFactory
from tests.loyalty.conftest import at, earn
from tests.loyalty.factories import standard_tiers

pytestmark = pytest.mark.clock

NOW = at(2026, 6, 1, 13)


@pytest.fixture
def chain(in_tenant):
    """Two stores; members spending 600, 1200, 6000 and 25000 yuan (普通, 银卡, 金卡, 钻石)."""
    tiers = standard_tiers()
    north, south = StoreFactory(name="北店"), StoreFactory(name="南店")
    members = {}
    for n, (store, spend) in enumerate(
        [(north, "600"), (north, "1200"), (south, "6000"), (south, "600"), (north, "25000")]
    ):
        member = CustomerFactory(home_store=store)
        earn(member, f"sale:{n}", spend, at(2026, 3, 1))
        members[n] = member
    return tiers, {"north": north, "south": south}, members


def _proposal(tiers: list[Tier]) -> Tier:
    """银卡 from 500 yuan (the two 600-yuan members move up); 金卡 from 7000 (6000 moves down)."""
    silver = copy.deepcopy(tiers[1])
    silver.min_spend = Decimal("500")
    return silver


def _tier_codes() -> dict[int, str]:
    return dict(PointsAccount.objects.values_list("customer_id", "tier__code"))


def test_the_preview_counts_what_applying_now_then_does_and_writes_nothing(chain):
    tiers, stores, members = chain
    silver = _proposal(tiers)
    before = _tier_codes()
    preview = services.tiers_preview(tiers=services.proposed_tiers(silver), now=NOW)
    assert _tier_codes() == before  # a dry run
    assert Tier.objects.get(code="SILVER").min_spend == Decimal("1000")
    assert preview.counts == {"upgraded": 2, "downgraded": 0, "grace": 0, "kept": 3}
    by_store = {row.label: (row.up, row.down, row.grace) for row in preview.by_store}
    assert by_store == {"北店": (1, 0, 0), "南店": (1, 0, 0)}
    by_tier = {row.label: (row.before, row.after, row.up) for row in preview.by_tier}
    assert by_tier["银卡"] == (1, 3, 2) and by_tier["普通会员"] == (2, 0, 0)
    movers = {(row["customer"].pk, row["after"]) for row in preview.members}
    assert movers == {(members[0].pk, "银卡"), (members[3].pk, "银卡")}

    counts = services.tier_rules_change(tier=silver, when="now", staff=None, now=NOW)

    assert counts == preview.counts
    after = _tier_codes()
    assert after[members[0].pk] == after[members[3].pk] == "SILVER"
    event = AuditEvent.objects.get(action="loyalty.tier_rules_changed")
    assert event.before["min_spend"] == "1000.00"
    assert event.after["min_spend"] == "500" and event.after["when"] == "now"


def test_a_downgrade_preview_matches_the_evaluation_at_the_next_run(chain):
    tiers, stores, members = chain
    gold = copy.deepcopy(tiers[2])
    gold.min_spend = Decimal("7000")
    preview = services.tiers_preview(tiers=services.proposed_tiers(gold), now=NOW)
    assert preview.counts["downgraded"] == 1
    assert {row.label: row.down for row in preview.by_store} == {"南店": 1}

    assert services.tier_rules_change(tier=gold, when="next", staff=None, now=NOW) is None
    stored = Tier.objects.get(code="GOLD")
    assert stored.min_spend == Decimal("5000")  # unchanged until the evaluation
    assert stored.scheduled_rules["min_spend"] == "7000"
    assert _tier_codes()[members[2].pk] == "GOLD"
    assert AuditEvent.objects.filter(action="loyalty.tier_rules_scheduled").count() == 1

    counts = services.tiers_evaluate(now=NOW)  # the nightly job: nobody's anniversary is due

    assert counts == preview.counts
    assert _tier_codes()[members[2].pk] == "SILVER"
    stored.refresh_from_db()
    assert stored.min_spend == Decimal("7000") and stored.scheduled_rules is None
    applied = AuditEvent.objects.get(action="loyalty.tier_rules_changed")
    assert applied.before["min_spend"] == "5000.00" and applied.after["when"] == "next"
    assert services.tiers_evaluate(now=NOW)["downgraded"] == 0  # applied once


def test_a_new_window_is_previewed_with_the_window_the_evaluation_uses(chain):
    tiers, stores, members = chain
    diamond = copy.deepcopy(tiers[3])
    diamond.window_months = 2  # the 25000-yuan sale of March falls out of it by June
    preview = services.tiers_preview(tiers=services.proposed_tiers(diamond), now=NOW)
    assert preview.counts["downgraded"] == 1
    assert services.tier_rules_change(tier=diamond, when="now", staff=None, now=NOW) == (
        preview.counts
    )
    assert _tier_codes()[members[4].pk] == "GOLD"  # one step at a time


def test_a_grace_period_in_the_new_rules_shows_as_grace_not_down(chain):
    tiers, stores, members = chain
    gold = copy.deepcopy(tiers[2])
    gold.min_spend = Decimal("7000")
    gold.retention_months = 3
    preview = services.tiers_preview(tiers=services.proposed_tiers(gold), now=NOW)
    assert (preview.counts["downgraded"], preview.counts["grace"]) == (0, 1)
    assert services.tier_rules_change(tier=gold, when="now", staff=None, now=NOW) == (
        preview.counts
    )
    account = PointsAccount.objects.get(customer=members[2])
    assert account.tier.code == "GOLD"
    assert account.tier_grace_until == at(2026, 9, 1, 13) == account.tier_review_at


@pytest.mark.django_db
def test_hq_previews_a_threshold_change_in_the_browser_then_applies_it_now(world, client_for):
    from django.urls import reverse

    from tenancy.context import tenant_context
    from tenancy.models import Role

    with tenant_context(world.tenant_a):
        tiers = standard_tiers()
        member = CustomerFactory(home_store=world.store_a1)
        # The page previews at the (test) clock's now: a sale a month before it.
        earn(member, "sale:1", "600", timezone.now() - datetime.timedelta(days=30))
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    url = reverse("loyalty:tier_edit", args=[tiers[1].pk])
    form = {
        "order": "1", "code": "SILVER", "name": "银卡", "min_spend": "500", "min_purchases": "0",
        "window_months": "12", "multiplier": "1.5", "benefits": "", "review_months": "12",
        "max_downgrade_steps": "1",
    }  # fmt: skip
    page = client.post(url, form)
    assert page.status_code == 200  # the preview, nothing saved yet
    html = page.content.decode()
    assert "新规则将影响哪些会员" in html and "1 位会员升级，0 位降级" in html
    assert world.store_a1.name in html and member.card_number in html
    with tenant_context(world.tenant_a):
        assert Tier.objects.get(code="SILVER").min_spend == Decimal("1000")
    previewed = page.context["form"]["previewed"].value()
    changed = client.post(url, {**form, "min_spend": "700", "previewed": previewed, "apply": "now"})
    assert changed.status_code == 200  # edited after the preview: previewed again
    with tenant_context(world.tenant_a):
        assert Tier.objects.get(code="SILVER").min_spend == Decimal("1000")
    applied = client.post(url, {**form, "previewed": previewed, "apply": "now"})
    assert applied.status_code == 302
    with tenant_context(world.tenant_a):
        assert Tier.objects.get(code="SILVER").min_spend == Decimal("500")
        assert PointsAccount.objects.get(customer=member).tier.code == "SILVER"
        assert AuditEvent.objects.filter(action="loyalty.tier_rules_changed").count() == 1


@pytest.mark.parametrize("seed", [1, 3, 4])  # seeds with moves both ways
def test_per_store_and_per_tier_counts_match_the_evaluation_for_random_members(in_tenant, seed):
    """60 members over 3 stores with random spend and tiers, a random new rule for every tier:
    what each member's tier becomes equals the preview, store by store and tier by tier."""
    import random

    rng = random.Random(seed)
    tiers = standard_tiers()
    stores = [StoreFactory(name=f"门店{n}") for n in range(3)]
    for n in range(60):
        member = CustomerFactory(home_store=rng.choice(stores))
        for k in range(rng.randint(0, 3)):
            earn(
                member, f"sale:{n}:{k}", str(rng.randint(100, 9000)), at(2026, rng.randint(1, 5), 3)
            )
    changed = [copy.deepcopy(tier) for tier in tiers]
    thresholds = sorted(rng.sample(range(500, 25000, 250), 3))
    for tier, spend in zip(changed[1:], thresholds, strict=True):
        tier.min_spend = Decimal(spend)
        tier.retention_months = rng.choice([0, 0, 3])
        tier.max_downgrade_steps = rng.choice([1, 2])
    changed[1].window_months = rng.choice([3, 12])
    preview = services.tiers_preview(tiers=changed, now=NOW)
    before = _tier_codes()
    homes = dict(PointsAccount.objects.values_list("customer_id", "customer__home_store__name"))
    for tier in changed:
        tier.save()
    counts = services.tiers_evaluate(now=NOW, everyone=True)
    assert counts == preview.counts
    assert counts["upgraded"] and counts["downgraded"] + counts["grace"]  # not a trivial case
    after = _tier_codes()
    order = {tier.code: tier.order for tier in tiers}
    graced = set(
        PointsAccount.objects.filter(tier_grace_until__isnull=False).values_list(
            "customer_id", flat=True
        )
    )
    actual: dict[str, list[int]] = {}
    for customer_id, code in after.items():
        row = actual.setdefault(homes[customer_id], [0, 0, 0])
        if order[code] > order[before[customer_id]]:
            row[0] += 1
        elif order[code] < order[before[customer_id]]:
            row[1] += 1
        elif customer_id in graced:
            row[2] += 1
    expected = {row.label: [row.up, row.down, row.grace] for row in preview.by_store}
    assert {k: v for k, v in actual.items() if any(v)} == expected
    names = {tier.code: tier.name for tier in tiers}
    per_tier = {row.label: row.after for row in preview.by_tier}
    for code, name in names.items():
        assert per_tier[name] == sum(1 for c in after.values() if c == code)
