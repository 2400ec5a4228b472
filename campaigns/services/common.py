"""Campaign settings, message templates and the constants every part of the campaign rules
shares.
"""

from __future__ import annotations

import datetime
import logging
import string
from collections.abc import Iterable
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import hooks
from campaigns.models import (
    CampaignSettings,
    Channel,
    DeliveryStatus,
)
from customers.models import Customer
from stores.models import Store
from tenancy.context import current_tenant
from tenancy.models import StaffMember
from tenancy.services import audit_record

logger = logging.getLogger(__name__)

CAP_WINDOW = datetime.timedelta(days=30)
MAX_ATTEMPTS = 5
RETRY_BASE = datetime.timedelta(minutes=1)
# A message still "sending" after this long was cut off mid-send; it is failed, not resent.
STUCK_AFTER = datetime.timedelta(minutes=15)
BATCH = 1000
PLACEHOLDERS = ("name", "tier", "points", "coupon_code", "store")
# Letters and digits a clerk cannot misread (no 0/O, 1/I/L).
CODE_ALPHABET = "".join(c for c in string.ascii_uppercase + string.digits if c not in "0O1IL")
CODE_LENGTH = 10
CENT = Decimal("0.01")
# Messages that still count against the cap: queued, in flight or delivered.
LIVE_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.SENT)
# Channels that buzz a phone: held during quiet hours, by a run and by the dispatcher alike.
# E-mail waits in an inbox and goes out at once.
QUIET_CHANNELS = (Channel.SMS, Channel.WECHAT)
# Messages one dispatcher tick (every minute) hands out, in batches of BATCH, one task each.
# More than the workers send in a minute, so they never wait for the next tick: two workers
# send well over 100,000 a minute through a batching provider (docs/performance.md). Tasks
# not started within the minute expire and the next tick hands their messages out again.
DISPATCH_SCAN = 200_000


class CouponError(ValidationError):
    """A coupon cannot be used; the message is for the clerk and the member."""


def _now(now: datetime.datetime | None) -> datetime.datetime:
    return now or timezone.now()


def _local(now: datetime.datetime) -> datetime.datetime:
    return timezone.localtime(now, current_tenant().zone)


# ---------------------------------------------------------------------------------------
# Settings


def campaign_settings() -> CampaignSettings:
    """The tenant's messaging rules, created with defaults on first use."""
    found = CampaignSettings.objects.select_related("birthday_offer").first()
    if found is not None:
        return found
    CampaignSettings.objects.bulk_create([CampaignSettings()], ignore_conflicts=True)
    return CampaignSettings.objects.select_related("birthday_offer").get()


@transaction.atomic
def campaign_settings_save(*, rules: CampaignSettings, staff: StaffMember) -> CampaignSettings:
    rules.full_clean()
    rules.save()
    audit_record(
        action="campaigns.settings",
        actor=staff,
        obj=rules,
        after={
            "frequency_cap": rules.frequency_cap,
            "quiet": f"{rules.quiet_start:%H:%M}-{rules.quiet_end:%H:%M}",
            "birthday": rules.birthday_enabled,
            "birthday_time": f"{rules.birthday_send_time:%H:%M}",
            "birthday_offer": rules.birthday_offer_id,
            "birthday_points": rules.birthday_points,
        },
    )
    return rules


def quiet_hours_end(now: datetime.datetime, rules: CampaignSettings) -> datetime.datetime | None:
    """When quiet hours end, if `now` is inside them (tenant's clock); else None."""
    local = _local(now)
    if not rules.in_quiet_hours(local.time()):
        return None
    end = local.replace(
        hour=rules.quiet_end.hour, minute=rules.quiet_end.minute, second=0, microsecond=0
    )
    if end <= local:
        end += datetime.timedelta(days=1)
    return end


# ---------------------------------------------------------------------------------------
# Message templates


def template_check(text: str) -> None:
    """Refuse placeholders we cannot fill and unbalanced braces, with a message for HQ."""
    try:
        parsed = [
            (name, spec, conv)
            for _lit, name, spec, conv in string.Formatter().parse(text)
            if name is not None
        ]
    except ValueError as error:
        raise ValidationError(
            _("The message has an unmatched { or }. Write placeholders like {name}.")
        ) from error
    # "{}", "{name!r}" and "{points:d}" are valid Python but fail (or misbehave) when the
    # run renders them for real members: only the bare names are allowed.
    if any(not name or spec or conv for name, spec, conv in parsed):
        raise ValidationError(
            _("Write placeholders as a bare name in braces, e.g. {name}; braces: {{ and }}.")
        )
    known = all_placeholders()
    unknown = sorted({name for name, _spec, _conv in parsed if name not in known})
    if unknown:
        raise ValidationError(
            _("Unknown placeholder: %(names)s. Use %(known)s.")
            % {
                "names": ", ".join("{" + n + "}" for n in unknown),
                "known": " ".join("{" + n + "}" for n in known),
            }
        )


def all_placeholders() -> tuple[str, ...]:
    """Ours, then those the apps above add through campaigns.hooks (e.g. recommended_product)."""
    return PLACEHOLDERS + hooks.placeholder_names()


def message_render(template: str, *, values: dict[str, object]) -> str:
    filled = {key: values.get(key, "") for key in all_placeholders()}
    return template.format_map(filled)


def member_message(
    template: str,
    *,
    member: Customer,
    points: int,
    coupon_code: str,
    store: str,
    extra: dict[str, str] | None = None,
) -> str:
    """`template` filled for one member (campaign runs, birthdays and the preview); `extra`
    holds the member's values of the placeholders registered through campaigns.hooks."""
    return message_render(
        template,
        values={
            **(extra or {}),
            "name": member.name,
            "tier": member.tier_name,
            "points": points,
            "coupon_code": coupon_code,
            "store": store,
        },
    )


def _points_balances(member_ids: list[int]) -> dict[int, int]:
    from loyalty.models import PointsAccount

    return dict(
        PointsAccount.objects.filter(customer_id__in=member_ids).values_list(
            "customer_id", "balance"
        )
    )


def _wechat_ids(member_ids: list[int]) -> dict[int, str]:
    from interactions.models import MemberProfile

    return dict(
        MemberProfile.objects.filter(member_id__in=member_ids)
        .exclude(wechat_id="")
        .values_list("member_id", "wechat_id")
    )


def _store_names(store_ids: Iterable[int]) -> dict[int, str]:
    return dict(Store.objects.filter(pk__in=set(store_ids)).values_list("pk", "name"))


def _address(member: Customer, channel: str, wechat: dict[int, str]) -> str:
    if channel == Channel.SMS:
        return member.phone or ""
    if channel == Channel.EMAIL:
        return member.email
    if channel == Channel.WECHAT:
        return wechat.get(member.pk, "")
    return ""


def message_preview(*, template: str, member: Customer, coupon_code: str = "") -> str:
    """The message as `member` would read it (coupon code shown as an example if none yet)."""
    template_check(template)
    return member_message(
        template,
        member=member,
        points=_points_balances([member.pk]).get(member.pk, 0),
        coupon_code=coupon_code or "ABCD234567",
        store=member.home_store.name,
        extra=hooks.placeholder_values(template, [member.pk]).get(member.pk),
    )
