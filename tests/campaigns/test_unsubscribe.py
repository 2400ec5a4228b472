"""Unsubscribing: the instruction in every marketing SMS, replies that withdraw consent, and
the signed one-click link in marketing e-mail."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.urls import reverse

from campaigns import services
from campaigns.models import Channel, Delivery, InboundReply, ReplyOutcome
from campaigns.senders import EmailSender
from customers.models import ConsentChannel, Customer
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.campaigns.factories_services import CampaignFactory, MemberFactory
from tests.clock import local_today_at

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

SECRET = "reply-secret-for-tests"
NOON = local_today_at(12)


@pytest.fixture(autouse=True)
def _reply_secret(settings):
    settings.CAMPAIGN_SMS_REPLY_SECRET = SECRET
    settings.CAMPAIGN_SMS_SIGN = "【甲连锁】"


def post_reply(client, tenant_slug: str, body: dict, *, secret: str = SECRET, provider="generic"):
    raw = json.dumps(body, ensure_ascii=False).encode()
    return client.post(
        reverse(
            "campaigns:sms_reply_webhook",
            kwargs={"tenant_slug": tenant_slug, "provider": provider},
        ),
        data=raw,
        content_type="application/json",
        headers={"X-Signature": services.reply_signature(secret, raw)},
    )


@pytest.mark.parametrize(
    ("text", "unsubscribes"),
    [
        ("R", True),
        (" r ", True),
        ("TD", True),
        ("ＴＤ", True),  # full-width, as Chinese keyboards type it
        ("退订。", True),
        ("t", True),
        ("拒收", True),
        ("谢谢", False),
        ("RT", False),
        ("", False),
        ("Reply", False),
    ],
)
def test_reply_words(text, unsubscribes):
    assert services.is_unsubscribe_reply(text) is unsubscribes


# --- What goes out -----------------------------------------------------------------------


def test_every_marketing_sms_ends_with_the_instruction_and_other_channels_do_not(in_tenant):
    member = MemberFactory(email="li@example.com")
    sms = CampaignFactory(channel=Channel.SMS, template="{name}会员日")
    wechat = CampaignFactory(channel=Channel.WECHAT, template="{name}会员日")
    email = CampaignFactory(channel=Channel.EMAIL, template="{name}会员日")
    for campaign in (sms, wechat, email):
        services.campaign_run(campaign=campaign, now=NOON)

    assert Delivery.objects.get(campaign=sms).text == f"{member.name}会员日拒收请回复R"
    assert Delivery.objects.filter(campaign=wechat).count() == 0  # no WeChat id
    mailed = Delivery.objects.get(campaign=email).text
    assert mailed.startswith(f"{member.name}会员日\n\n")
    token = mailed.rsplit("/unsubscribe/", 1)[1].rstrip("/")
    assert services.member_from_unsubscribe_token(token) == (in_tenant, member.pk)


def test_the_tenants_own_instruction_is_used_and_counted_in_the_length(in_tenant):
    rules = services.campaign_settings()
    rules.sms_unsubscribe_text = "退订回TD"
    rules.save()
    member = MemberFactory(name="王芳")
    services.campaign_run(campaign=CampaignFactory(template="{name}" + "优" * 60), now=NOON)

    text = Delivery.objects.get(member=member).text
    assert text.endswith("优退订回TD")
    # 2 (name) + 60 + 5 (instruction) + 5 (【甲连锁】) = 72: over 70, so two billed parts.
    assert services.sms_length(text) == (72, 2)
    assert services.sms_length("短信") == (7, 1)


def test_the_preview_shows_the_instruction_and_the_billed_length(world, client_for):
    with tenant_context(world.tenant_a):
        member = MemberFactory(home_store=world.store_a1, name="李娜")
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    page = client.get(
        reverse("campaigns:preview"),
        {"template": "{name}您好", "channel": "sms", "member_q": member.card_number},
    ).content.decode()
    assert "李娜您好拒收请回复R" in page
    assert 'data-testid="sms-length"' in page
    assert "15" in page  # 【甲连锁】 5 + 李娜您好 4 + 拒收请回复R 6


def test_the_settings_page_refuses_an_instruction_the_replies_could_not_match(in_tenant):
    with pytest.raises(Exception, match="R / T / TD"):
        services.unsubscribe_text_check("请勿回复")
    services.unsubscribe_text_check("拒收请回复R")


# --- SMS replies -------------------------------------------------------------------------


def test_a_signed_reply_withdraws_consent_and_the_next_run_leaves_the_member_out(world, client):
    with tenant_context(world.tenant_a):
        leaving = MemberFactory(home_store=world.store_a1, phone="13800001111")
        staying = MemberFactory(home_store=world.store_a1, phone="13800002222")
    with tenant_context(world.tenant_b):
        # The same number at another chain: its consent is that chain's business.
        elsewhere = MemberFactory(home_store=world.store_b1, phone="13800001111")

    answer = post_reply(client, "alpha", {"id": "m-1", "phone": "+86 138-0000-1111", "text": "TD"})

    assert answer.status_code == 200
    assert answer.json() == {"ok": True, "outcome": "withdrawn"}
    with tenant_context(world.tenant_a):
        leaving.refresh_from_db()
        assert leaving.marketing_consent is False
        assert leaving.consent_channel == ConsentChannel.SMS_REPLY
        event = AuditEvent.objects.get(action="customer.consent_withdrawn")
        assert event.object_id == str(leaving.pk)
        reply = InboundReply.objects.get()
        assert (reply.outcome, reply.members_withdrawn, reply.phone) == (
            ReplyOutcome.WITHDRAWN,
            1,
            "13800001111",
        )
        run = services.campaign_run(campaign=CampaignFactory(), now=NOON)
        assert run.targeted == 1
        assert set(Delivery.objects.values_list("member_id", flat=True)) == {staying.pk}
    with tenant_context(world.tenant_b):
        assert Customer.objects.get(pk=elsewhere.pk).marketing_consent is True


def test_the_same_reply_delivered_twice_changes_consent_once(world, client):
    with tenant_context(world.tenant_a):
        MemberFactory(home_store=world.store_a1, phone="13800001111")
    body = {"id": "m-7", "phone": "13800001111", "text": "退订"}

    first = post_reply(client, "alpha", body)
    second = post_reply(client, "alpha", body)

    assert first.json() == second.json() == {"ok": True, "outcome": "withdrawn"}
    with tenant_context(world.tenant_a):
        assert InboundReply.objects.count() == 1
        assert AuditEvent.objects.filter(action="customer.consent_withdrawn").count() == 1


def test_replies_that_change_nothing(world, client):
    with tenant_context(world.tenant_a):
        member = MemberFactory(home_store=world.store_a1, phone="13800001111")

    chat = post_reply(client, "alpha", {"id": "a", "phone": "13800001111", "text": "谢谢"})
    stranger = post_reply(client, "alpha", {"id": "b", "phone": "13900009999", "text": "R"})
    garbage = post_reply(client, "alpha", {"id": "c", "phone": "12", "text": "R"})

    assert chat.json()["outcome"] == ReplyOutcome.NOT_UNSUBSCRIBE
    assert stranger.json()["outcome"] == ReplyOutcome.UNKNOWN_NUMBER
    assert garbage.json()["outcome"] == ReplyOutcome.UNKNOWN_NUMBER
    with tenant_context(world.tenant_a):
        member.refresh_from_db()
        assert member.marketing_consent is True
        assert InboundReply.objects.count() == 3


def test_forged_and_malformed_callbacks_are_refused(world, client):
    with tenant_context(world.tenant_a):
        member = MemberFactory(home_store=world.store_a1, phone="13800001111")
    body = {"id": "m-1", "phone": "13800001111", "text": "R"}
    url = reverse(
        "campaigns:sms_reply_webhook", kwargs={"tenant_slug": "alpha", "provider": "generic"}
    )

    assert post_reply(client, "alpha", body, secret="guessed").status_code == 403
    unsigned = client.post(url, data=json.dumps(body), content_type="application/json")
    assert unsigned.status_code == 403
    assert post_reply(client, "nobody", body).status_code == 404
    assert post_reply(client, "alpha", body, provider="acme").status_code == 404
    assert client.get(url).status_code == 405
    raw = b"{not json"
    bad = client.post(
        url,
        data=raw,
        content_type="application/json",
        headers={"X-Signature": services.reply_signature(SECRET, raw)},
    )
    assert bad.status_code == 400
    assert post_reply(client, "alpha", {"id": "x", "text": "R"}).status_code == 400
    with tenant_context(world.tenant_a):
        assert Customer.objects.get(pk=member.pk).marketing_consent is True
        assert InboundReply.objects.count() == 0


def test_without_a_configured_secret_every_callback_is_refused(world, client, settings):
    settings.CAMPAIGN_SMS_REPLY_SECRET = ""
    answer = post_reply(client, "alpha", {"id": "m", "phone": "13800001111", "text": "R"})
    assert answer.status_code == 403


# --- The e-mail link ---------------------------------------------------------------------


def test_the_email_link_asks_first_then_withdraws_once(world, client):
    with tenant_context(world.tenant_a):
        member = MemberFactory(home_store=world.store_a1, email="li@example.com")
        url = services.unsubscribe_url(member)

    asked = client.get(url)
    assert asked.status_code == 200
    assert "unsubscribe-form" in asked.content.decode()
    with tenant_context(world.tenant_a):
        assert Customer.objects.get(pk=member.pk).marketing_consent is True

    done = client.post(url)  # one click, no CSRF token: the signed link is the credential
    again = client.post(url)

    assert done.status_code == again.status_code == 200
    with tenant_context(world.tenant_a):
        member.refresh_from_db()
        assert member.marketing_consent is False
        assert member.consent_channel == ConsentChannel.EMAIL_LINK
        assert AuditEvent.objects.filter(action="customer.consent_withdrawn").count() == 1
    assert "unsubscribe-form" not in client.get(url).content.decode()


def test_a_tampered_link_is_a_404_and_changes_nothing(world, client):
    with tenant_context(world.tenant_a):
        member = MemberFactory(home_store=world.store_a1)
        url = services.unsubscribe_url(member)
    assert client.post(url[:-3] + "xx/").status_code == 404
    with tenant_context(world.tenant_a):
        assert Customer.objects.get(pk=member.pk).marketing_consent is True


def test_marketing_email_carries_the_one_click_headers(in_tenant, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    member = MemberFactory(email="li@example.com")
    services.campaign_run(campaign=CampaignFactory(channel=Channel.EMAIL), now=NOON)
    delivery = Delivery.objects.get()

    EmailSender().send(delivery)

    sent = mail.outbox[0]
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = sent.extra_headers["List-Unsubscribe"].strip("<>")
    assert link in sent.body
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert services.member_from_unsubscribe_token(token) == (in_tenant, member.pk)
