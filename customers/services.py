"""Every write to members: enrol, update, consent, tags, merge, erase, reveal, segments."""

from __future__ import annotations

import calendar
import secrets
from datetime import date
from typing import Any

import phonenumbers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.hooks import (
    member_erased,
    member_merged,
    personal_data_requested,
)
from customers.lunar import validate_lunar_birthday
from customers.models import (
    ConsentChannel,
    Customer,
    CustomerTag,
    DataRequest,
    Gender,
    Segment,
    Tag,
)
from stores.models import Store
from tenancy.context import current_tenant
from tenancy.encryption import phone_index
from tenancy.models import HQ_ROLES, Role, StaffMember
from tenancy.services import audit_record

PRESET_TAGS = ("新客户", "高价值客户", "沉睡客户", "生日月会员", "活动敏感", "投诉关注")
REVEAL_ROLES = HQ_ROLES | {Role.STORE_MANAGER}
ERASED_NAME = "已注销会员"
CARD_ATTEMPTS = 8


class DuplicatePhone(ValidationError):
    """The phone already belongs to a member; the enrol page shows that member instead."""

    def __init__(self, existing: Customer):
        super().__init__(_("This mobile number already belongs to a member."), code="duplicate")
        self.existing = existing


def normalise_phone(raw: str) -> str:
    """A mainland China mobile number as its 11 digits, or ValidationError."""
    text = (raw or "").strip()
    if not text:
        raise ValidationError(gettext_lazy("Enter a mobile number."), code="required")
    try:
        parsed = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        raise ValidationError(
            gettext_lazy("Enter a valid mainland China mobile number."), code="invalid"
        ) from None
    national = str(parsed.national_number)
    if (
        parsed.country_code != 86
        or len(national) != 11
        or not national.startswith("1")
        # number_type() is UNKNOWN for any number is_valid_number() rejects, so the type
        # check alone is the validity check (each walks the metadata; imports parse a phone
        # per row).
        or phonenumbers.number_type(parsed)
        not in (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        )
    ):
        raise ValidationError(
            gettext_lazy("Enter a valid mainland China mobile number."), code="invalid"
        )
    return national


def validate_birthday(
    *, year: int | None, month: int | None, day: int | None, today: date | None = None
) -> None:
    """Month and day together or neither; the year may be unknown; never in the future.

    Messages are lazy so that an import stores them by msgid (read in the reader's language).

    With no year Feb 29 is accepted (the member was born in some leap year).
    """
    if (month is None) != (day is None):
        raise ValidationError(gettext_lazy("Enter both the month and the day of the birthday."))
    if year is not None and month is None:
        raise ValidationError(gettext_lazy("A birth year needs the month and day too."))
    if month is None:
        return
    if not 1 <= month <= 12:
        raise ValidationError(gettext_lazy("Enter a month from 1 to 12."))
    leap_days = calendar.monthrange(2000, month)[1]
    if not 1 <= day <= leap_days:
        raise ValidationError(gettext_lazy("That day does not exist in that month."))
    if year is None:
        return
    today = today or timezone.localdate(timezone=current_tenant().zone)
    if year < 1900:
        raise ValidationError(gettext_lazy("Enter a birth year after 1900."))
    try:
        born = date(year, month, day)
    except ValueError:
        raise ValidationError(gettext_lazy("That date does not exist in that year.")) from None
    if born > today:
        raise ValidationError(gettext_lazy("The birthday cannot be in the future."))


def validate_birthdays(
    *,
    year: int | None,
    month: int | None,
    day: int | None,
    lunar_month: int | None = None,
    lunar_day: int | None = None,
    lunar_leap: bool = False,
    today: date | None = None,
) -> None:
    """A solar birthday (validate_birthday) or a lunar one (month, day, leap; the year then
    a lunar year), never both."""
    if lunar_month is None and lunar_day is None and not lunar_leap:
        validate_birthday(year=year, month=month, day=day, today=today)
        return
    if month is not None or day is not None:
        raise ValidationError(_("A member has a solar or a lunar birthday, not both."))
    today = today or timezone.localdate(timezone=current_tenant().zone)
    message = validate_lunar_birthday(
        year=year, month=lunar_month, day=lunar_day, leap=lunar_leap, today=today
    )
    if message:
        raise ValidationError(message)


