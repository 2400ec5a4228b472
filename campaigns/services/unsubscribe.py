"""Unsubscribing from marketing: the SMS instruction, replies that withdraw consent, and the
signed one-click link in marketing e-mail.

Every path ends in customers' `customer_set_consent`, so a withdrawal is audited like one
made at the counter, and the next campaign run (which reaches only consenting members)
leaves the member out.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import math
import unicodedata

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import CampaignSettings, Channel, InboundReply, ReplyOutcome
from customers.models import ConsentChannel, Customer
from customers.services import customer_set_consent, normalise_phone
from tenancy.encryption import phone_index
from tenancy.models import Tenant

# What a member may reply to stop marketing SMS (China's carriers' usual words). Compared
# after NFKC, so full-width "ＴＤ" counts, and with punctuation and spaces dropped.
UNSUBSCRIBE_WORDS = frozenset({"R", "T", "TD", "退订", "拒收"})

UNSUBSCRIBE_SALT = "campaigns.unsubscribe.link"

# One SMS holds 70 characters when any is Chinese; a longer text is split into parts of 67.
SMS_SINGLE = 70
SMS_PART = 67


class UnsubscribeRefused(Exception):
    """A link or webhook call that must change nothing (bad signature, unknown tenant)."""


# ---------------------------------------------------------------------------------------
# What goes out


def marketing_text(
    text: str, *, channel: str, rules: CampaignSettings, member: Customer | None = None
) -> str:
    """`text` as a marketing message on `channel` must be sent: with the way to refuse more."""
    if channel == Channel.SMS:
        footer = rules.sms_unsubscribe_text.strip()
        if footer and not text.rstrip().endswith(footer):
            return f"{text.rstrip()}{footer}"
        return text
    if channel == Channel.EMAIL and member is not None:
        return "{}\n\n{}".format(
            text.rstrip(), _("Unsubscribe: %(url)s") % {"url": unsubscribe_url(member)}
        )
    return text


def unsubscribe_text_check(text: str) -> None:
    """The instruction must name a word the reply handler understands, or replies are lost."""
    if not text.strip():
        raise ValidationError(_("Marketing SMS must say how to refuse them, e.g. 拒收请回复R."))
    folded = unicodedata.normalize("NFKC", text).upper()
    if not any(word in folded for word in UNSUBSCRIBE_WORDS):
        raise ValidationError(
            _("Name a reply word members can send: %(words)s.")
            % {"words": " / ".join(sorted(UNSUBSCRIBE_WORDS))}
        )


def sms_length(text: str) -> tuple[int, int]:
    """(characters, billed parts) of an SMS as the carrier counts it, the signature included."""
    sign = getattr(settings, "CAMPAIGN_SMS_SIGN", "") or ""
    characters = len(sign) + len(text)
    if characters <= SMS_SINGLE:
        return characters, 1
    return characters, math.ceil(characters / SMS_PART)


def unsubscribe_token(member: Customer) -> str:
    # No expiry: an unsubscribe link in an old e-mail must still work.
    return signing.dumps({"t": member.tenant_id, "m": member.pk}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_url(member: Customer) -> str:
    from tenancy.context import current_tenant

    base = current_tenant().setting("public_base_url", "").rstrip("/")
    return base + reverse("campaigns:unsubscribe", kwargs={"token": unsubscribe_token(member)})


# ---------------------------------------------------------------------------------------
# The e-mail link


def member_from_unsubscribe_token(token: str) -> tuple[Tenant, int]:
    try:
        payload = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature as error:
        raise UnsubscribeRefused("invalid") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("m"), int):
        raise UnsubscribeRefused("invalid")
    tenant = Tenant.objects.filter(pk=payload.get("t"), is_active=True).first()
    if tenant is None:
        raise UnsubscribeRefused("invalid")
    return tenant, payload["m"]


@transaction.atomic
def email_unsubscribe(*, member: Customer) -> bool:
    """Withdraw marketing consent from the e-mail link; False when there was none to withdraw
    (a second click, a mail scanner after the member), which changes nothing."""
    member = Customer.objects.select_for_update().get(pk=member.pk)
    if not member.marketing_consent:
        return False
    customer_set_consent(
        customer=member, staff=None, consent=False, channel=ConsentChannel.EMAIL_LINK
    )
    return True


# ---------------------------------------------------------------------------------------
# SMS replies


def is_unsubscribe_reply(text: str) -> bool:
    folded = unicodedata.normalize("NFKC", text or "").upper()
    word = "".join(ch for ch in folded if not unicodedata.category(ch).startswith(("P", "Z")))
    return word in UNSUBSCRIBE_WORDS


def reply_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def reply_signature_valid(body: bytes, signature: str) -> bool:
    """The provider signs each callback body with the shared secret (HMAC-SHA256, hex)."""
    secret = getattr(settings, "CAMPAIGN_SMS_REPLY_SECRET", "")
    if not secret or not signature:
        return False
    expected = reply_signature(secret, body)
    return hmac.compare_digest(expected, signature.strip().removeprefix("sha256="))


def sms_reply_receive(
    *,
    provider: str,
    message_id: str,
    phone: str,
    text: str,
    received_at: datetime.datetime | None = None,
) -> InboundReply:
    """Record one reply and, when it says unsubscribe, withdraw marketing consent from every
    member with that number. The same provider message id a second time returns the first
    record and changes nothing."""
    found = InboundReply.objects.filter(provider=provider, provider_message_id=message_id).first()
    if found is not None:
        return found
    try:
        number = normalise_phone(phone)
    except ValidationError:
        number = ""
    try:
        with transaction.atomic():
            reply = InboundReply(
                provider=provider,
                provider_message_id=message_id,
                phone=number or "".join(ch for ch in phone if ch.isdigit())[-11:],
                text=(text or "")[:200],
                received_at=received_at or timezone.now(),
            )
            members = (
                list(
                    Customer.objects.active()
                    .select_for_update()
                    .filter(phone_hash=phone_index(number))
                )
                if number
                else []
            )
            if not members:
                reply.outcome = ReplyOutcome.UNKNOWN_NUMBER
            elif not is_unsubscribe_reply(text):
                reply.outcome = ReplyOutcome.NOT_UNSUBSCRIBE
            else:
                consenting = [m for m in members if m.marketing_consent]
                for member in consenting:
                    customer_set_consent(
                        customer=member,
                        staff=None,
                        consent=False,
                        channel=ConsentChannel.SMS_REPLY,
                    )
                reply.members_withdrawn = len(consenting)
                reply.outcome = ReplyOutcome.WITHDRAWN if consenting else ReplyOutcome.ALREADY
            reply.save()
    except IntegrityError:
        # The same reply delivered twice at once: the other call recorded it.
        return InboundReply.objects.get(provider=provider, provider_message_id=message_id)
    return reply
