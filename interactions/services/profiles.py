"""The richer member profile and the name's pinyin search keys, kept in step with every save
and bulk write.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from customers.models import Customer
from interactions.models import (
    Behaviour,
    MemberProfile,
)
from interactions.pinyin import name_keys
from interactions.services.referrals import behaviour_award
from interactions.services.surveys import _tenant
from tenancy.models import StaffMember
from tenancy.services import audit_record

# ---------------------------------------------------------------------------------------
# Member profile and name search keys


def member_name_keys_sync(*, member: Customer) -> MemberProfile:
    """Write the member's pinyin and anniversary keys to their profile row (made if missing)."""
    keys = _member_keys(member, _tenant().zone)
    profile, _created = MemberProfile.objects.get_or_create(member=member, defaults=keys)
    if any(getattr(profile, name) != value for name, value in keys.items()):
        for name, value in keys.items():
            setattr(profile, name, value)
        profile.save(update_fields=[*keys, "updated_at"])
    return profile


def _member_keys(member: Customer, zone) -> dict[str, str]:
    return _keys_of(member.name, member.created_at, zone)


def member_name_keys_sync_many(*, member_ids: list[int], batch_size: int = 2000) -> int:
    """member_name_keys_sync for members written in bulk (an import): set-based per batch.

    Runs inside the import's write transaction, so it is built for 100,000 rows: members are
    read as plain values, and on PostgreSQL new profiles go in as one INSERT per batch
    (bulk_create's per-field preparation was a third of an import). Returns how many profile
    rows were created or changed.
    """
    zone = _tenant().zone
    tenant_id = _tenant().pk
    now = timezone.now()
    touched = 0
    for start in range(0, len(member_ids), batch_size):
        chunk = member_ids[start : start + batch_size]
        profiles = {p.member_id: p for p in MemberProfile.objects.filter(member_id__in=chunk)}
        new: list[tuple[int, dict]] = []
        changed = []
        for pk, name, created_at in Customer.objects.filter(pk__in=chunk).values_list(
            "pk", "name", "created_at"
        ):
            keys = _keys_of(name, created_at, zone)
            profile = profiles.get(pk)
            if profile is None:
                new.append((pk, keys))
            elif any(getattr(profile, field) != value for field, value in keys.items()):
                for field, value in keys.items():
                    setattr(profile, field, value)
                changed.append(profile)
        _profiles_insert(new, tenant_id=tenant_id, now=now)
        if changed:
            MemberProfile.objects.bulk_update(
                changed, ["name_pinyin", "name_initials", "anniversary"], batch_size=batch_size
            )
        touched += len(new) + len(changed)
    return touched


def _keys_of(name: str, created_at, zone) -> dict[str, str]:
    full, initials = name_keys(name)
    anniversary = timezone.localtime(created_at, zone).strftime("%m-%d") if created_at else ""
    return {"name_pinyin": full, "name_initials": initials, "anniversary": anniversary}


def _profiles_insert(rows: list[tuple[int, dict]], *, tenant_id: int, now) -> None:
    """New profile rows (member id, keys): one INSERT on PostgreSQL, bulk_create elsewhere."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        MemberProfile.objects.bulk_create(
            [MemberProfile(member_id=pk, **keys) for pk, keys in rows]
        )
        return
    columns = (
        "tenant_id, member_id, wechat_id, occupation, interests, preferred_brands, "
        "preferred_categories, price_sensitivity, name_pinyin, name_initials, anniversary, "
        "updated_at"
    )
    values = ", ".join(["(%s, %s, '', '', '', '', '', '', %s, %s, %s, %s)"] * len(rows))
    params: list = []
    for pk, keys in rows:
        params += [
            tenant_id, pk, keys["name_pinyin"], keys["name_initials"], keys["anniversary"], now
        ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {MemberProfile._meta.db_table} ({columns}) VALUES {values}",  # noqa: S608 - fixed names, values are parameters
            params,
        )


def member_name_keys_rebuild(*, batch_size: int = 2000) -> int:
    """Backfill keys for members written without signals (bulk imports); returns how many.

    Members without a profile row get one in batches (bulk insert; a row created meanwhile
    by a save is left alone); rows whose keys are empty are recomputed one by one.
    """
    zone = _tenant().zone
    count = 0
    missing = (
        Customer.objects.exclude(pk__in=MemberProfile.objects.values("member_id"))
        .only("pk", "name", "created_at")
        .order_by("pk")
    )
    batch: list[MemberProfile] = []
    for member in missing.iterator(chunk_size=batch_size):
        batch.append(MemberProfile(member_id=member.pk, **_member_keys(member, zone)))
        if len(batch) >= batch_size:
            MemberProfile.objects.bulk_create(batch, ignore_conflicts=True)
            count += len(batch)
            batch = []
    if batch:
        MemberProfile.objects.bulk_create(batch, ignore_conflicts=True)
        count += len(batch)
    stale = Customer.objects.filter(
        Q(interaction_profiles__name_initials="") | Q(interaction_profiles__anniversary="")
    ).exclude(name="")
    for member in stale.only("pk", "name", "created_at").iterator(chunk_size=batch_size):
        member_name_keys_sync(member=member)
        count += 1
    return count


PROFILE_FIELDS = (
    "wechat_id",
    "occupation",
    "interests",
    "preferred_brands",
    "preferred_categories",
    "price_sensitivity",
)


@transaction.atomic
def member_profile_update(*, staff: StaffMember, member: Customer, **fields) -> MemberProfile:
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown profile fields: {sorted(unknown)}")
    profile = member_name_keys_sync(member=member)
    # Lock the row: two clerks saving the same profile must not mix halves of each edit.
    profile = MemberProfile.objects.select_for_update().get(pk=profile.pk)
    before = {name: getattr(profile, name) for name in PROFILE_FIELDS}
    for name, value in fields.items():
        setattr(profile, name, value.strip() if isinstance(value, str) else value)
    profile.save()
    after = {name: getattr(profile, name) for name in PROFILE_FIELDS}
    if profile.is_complete:
        behaviour_award(member=member, behaviour=Behaviour.PROFILE_COMPLETED)
    audit_record(
        action="member_profile.update",
        actor=staff,
        obj=member,
        before={k: v for k, v in before.items() if v != after[k]},
        after={k: v for k, v in after.items() if v != before[k]},
    )
    return profile