def _generate_card_number() -> str:
    # 10 digits starting with 8: never 11 digits (a phone) nor 4 (last 4), so the counter
    # search box can tell the three keys apart.
    # One randbelow instead of nine choice() calls: the same uniform digits, and an import of
    # 100,000 new members spent 1.5 s here.
    return f"8{secrets.randbelow(10**9):09d}"


def _snapshot(customer: Customer, fields) -> dict[str, Any]:
    values = {}
    for name in fields:
        value = getattr(customer, name)
        if name == "phone" and value:
            value = customer.masked_phone  # the audit log itself must not hold full PII
        if name == "email" and value:
            value = customer.masked_email
        if name == "name" and value:
            # Names are encrypted at rest; the audit log must not keep them in clear either.
            value = customer.masked_name
        if name == "home_store":
            value = str(value) if value else None
        values[name] = value
    return values


@transaction.atomic
def customer_enrol(
    *,
    staff: StaffMember,
    phone: str,
    name: str,
    gender: str = Gender.UNKNOWN,
    birth_year: int | None = None,
    birth_month: int | None = None,
    birth_day: int | None = None,
    lunar_birth_month: int | None = None,
    lunar_birth_day: int | None = None,
    lunar_birth_leap: bool = False,
    home_store: Store,
    marketing_consent: bool = False,
    consent_channel: str = ConsentChannel.COUNTER,
    notes: str = "",
) -> Customer:
    """Enrol a member. A phone that is already a member raises DuplicatePhone(existing)."""
    phone = normalise_phone(phone)
    name = (name or "").strip()
    if not name:
        raise ValidationError(_("Enter the member's name."))
    validate_birthdays(
        year=birth_year,
        month=birth_month,
        day=birth_day,
        lunar_month=lunar_birth_month,
        lunar_day=lunar_birth_day,
        lunar_leap=lunar_birth_leap,
    )
    existing = Customer.objects.filter(phone_hash=phone_index(phone)).first()
    if existing is not None:
        raise DuplicatePhone(existing)
    customer = Customer(
        phone=phone,
        name=name,
        gender=gender or Gender.UNKNOWN,
        birth_year=birth_year,
        birth_month=birth_month,
        birth_day=birth_day,
        lunar_birth_month=lunar_birth_month,
        lunar_birth_day=lunar_birth_day,
        lunar_birth_leap=lunar_birth_leap,
        home_store=home_store,
        enrolled_by=staff,
        marketing_consent=marketing_consent,
        consent_at=timezone.now() if marketing_consent else None,
        consent_channel=consent_channel if marketing_consent else "",
        notes=notes,
    )
    for _attempt in range(CARD_ATTEMPTS):
        customer.card_number = _generate_card_number()
        if Customer.objects.filter(card_number=customer.card_number).exists():
            continue
        try:
            # The savepoint lets a lost race (same phone or card committed meanwhile) be
            # told apart and answered without aborting the outer transaction.
            with transaction.atomic():
                customer.save()
            break
        except IntegrityError:
            customer.pk = None
            existing = Customer.objects.filter(phone_hash=phone_index(phone)).first()
            if existing is not None:
                raise DuplicatePhone(existing) from None
    else:
        raise ValidationError(_("Could not generate a card number; please try again."))
    audit_record(
        action="customer.enrolled",
        actor=staff,
        obj=customer,
        after=_snapshot(
            customer, ["phone", "name", "home_store", "marketing_consent", "consent_channel"]
        ),
    )
    tag, _created = Tag.objects.get_or_create(name=PRESET_TAGS[0], defaults={"is_preset": True})
    CustomerTag.objects.create(customer=customer, tag=tag, added_by=staff)
    return customer


