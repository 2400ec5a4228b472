"""Birthday greetings: who is due on the tenant's day, the (member, year) claim committed
before sending. Solar and lunar birthdays alike; the year of the claim is the solar year, so a
lunar birthday that falls twice in one solar year is greeted once (on the first).
"""

from __future__ import annotations

import calendar
import datetime

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from campaigns import hooks
from campaigns.models import (
    BirthdayGreeting,
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
)
from campaigns.services.common import (
    BATCH,
    _address,
    _local,
    _now,
    _points_balances,
    _store_names,
    _wechat_ids,
    campaign_settings,
    member_message,
)
from campaigns.services.coupons import coupons_issue
from campaigns.services.outbox import deliveries_dispatch
from campaigns.services.unsubscribe import marketing_text
from customers.lunar import birthdays_on, birthdays_q
from customers.models import Customer
from tenancy.context import current_tenant

# ---------------------------------------------------------------------------------------
# Birthday greetings


def birthday_days(today: datetime.date) -> list[tuple[int, int]]:
    """(month, day) pairs greeted on `today`: Feb 29 birthdays on Feb 28 in common years."""
    days = [(today.month, today.day)]
    if today.month == 2 and today.day == 28 and not calendar.isleap(today.year):
        days.append((2, 29))
    return days


def birthday_due_ids(*, today: datetime.date) -> list[int]:
    """Members to greet today not yet greeted this year (index on birth month and day).

    Lunar (农历) birthdays the same way round: the few (month, day, leap) lunar birthdays that
    fall on today (customers.lunar.birthdays_on, leap-month and 30th rules included) matched
    on their own index, never a conversion per member.
    """
    match = Q()
    for month, day in birthday_days(today):
        match |= Q(birth_month=month, birth_day=day)
    match |= birthdays_q(birthdays_on(today))
    # NOT EXISTS, not NOT IN: PostgreSQL plans it as an anti join on the claim's unique index
    # instead of hashing every claim row of every year.
    greeted = BirthdayGreeting.objects.filter(member=OuterRef("pk"), year=today.year)
    return list(
        Customer.objects.filter(
            match, is_erased=False, merged_into__isnull=True, marketing_consent=True
        )
        .exclude(Exists(greeted))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def birthday_batches(
    *, now: datetime.datetime | None = None, batch_size: int = BATCH
) -> tuple[datetime.date | None, list[list[int]]]:
    """Today's (tenant's day) birthday members in batches, once the greeting time has come.

    Returns (today, batches); (None, []) when greetings are off or it is too early.
    """
    rules = campaign_settings()
    local = _local(_now(now))
    if not rules.birthday_enabled or local.time() < rules.birthday_send_time:
        return None, []
    ids = birthday_due_ids(today=local.date())
    return local.date(), [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]


def _claim_birthdays(member_ids: list[int], year: int) -> list[int]:
    """Insert the (member, year) claims; returns only the ids this call won.

    INSERT ... ON CONFLICT DO NOTHING RETURNING: two workers with the same batch each get
    back only the rows they inserted, so exactly one of them greets each member.
    """
    if not member_ids:
        return []
    table = BirthdayGreeting._meta.db_table
    tenant_id = current_tenant().pk
    now = timezone.now()
    placeholders = ", ".join(["(%s, %s, %s, %s)"] * len(member_ids))
    params: list = []
    for member_id in member_ids:
        params += [tenant_id, member_id, year, now]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (tenant_id, member_id, year, created_at) "  # noqa: S608
            f"VALUES {placeholders} ON CONFLICT (tenant_id, member_id, year) DO NOTHING "
            "RETURNING member_id",
            params,
        )
        return sorted(row[0] for row in cursor.fetchall())


def birthday_send_batch(
    *, member_ids: list[int], today: datetime.date, now: datetime.datetime | None = None
) -> int:
    """Greet one batch: claims, coupons, points and queued messages commit together, then
    the messages are sent. Returns how many members this call greeted."""
    now = _now(now)
    rules = campaign_settings()
    with transaction.atomic():
        # Consent or erasure may have changed since the batch was cut. Claimed in id order:
        # two workers inserting overlapping claims in different orders could deadlock.
        eligible = list(
            Customer.objects.filter(
                pk__in=member_ids,
                is_erased=False,
                merged_into__isnull=True,
                marketing_consent=True,
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        won = _claim_birthdays(eligible, today.year)
        if not won:
            return 0
        members = list(Customer.objects.filter(pk__in=won).order_by("pk"))
        wechat = _wechat_ids(won) if rules.birthday_channel == Channel.WECHAT else {}
        coupons = {}
        offer = rules.birthday_offer
        if offer is not None and offer.is_active and offer.valid_until > now:
            coupons = coupons_issue(offer=offer, members=members, now=now)
        if rules.birthday_points:
            from loyalty.services import points_award

            for member in members:
                points_award(
                    customer=member,
                    points=rules.birthday_points,
                    source_key=f"birthday:{today.year}:{member.pk}",
                    # The source key names it ("Birthday gift 2026", in the reader's
                    # language): no text in the writer's language is stored beside it.
                    reason="",
                )
        balances = _points_balances(won)
        stores = _store_names(m.home_store_id for m in members)
        extra = hooks.placeholder_values(rules.birthday_template, [m.pk for m in members])
        rows = []
        for member in members:
            coupon = coupons.get(member.pk)
            address = _address(member, rules.birthday_channel, wechat)
            # No phone (or WeChat id, e-mail) for the channel: the gifts still count, and the
            # outbox says why no greeting went out instead of recording one as "sent".
            reachable = bool(address) or rules.birthday_channel == Channel.IN_STORE
            rows.append(
                Delivery(
                    key=f"birthday:{today.year}:{member.pk}",
                    kind=DeliveryKind.BIRTHDAY,
                    member=member,
                    channel=rules.birthday_channel,
                    address=address,
                    # Greetings go only to consenting members and carry offers: marketing,
                    # so they say how to refuse more like a campaign does.
                    text=marketing_text(
                        member_message(
                            rules.birthday_template_sent(),
                            member=member,
                            points=balances.get(member.pk, 0),
                            coupon_code=coupon.code if coupon else "",
                            store=stores.get(member.home_store_id, ""),
                            extra=extra.get(member.pk),
                        ),
                        channel=rules.birthday_channel,
                        rules=rules,
                        member=member,
                    ),
                    coupon=coupon,
                    is_marketing=False,
                    status=DeliveryStatus.QUEUED if reachable else DeliveryStatus.FAILED,
                    last_error="" if reachable else "no address for this channel",
                    next_attempt_at=now,
                )
            )
        # ignore_conflicts is not needed: the claims above already made these keys ours.
        Delivery.objects.bulk_create(rows, batch_size=BATCH)
    keys = [f"birthday:{today.year}:{pk}" for pk in won]
    ids = list(Delivery.objects.filter(key__in=keys).values_list("pk", flat=True))
    deliveries_dispatch(now=now, ids=ids, limit=len(ids))
    return len(won)
