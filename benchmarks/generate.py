"""Fill PostgreSQL with a retail chain at realistic scale, with COPY.

    python -m benchmarks.generate --members 1000000 --sales 10000000 --stores 500
    python -m benchmarks.generate --quick

A second, small tenant keeps isolation honest (every lookup must still find only the big
tenant's rows). Re-running at the same scale reuses what exists; a different scale rebuilds
that part. Run `manage.py migrate` (as the owner role) first; benchmarks/run does both.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from decimal import Decimal

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import models, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from benchmarks.copy import copy_rows, loader_connection, reset_sequence  # noqa: E402
from customers.models import Customer  # noqa: E402
from stores.models import Region, Store, StoreAssignment, StoreType  # noqa: E402
from stores.services import counters_sync_with_stores  # noqa: E402
from tenancy.context import tenant_context  # noqa: E402
from tenancy.encryption import name_index, phone_index  # noqa: E402
from tenancy.models import StaffMember, Tenant  # noqa: E402

BENCH_PASSWORD = "Bench@2026"  # noqa: S105 - a throwaway benchmark database
REGIONS = [
    ("BJ", "北京"), ("SH", "上海"), ("GZ", "广州"), ("SZ", "深圳"), ("CD", "成都"),
    ("HZ", "杭州"), ("WH", "武汉"), ("XA", "西安"), ("NJ", "南京"), ("TJ", "天津"),
    ("CQ", "重庆"), ("SY", "沈阳"), ("QD", "青岛"), ("DL", "大连"), ("XM", "厦门"),
    ("CS", "长沙"), ("ZZ", "郑州"), ("JN", "济南"), ("HF", "合肥"), ("FZ", "福州"),
    ("KM", "昆明"), ("NN", "南宁"), ("GY", "贵阳"), ("LZ", "兰州"), ("HRB", "哈尔滨"),
]  # fmt: skip
STORE_TYPES = [("ZY", "直营"), ("JM", "加盟"), ("LY", "联营")]
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉鑫宇浩"
    "然子涵欣怡梓轩雨轩一诺思远佳怡子墨"
)
MOBILE_PREFIXES = (
    "130 131 132 133 135 136 137 138 139 150 151 152 155 156 157 158 159 176 186 188".split()
)


def log(message: str) -> None:
    print(f"[generate {time.strftime('%H:%M:%S')}] {message}", flush=True)


def fill_columns(model, provided: dict) -> tuple[list[str], list]:
    """Columns and constant values for every NOT NULL column the generator does not set.

    Other apps keep adding fields; taking their defaults from the model keeps COPY working.
    """
    now = timezone.now().isoformat()
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.column in provided:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        elif field.has_default():
            value = field.get_default()
            if isinstance(field, models.JSONField):
                value = json.dumps(value)
        elif field.null:
            value = None
        elif isinstance(field, models.CharField | models.TextField):
            value = ""
        else:
            raise SystemExit(f"{model._meta.label}.{field.name} has no default to generate")
        columns.append(field.column)
        values.append(value)
    return columns, values


def extra_defaults(model, columns: list[str]) -> tuple[str, str, list]:
    """(", col...", ", %s...", values) for the NOT NULL columns a raw INSERT does not name.

    Other apps keep adding columns with defaults; the floors' INSERTs stay valid without edits.
    """
    extra_columns, extra_values = fill_columns(model, dict.fromkeys(columns))
    return (
        "".join(f", {column}" for column in extra_columns),
        ", %s" * len(extra_columns),
        list(extra_values),
    )


def copy_model(cursor, model, rows: list[dict]) -> int:
    if not rows:
        return 0
    provided = list(rows[0])
    extra_columns, extra_values = fill_columns(model, dict.fromkeys(provided))
    table = model._meta.db_table
    count = copy_rows(
        cursor,
        table,
        provided + extra_columns,
        ([row[c] for c in provided] + extra_values for row in rows),
    )
    reset_sequence(cursor, table)
    return count


def ensure_tenant(cursor, slug: str, name: str) -> int:
    cursor.execute("SELECT id FROM tenancy_tenant WHERE slug = %s", [slug])
    row = cursor.fetchone()
    if row:
        return row[0]
    cursor.execute(
        "INSERT INTO tenancy_tenant (name, slug, time_zone, currency, settings, is_active, "
        "created_at) VALUES (%s, %s, 'Asia/Shanghai', 'CNY', '{}', true, now()) RETURNING id",
        [name, slug],
    )
    return cursor.fetchone()[0]


def count(cursor, model, tenant_id: int) -> int:
    cursor.execute(
        f'SELECT count(*) FROM "{model._meta.db_table}" WHERE tenant_id = %s',  # noqa: S608
        [tenant_id],
    )
    return cursor.fetchone()[0]


def delete_tenant_rows(cursor, tenant_id: int, *tables: str) -> None:
    for table in tables:
        cursor.execute(f'DELETE FROM "{table}" WHERE tenant_id = %s', [tenant_id])  # noqa: S608


def generate_chain(cursor, tenant_id: int, slug: str, stores: int, rng: random.Random) -> None:
    """Regions, store types, stores with their codes, an HQ admin and a clerk per store."""
    if count(cursor, Store, tenant_id) == stores:
        log(f"{slug}: {stores} stores exist, reused")
        return
    log(f"{slug}: creating {stores} stores and their staff")
    # Everything that hangs off the stores goes too; the members are rebuilt after this.
    for model in reversed(dependent_models()):
        delete_tenant_rows(cursor, tenant_id, model._meta.db_table)
    cursor.execute("SELECT user_id FROM tenancy_staffmember WHERE tenant_id = %s", [tenant_id])
    user_ids = [row[0] for row in cursor.fetchall()]
    delete_tenant_rows(cursor, tenant_id, StaffMember._meta.db_table)
    cursor.execute("DELETE FROM auth_user WHERE id = ANY(%s)", [user_ids])
    copy_model(cursor, Region, [
        {"tenant_id": tenant_id, "code": code, "name": name, "is_active": True}
        for code, name in REGIONS
    ])  # fmt: skip
    copy_model(cursor, StoreType, [
        {"tenant_id": tenant_id, "code": code, "name": name, "is_active": True,
         "ownership": {"ZY": "direct", "JM": "franchise", "LY": "joint"}[code]}
        for code, name in STORE_TYPES
    ])  # fmt: skip
    cursor.execute("SELECT code, id FROM stores_region WHERE tenant_id = %s", [tenant_id])
    region_ids = dict(cursor.fetchall())
    cursor.execute("SELECT code, id FROM stores_storetype WHERE tenant_id = %s", [tenant_id])
    type_ids = dict(cursor.fetchall())
    sequences: dict[tuple[str, str], int] = {}
    store_rows = []
    for index in range(stores):
        region = REGIONS[min(int(rng.paretovariate(1.2)) - 1, len(REGIONS) - 1)][0]
        store_type = rng.choices(["ZY", "JM", "LY"], weights=[6, 3, 1])[0]
        sequence = sequences[region, store_type] = sequences.get((region, store_type), 0) + 1
        store_rows.append({
            "tenant_id": tenant_id,
            "code": f"{region}-{store_type}-{sequence:03d}",
            "name": f"{dict(REGIONS)[region]}{index + 1}号店",
            "region_id": region_ids[region],
            "store_type_id": type_ids[store_type],
            "status": "open",
            "opened_on": dt.date(2020, 1, 1) + dt.timedelta(days=rng.randint(0, 1500)),
        })  # fmt: skip
    copy_model(cursor, Store, store_rows)
    password = make_password(BENCH_PASSWORD)
    cursor.execute(
        "SELECT id, code FROM stores_store WHERE tenant_id = %s ORDER BY id", [tenant_id]
    )
    store_list = cursor.fetchall()
    usernames = [f"{slug}-admin"] + [f"{slug}-clerk-{code.lower()}" for _id, code in store_list]
    copy_rows(
        cursor,
        "auth_user",
        ["password", "is_superuser", "username", "first_name", "last_name", "email",
         "is_staff", "is_active", "date_joined"],
        ([password, False, name, "", "", "", False, True, timezone.now().isoformat()]
         for name in usernames),
    )  # fmt: skip
    reset_sequence(cursor, "auth_user")
    cursor.execute("SELECT username, id FROM auth_user WHERE username = ANY(%s)", [usernames])
    user_ids = dict(cursor.fetchall())
    staff_rows = [{
        "tenant_id": tenant_id, "user_id": user_ids[f"{slug}-admin"], "role": "hq_admin",
        "display_name": "压测管理员", "phone": "", "is_active": True,
    }] + [{
        "tenant_id": tenant_id, "user_id": user_ids[f"{slug}-clerk-{code.lower()}"],
        "role": "clerk", "display_name": f"店员{code}", "phone": "", "is_active": True,
    } for _id, code in store_list]  # fmt: skip
    copy_model(cursor, StaffMember, staff_rows)
    cursor.execute(
        "SELECT s.id, u.username FROM tenancy_staffmember s JOIN auth_user u ON u.id = s.user_id "
        "WHERE s.tenant_id = %s",
        [tenant_id],
    )
    staff_by_user = {username: staff_id for staff_id, username in cursor.fetchall()}
    copy_model(cursor, StoreAssignment, [
        {"tenant_id": tenant_id, "staff_id": staff_by_user[f"{slug}-clerk-{code.lower()}"],
         "store_id": store_id}
        for store_id, code in store_list
    ])  # fmt: skip


def dependent_models():
    """Tenant tables whose rows reference stores or members, deepest last."""
    from tenancy.rls import tenant_scoped_models

    skip = {Tenant, StaffMember}
    order = [Region, StoreType, Store, StoreAssignment, Customer]
    others = [m for m in tenant_scoped_models() if m not in order and m not in skip]
    # Tables of later apps (sales, ledgers, ...) hang off members and stores: delete first.
    return order + others


def store_weights(cursor, tenant_id: int, rng: random.Random) -> tuple[list[int], list[float]]:
    cursor.execute("SELECT id FROM stores_store WHERE tenant_id = %s ORDER BY id", [tenant_id])
    ids = [row[0] for row in cursor.fetchall()]
    # A few flagship stores sell far more than the long tail.
    weights = [rng.paretovariate(1.5) for _ in ids]
    return ids, weights


def person_name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def birthday(rng: random.Random) -> tuple[int, int]:
    """A day of the year, each as likely as the next (about members/365 a day), Feb 29 a
    quarter as likely as any other day, as births fall; the birthday fan-out relies on it."""
    if rng.random() < 0.25 / 365.25:
        return 2, 29
    day = dt.date(2001, 1, 1) + dt.timedelta(days=rng.randrange(365))
    return day.month, day.day


def member_rows(tenant_id: int, members: int, store_ids, weights, rng: random.Random, offset: int):
    # Written as the model stores them: phone, name and birth year sealed (tenancy.fields),
    # with the phone's and name's blind indexes.
    seal = {name: Customer._meta.get_field(name).get_prep_value for name in SEALED}
    now = timezone.now()
    homes = rng.choices(store_ids, weights=weights, k=members)
    for index in range(members):
        # An odd multiplier coprime with 10^8 walks every 8-digit suffix once: unique phones.
        suffix = (index * 48271 + offset) % 100_000_000
        phone = f"{MOBILE_PREFIXES[index % len(MOBILE_PREFIXES)]}{suffix:08d}"
        year = rng.choice([None] + list(range(1955, 2008)))
        month, day = birthday(rng)
        created = now - dt.timedelta(days=rng.randint(0, 1100), seconds=rng.randint(0, 86399))
        consent = rng.random() < 0.7
        name = person_name(rng)
        yield (
            tenant_id, seal["phone"](phone), phone[-4:], f"V{offset:02d}{index:09d}",
            seal["name"](name),
            rng.choice(["female", "female", "male", "unknown"]), seal["birth_year"](year),
            month, day, homes[index],
            None, consent, created.isoformat() if consent else None,
            "counter" if consent else "", "", False, created.isoformat(), created.isoformat(),
            None, 0, Decimal("0.00"), "", "", "", phone_index(phone), name_index(name),
        )  # fmt: skip


SEALED = ("phone", "name", "birth_year")
MEMBER_COLUMNS = [
    "tenant_id", "phone", "phone_last4", "card_number", "name", "gender", "birth_year",
    "birth_month", "birth_day", "home_store_id", "enrolled_by_id", "marketing_consent",
    "consent_at", "consent_channel", "notes", "is_erased", "created_at", "updated_at",
    "last_purchase_at", "purchase_count", "total_spent", "rfm_segment", "tier_code", "tier_name",
    "phone_hash", "name_hash",
]  # fmt: skip


def generate_members(cursor, tenant_id: int, slug: str, members: int, rng, offset: int) -> None:
    if count(cursor, Customer, tenant_id) == members:
        log(f"{slug}: {members} members exist, reused")
        return
    log(f"{slug}: creating {members} members")
    for model in reversed(dependent_models()[5:]):
        delete_tenant_rows(cursor, tenant_id, model._meta.db_table)
    delete_tenant_rows(cursor, tenant_id, Customer._meta.db_table)
    store_ids, weights = store_weights(cursor, tenant_id, rng)
    extra_columns, extra_values = fill_columns(Customer, dict.fromkeys(MEMBER_COLUMNS))
    started = time.perf_counter()
    copy_rows(
        cursor,
        Customer._meta.db_table,
        MEMBER_COLUMNS + extra_columns,
        (
            list(row) + extra_values
            for row in member_rows(tenant_id, members, store_ids, weights, rng, offset)
        ),
    )
    reset_sequence(cursor, Customer._meta.db_table)
    log(f"{slug}: members loaded in {time.perf_counter() - started:.1f}s")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--sales", type=int, default=10_000_000)
    parser.add_argument("--stores", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="small scale for CI")
    # benchmarks/run passes its arguments to both steps: the report's own are accepted here.
    parser.add_argument("--only", nargs="*", help="(the report's steps)")
    parser.add_argument("--tenants", type=int, help="(the report's small tenants)")
    parser.add_argument("--keep-tenants", action="store_true", help="(the report's)")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.sales, args.stores = 20_000, 100_000, 20
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("benchmarks need PostgreSQL: set DATABASE_URL")
    connection = loader_connection(os.environ["DATABASE_URL"])
    connection.autocommit = False
    started = time.perf_counter()
    with connection, connection.cursor() as cursor:
        big = ensure_tenant(cursor, "bench", "压测连锁")
        small = ensure_tenant(cursor, "bench-small", "压测小连锁")
        for tenant_id, slug, stores, members, offset in (
            (big, "bench", args.stores, args.members, 1),
            (small, "bench-small", 5, 1_000, 2),
        ):
            rng = random.Random(f"{slug}-{stores}-{members}")
            generate_chain(cursor, tenant_id, slug, stores, rng)
            generate_members(cursor, tenant_id, slug, members, rng, offset)
            for extension in EXTENSIONS:
                extension(cursor, tenant_id, slug, args, rng)
        cursor.execute("ANALYZE")
    # Stores were loaded with their codes; record those codes and move the counters past
    # them, as the application would have, so approvals in the benchmark data never collide.
    for slug in ("bench", "bench-small"):
        with transaction.atomic(), tenant_context(Tenant.objects.get(slug=slug)):
            counters_sync_with_stores()
        sales.aggregate_history(slug, sales.history_days(args))
    log(f"done in {time.perf_counter() - started:.1f}s")


# Later parts of the data (sales, ledgers, ...) add a function here:
# (cursor, tenant_id, slug, args, rng).
from benchmarks import campaigns_bench, loyalty_jobs, sales, settlement_bench  # noqa: E402

EXTENSIONS: list = [
    loyalty_jobs.generate,
    settlement_bench.generate,
    sales.generate,
    campaigns_bench.generate,
]


if __name__ == "__main__":
    main(sys.argv[1:])