BIRTHDAY_FIELDS = (
    "birth_year",
    "birth_month",
    "birth_day",
    "lunar_birth_month",
    "lunar_birth_day",
    "lunar_birth_leap",
)
UPDATABLE = (
    "phone",
    "name",
    "gender",
    "birth_year",
    "birth_month",
    "birth_day",
    "lunar_birth_month",
    "lunar_birth_day",
    "lunar_birth_leap",
    "home_store",
    "email",
    "notes",
)


@transaction.atomic
def customer_update(*, customer: Customer, staff: StaffMember, **changes: Any) -> Customer:
    """Change a member's details; the audit keeps what changed (phones masked)."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise TypeError(f"customer_update() cannot change {sorted(unknown)}")
    if customer.is_erased:
        raise ValidationError(_("This member's data was erased."))
    if "phone" in changes:
        changes["phone"] = normalise_phone(changes["phone"])
        clash = (
            Customer.objects.filter(phone_hash=phone_index(changes["phone"]))
            .exclude(pk=customer.pk)
            .first()
        )
        if clash is not None:
            raise DuplicatePhone(clash)
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
        if not changes["name"]:
            raise ValidationError(_("Enter the member's name."))
    validate_birthdays(
        year=changes.get("birth_year", customer.birth_year),
        month=changes.get("birth_month", customer.birth_month),
        day=changes.get("birth_day", customer.birth_day),
        lunar_month=changes.get("lunar_birth_month", customer.lunar_birth_month),
        lunar_day=changes.get("lunar_birth_day", customer.lunar_birth_day),
        lunar_leap=changes.get("lunar_birth_leap", customer.lunar_birth_leap),
    )
    changed = [k for k, v in changes.items() if getattr(customer, k) != v]
    if not changed:
        return customer
    before = _snapshot(customer, changed)
    for key in changed:
        setattr(customer, key, changes[key])
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError:
        raise ValidationError(_("This mobile number already belongs to a member.")) from None
    audit_record(
        action="customer.updated",
        actor=staff,
        obj=customer,
        before=before,
        after=_snapshot(customer, changed),
    )
    return customer


@transaction.atomic
def customer_set_consent(
    *, customer: Customer, staff: StaffMember | None, consent: bool, channel: str
) -> Customer:
    """Record marketing consent given or withdrawn, with time and channel.

    Campaigns send only to members with marketing_consent, so withdrawing stops every push.
    """
    if customer.is_erased and consent:
        raise ValidationError(_("This member's data was erased."))
    if channel not in ConsentChannel.values:
        raise ValidationError(_("Choose how the consent was given."))
    before = _snapshot(customer, ["marketing_consent", "consent_channel", "consent_at"])
    customer.marketing_consent = consent
    customer.consent_at = timezone.now()
    customer.consent_channel = channel
    customer.save(
        update_fields=["marketing_consent", "consent_at", "consent_channel", "updated_at"]
    )
    audit_record(
        action="customer.consent_given" if consent else "customer.consent_withdrawn",
        actor=staff,
        obj=customer,
        before=before,
        after=_snapshot(customer, ["marketing_consent", "consent_channel", "consent_at"]),
    )
    return customer


def customer_reveal_phone(*, customer: Customer, staff: StaffMember) -> str:
    """The full number for a manager or HQ, audited; clerks only ever see it masked."""
    if staff.role not in REVEAL_ROLES:
        raise PermissionDenied
    with transaction.atomic():
        audit_record(action="customer.phone_revealed", actor=staff, obj=customer)
    return customer.phone or ""


def customer_personal_data(*, customer: Customer, staff: StaffMember) -> dict[str, Any]:
    """Everything we hold about one member, for a data-subject request; audited."""
    if staff.role not in HQ_ROLES:
        raise PermissionDenied
    data = {
        "card_number": customer.card_number,
        "phone": customer.phone,
        "name": customer.name,
        "gender": customer.gender,
        "birth_year": customer.birth_year,
        "birth_month": customer.birth_month,
        "birth_day": customer.birth_day,
        "lunar_birth_month": customer.lunar_birth_month,
        "lunar_birth_day": customer.lunar_birth_day,
        "lunar_birth_leap": customer.lunar_birth_leap,
        "home_store": str(customer.home_store),
        "marketing_consent": customer.marketing_consent,
        "consent_at": customer.consent_at.isoformat() if customer.consent_at else None,
        "consent_channel": customer.consent_channel,
        "email": customer.email,
        "notes": customer.notes,
        "tags": list(customer.tags.values_list("name", flat=True)),
        "enrolled_at": customer.created_at.isoformat(),
        "purchase_count": customer.purchase_count,
        "total_spent": str(customer.total_spent),
        "last_purchase_at": customer.last_purchase_at.isoformat()
        if customer.last_purchase_at
        else None,
        "tier": customer.tier_name,
    }
    # Every app above adds what it holds (profile details, points, coupons, messages, sales).
    for _receiver, (key, section) in personal_data_requested.send(
        sender=Customer, customer=customer
    ):
        data[key] = section
    with transaction.atomic():
        audit_record(action="customer.personal_data_exported", actor=staff, obj=customer)
    return data


@transaction.atomic
def customer_erase(*, customer: Customer, staff: StaffMember | None, reason: str) -> Customer:
    """Anonymise a member on request (or, with staff None, by the retention policy in
    customers.privacy). The row stays so sales and totals still add up."""
    if not (reason or "").strip():
        raise ValidationError(_("Give the reason for erasing."))
    # Lock: an enrol/update of the same member committing meanwhile would write PII back.
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.is_erased:
        raise ValidationError(_("This member's data was erased."))
    customer.phone = None
    customer.name = ERASED_NAME
    customer.gender = Gender.UNKNOWN
    customer.birth_year = customer.birth_month = customer.birth_day = None
    customer.lunar_birth_month = customer.lunar_birth_day = None
    customer.lunar_birth_leap = False
    customer.notes = ""
    customer.email = ""
    customer.marketing_consent = False
    customer.consent_at = timezone.now()
    customer.consent_channel = ""
    customer.card_number = f"X{customer.pk}"[:20]
    customer.is_erased = True
    customer.save()
    CustomerTag.objects.filter(customer=customer).delete()
    # The apps above blank what they keep about the member, in this same transaction.
    member_erased.send(sender=Customer, customer=customer)
    audit_record(action="customer.erased", actor=staff, obj=customer, reason=reason.strip())
    return customer


# Tags -----------------------------------------------------------------------------------


def tags_ensure_presets() -> None:
    for name in PRESET_TAGS:
        Tag.objects.get_or_create(name=name, defaults={"is_preset": True})


@transaction.atomic
def tag_create(*, name: str, staff: StaffMember) -> Tag:
    name = (name or "").strip()
    if not name:
        raise ValidationError(_("Enter a tag name."))
    if Tag.objects.filter(name=name).exists():
        raise ValidationError(_("A tag with this name already exists."))
    tag = Tag.objects.create(name=name)
    audit_record(action="tag.created", actor=staff, obj=tag)
    return tag


@transaction.atomic
def customer_tag_add(*, customer: Customer, tag: Tag, staff: StaffMember) -> bool:
    """Tag one member; False when the tag was already there."""
    _link, created = CustomerTag.objects.get_or_create(
        customer=customer, tag=tag, defaults={"added_by": staff}
    )
    if created:
        audit_record(
            action="customer.tag_added", actor=staff, obj=customer, after={"tag": tag.name}
        )
    return created


@transaction.atomic
def customer_tag_remove(*, customer: Customer, tag: Tag, staff: StaffMember) -> bool:
    deleted, _rows = CustomerTag.objects.filter(customer=customer, tag=tag).delete()
    if deleted:
        audit_record(
            action="customer.tag_removed", actor=staff, obj=customer, before={"tag": tag.name}
        )
    return bool(deleted)


def _check_confirmed_count(customers: QuerySet[Customer], expected_count: int) -> None:
    """A bulk action runs only on the number of members the user confirmed: if a filter was
    dropped or the list changed since, the count differs and nothing happens."""
    count = customers.count()
    if count != expected_count:
        raise ValidationError(
            _(
                "The list changed: the filters now match %(n)s members, not the %(expected)s "
                "you confirmed. Nothing was changed; check the list and confirm again."
            )
            % {"n": count, "expected": expected_count},
            code="count_changed",
        )


@transaction.atomic
def customers_tag_bulk_add(
    *, customers: QuerySet[Customer], tag: Tag, staff: StaffMember, expected_count: int
) -> int:
    """Tag every member of a filtered list at once; returns how many got the tag newly.

    `expected_count` is how many members the user confirmed the action for (see
    _check_confirmed_count). Subqueries instead of id lists: a list of 100,000 ids would
    exceed SQLite's parameter limit and bloat the statement on PostgreSQL.
    """
    _check_confirmed_count(customers, expected_count)
    tagged = CustomerTag.objects.filter(tag=tag).values("customer_id")
    new = list(customers.exclude(pk__in=tagged).order_by().values_list("pk", flat=True))
    CustomerTag.objects.bulk_create(
        [CustomerTag(customer_id=pk, tag=tag, added_by=staff) for pk in new],
        batch_size=1000,
        ignore_conflicts=True,
    )
    audit_record(
        action="customer.tag_bulk_added",
        actor=staff,
        obj=tag,
        after={"members": len(new), "confirmed": expected_count},
    )
    return len(new)


@transaction.atomic
def customers_tag_bulk_remove(
    *, customers: QuerySet[Customer], tag: Tag, staff: StaffMember, expected_count: int
) -> int:
    _check_confirmed_count(customers, expected_count)
    links = CustomerTag.objects.filter(tag=tag, customer_id__in=customers.order_by().values("pk"))
    deleted, _rows = links.delete()
    audit_record(
        action="customer.tag_bulk_removed",
        actor=staff,
        obj=tag,
        after={"members": deleted, "confirmed": expected_count},
    )
    return deleted


# Merge ----------------------------------------------------------------------------------


@transaction.atomic
def customer_merge(*, source: Customer, target: Customer, staff: StaffMember) -> Customer:
    """Fold the duplicate `source` into `target` in one transaction, audited.

    customers moves its own data (tags, notes, consent, blank details, purchase totals);
    loyalty, campaigns and analytics move theirs in receivers of `member_merged`, sent
    here before the source is marked merged. Any failure rolls everything back.
    """
    if source.pk == target.pk:
        raise ValidationError(_("Choose two different members."))
    # Lock both rows in primary-key order: two merges touching the same pair in opposite
    # directions would otherwise deadlock, and a concurrent merge could move data twice.
    locked = {
        c.pk: c
        for c in Customer.objects.select_for_update()
        .filter(pk__in=[source.pk, target.pk])
        .order_by("pk")
    }
    if len(locked) != 2:
        raise ValidationError(_("Choose two different members."))
    source, target = locked[source.pk], locked[target.pk]
    if source.is_erased or target.is_erased:
        raise ValidationError(_("An erased or already merged member cannot be merged."))

    before = {"source": source.card_number, "target": target.card_number}
    have = set(CustomerTag.objects.filter(customer=target).values_list("tag_id", flat=True))
    moving = CustomerTag.objects.filter(customer=source)
    moving.exclude(tag_id__in=have).update(customer=target)
    CustomerTag.objects.filter(customer=source).delete()
    # Personal-data requests follow the person: the register lists them on the target.
    DataRequest.objects.filter(customer=source).update(customer=target)

    if source.notes:
        note = _("Merged from card %(card)s:") % {"card": source.card_number}
        target.notes = "\n".join(filter(None, [target.notes, f"{note} {source.notes}"]))
    # One birthday, solar or lunar (never a mix of the two): the target's, else the source's;
    # a year the target lacks comes from a source with a birthday of the same calendar.
    target_lunar = target.lunar_birth_month is not None
    if target.birth_month is None and not target_lunar:
        for name in BIRTHDAY_FIELDS:
            setattr(target, name, getattr(source, name))
    elif target.birth_year is None and target_lunar == (source.lunar_birth_month is not None):
        target.birth_year = source.birth_year
    if target.gender == Gender.UNKNOWN:
        target.gender = source.gender
    # The more recent consent decision is the member's current wish.
    if source.consent_at and (target.consent_at is None or source.consent_at > target.consent_at):
        target.marketing_consent = source.marketing_consent
        target.consent_at = source.consent_at
        target.consent_channel = source.consent_channel
    target.purchase_count += source.purchase_count
    target.total_spent += source.total_spent
    if source.last_purchase_at and (
        target.last_purchase_at is None or source.last_purchase_at > target.last_purchase_at
    ):
        target.last_purchase_at = source.last_purchase_at
    target.save()

    member_merged.send(sender=Customer, source=source, target=target)

    source.merged_into = target
    source.is_erased = True
    source.phone = None  # frees the number; it now belongs to the target only
    source.marketing_consent = False
    source.purchase_count = 0
    source.total_spent = 0
    source.save()
    audit_record(
        action="customer.merged",
        actor=staff,
        obj=target,
        before=before,
        after={"merged_from": source.pk},
    )
    return target


# Segments -------------------------------------------------------------------------------


@transaction.atomic
def segment_save(
    *,
    staff: StaffMember,
    name: str,
    criteria: dict,
    description: str = "",
    segment: Segment | None = None,
) -> Segment:
    name = (name or "").strip()
    if not name:
        raise ValidationError(_("Enter a segment name."))
    clash = Segment.objects.filter(name=name)
    if segment is not None:
        clash = clash.exclude(pk=segment.pk)
    if clash.exists():
        raise ValidationError(_("A segment with this name already exists."))
    created = segment is None
    segment = segment or Segment(created_by=staff)
    segment.name = name
    segment.description = description
    segment.criteria = criteria
    segment.save()
    audit_record(
        action="segment.created" if created else "segment.updated",
        actor=staff,
        obj=segment,
        after={"criteria": criteria},
    )
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment, staff: StaffMember) -> None:
    audit_record(
        action="segment.deleted", actor=staff, obj=segment, before={"criteria": segment.criteria}
    )
    segment.delete()


# Export ---------------------------------------------------------------------------------


def customers_export(
    *, customers: QuerySet[Customer], staff: StaffMember, file_format: str
) -> bytes:
    """Members as CSV or XLSX, formula-escaped, audited."""
    from customers.resources import FORMATS, CustomerExportResource, escape_dataset

    if staff.role not in HQ_ROLES:
        raise PermissionDenied
    if file_format not in FORMATS:
        raise ValidationError(_("Choose CSV or XLSX."))
    rows = customers.select_related("home_store").prefetch_related("tags").order_by("id")
    dataset = escape_dataset(CustomerExportResource().export(queryset=rows))
    with transaction.atomic():
        audit_record(
            action="customer.exported",
            actor=staff,
            after={"rows": len(dataset), "format": file_format},
        )
    data = FORMATS[file_format]().export_data(dataset)
    return data.encode("utf-8-sig") if isinstance(data, str) else data
