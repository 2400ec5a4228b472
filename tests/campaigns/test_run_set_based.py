"""The set-based outbox build (campaigns/services/build.py) writes what the batch path wrote.

Each case builds the same campaign over the same generated members twice, once through the
per-member batch path and once through the single INSERT ... SELECT, with the same holdout
seed, and compares every outbox row, coupon and count. Coupon codes are random, so they are
compared by where they appear (the member's own coupon, named in the member's message).
"""

from __future__ import annotations

import random

import pytest
from django.db import transaction
from django.utils import translation

from campaigns import services
from campaigns.models import Channel, Coupon, CouponOffer, Delivery
from campaigns.services import build, runs
from interactions.models import MemberProfile
from loyalty import services as loyalty
from tests.campaigns.factories_services import (
    CampaignFactory,
    MemberFactory,
    OfferFactory,
    past_message,
    restrict_campaign,
)
from tests.clock import local_today_at
from tests.factories import StoreFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

NOON = local_today_at(12)
LATE = local_today_at(23)  # inside the default quiet hours: messages wait for the morning


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def chain(in_tenant):
    """Members of every kind a run must tell apart, in two targeted stores and one not."""
    rng = random.Random(20)
    targeted = [StoreFactory(name="南京路店"), StoreFactory(name="淮海路店")]
    other = StoreFactory(name="外地店")
    members = []
    for n in range(90):
        kind = rng.choice(
            ["plain"] * 6 + ["erased", "no_consent", "no_phone", "capped", "other_store"]
        )
        member = MemberFactory(
            home_store=other if kind == "other_store" else rng.choice(targeted),
            name=f"会员{n}" + (" " if n % 7 == 0 else ""),
            tier_name=rng.choice(["", "银卡", "金卡"]),
            marketing_consent=kind != "no_consent",
            phone=None if kind == "no_phone" else f"139{n:08d}",
        )
        if kind == "erased":
            type(member).objects.filter(pk=member.pk).update(is_erased=True)
        if kind == "capped":
            for _ in range(4):
                past_message(member)
        if rng.random() < 0.5:
            loyalty.points_award(
                customer=member, points=rng.randint(1, 900), source_key=f"gift:{n}", reason="t"
            )
        if rng.random() < 0.6:
            MemberProfile.objects.filter(member=member).update(wechat_id=f"oWx_{member.pk}")
        members.append(member)
    return targeted


def outbox_of(campaign, *, set_based: bool, now, monkeypatch) -> dict:
    """Run `campaign` through one path, read back what it wrote, then undo it all."""
    monkeypatch.setattr(build, "set_based_possible", lambda campaign: set_based)
    issued_before = CouponOffer.objects.filter(pk=campaign.offer_id).values_list(
        "issued_count", flat=True
    )
    before = next(iter(issued_before), 0)
    with transaction.atomic():
        run = services.campaign_run(campaign=campaign, occurrence="once", now=now)
        rows = {}
        for d in Delivery.objects.filter(run=run).select_related("coupon"):
            coupon = d.coupon
            if coupon is not None:
                assert coupon.member_id == d.member_id
                assert coupon.campaign_id == campaign.pk
            rows[d.member_id] = (
                d.key.replace(f"campaign:{run.pk}:", "campaign:<run>:"),
                d.kind,
                d.channel,
                d.status,
                d.address,
                d.text.replace(coupon.code, "<code>") if coupon else d.text,
                d.is_marketing,
                d.next_attempt_at,
                d.sent_at,
                d.attempts,
                coupon is not None,
                (coupon.status, coupon.valid_until, coupon.issued_by_id) if coupon else None,
            )
        result = {
            "rows": rows,
            "coupons": Coupon.objects.filter(campaign=campaign).count(),
            "issued_count": next(
                iter(
                    CouponOffer.objects.filter(pk=campaign.offer_id).values_list(
                        "issued_count", flat=True
                    )
                ),
                0,
            )
            - before,
            "counts": (
                run.matched,
                run.excluded_erased,
                run.excluded_consent,
                run.excluded_cap,
                run.excluded_no_address,
                run.holdout,
                run.targeted,
                run.held_quiet,
            ),
        }
        transaction.set_rollback(True)
    return result


@pytest.mark.parametrize(
    ("channel", "with_offer", "holdout", "now", "template"),
    [
        (Channel.SMS, True, 25, NOON, "{name}（{tier}）您有{points}积分，{store}券{coupon_code}"),
        (Channel.SMS, False, 10, LATE, "{name} 会员日 {{不是占位}} "),
        (Channel.SMS, False, 0, NOON, "{store}见{name}拒收请回复R"),
        (Channel.WECHAT, True, 30, LATE, "{name}{tier}{points}{store}{coupon_code}"),
        (Channel.IN_STORE, True, 20, NOON, "到店出示{coupon_code}"),
    ],
)
def test_the_set_based_build_writes_what_the_batch_path_wrote(
    chain, monkeypatch, channel, with_offer, holdout, now, template
):
    campaign = CampaignFactory(
        channel=channel,
        offer=OfferFactory() if with_offer else None,
        holdout_percent=holdout,
        template=template,
    )
    restrict_campaign(campaign, *chain)
    # The holdout is seeded by the run's id, which differs between the two runs: fix it.
    sample = runs._holdout_ids
    monkeypatch.setattr(runs, "_holdout_ids", lambda ids, percent, seed: sample(ids, percent, 7))

    batch = outbox_of(campaign, set_based=False, now=now, monkeypatch=monkeypatch)
    single = outbox_of(campaign, set_based=True, now=now, monkeypatch=monkeypatch)

    assert batch["counts"][5] > 0 or not holdout  # the data exercises the holdout
    assert batch["counts"][1] and batch["counts"][2] and batch["counts"][3] is not None
    assert single == batch


def test_e_mail_and_registered_placeholders_stay_on_the_batch_path(in_tenant, monkeypatch):
    assert not build.set_based_possible(CampaignFactory.build(channel=Channel.EMAIL))
    assert build.set_based_possible(CampaignFactory.build(channel=Channel.SMS))
    monkeypatch.setattr(
        "campaigns.hooks._placeholders", {"recommended_product": lambda ids: {}}, raising=True
    )
    assert not build.set_based_possible(
        CampaignFactory.build(channel=Channel.SMS, template="{name}：{recommended_product}")
    )


def test_fresh_codes_are_distinct_and_from_the_coupon_alphabet():
    codes = build.fresh_codes(5000)
    assert len(set(codes)) == 5000
    assert all(len(c) == services.CODE_LENGTH for c in codes)
    assert set("".join(codes)) <= set(services.CODE_ALPHABET)
