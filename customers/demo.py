"""Demo members spread over the demo stores."""

from __future__ import annotations

import random

from customers.models import ConsentChannel, Customer, Gender
from stores.models import Store
from tenancy.encryption import phone_index
from tenancy.models import Tenant

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛"]


def seed(tenant: Tenant, *, stdout=None, quick: bool = False) -> None:
    count = 20 if quick else 300
    if Customer.objects.count() < count:
        _seed_members(tenant, count)
    _seed_tags_segments_imports(tenant, quick=quick)
    _seed_data_requests(tenant)


def _seed_members(tenant: Tenant, count: int) -> None:
    rng = random.Random(f"{tenant.slug}-members")
    stores = list(Store.objects.order_by("code"))
    prefix = "139" if tenant.slug == "demo" else "186"
    for index in range(count):
        phone = f"{prefix}{index:08d}"
        defaults = {
            "card_number": f"M{tenant.pk:02d}{index:08d}",
            "name": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(["", *GIVEN]),
            "gender": rng.choice([Gender.FEMALE, Gender.MALE, Gender.UNKNOWN]),
            "birth_year": rng.choice([None, *range(1960, 2006)]),
            "birth_month": rng.randint(1, 12),
            "birth_day": rng.randint(1, 28),
            "home_store": stores[index % len(stores)],
            "marketing_consent": index % 4 != 0,
            "consent_channel": ConsentChannel.COUNTER,
        }
        if index % 10 == 3:
            # Every tenth member keeps a lunar (农历) birthday instead, a leap month now and then.
            month, day = defaults.pop("birth_month"), defaults.pop("birth_day")
            defaults.update(
                lunar_birth_month=month,
                lunar_birth_day=day,
                lunar_birth_leap=index % 40 == 3,
                birth_year=None,
            )
        # Phones are encrypted: the member is found by the phone's blind index.
        if not Customer.objects.filter(phone_hash=phone_index(phone)).exists():
            Customer.objects.create(phone=phone, **defaults)


def _seed_tags_segments_imports(tenant: Tenant, *, quick: bool) -> None:
    from customers.models import CustomerTag, ImportJob, ImportStatus, Segment, Tag
    from customers.services import tags_ensure_presets

    tags_ensure_presets()
    custom, _ = Tag.objects.get_or_create(name="咖啡爱好者")
    presets = list(Tag.objects.filter(is_preset=True).order_by("name"))
    if not CustomerTag.objects.exists():
        links = []
        for index, customer in enumerate(Customer.objects.order_by("id")):
            tag = presets[index % len(presets)]
            links.append(CustomerTag(customer=customer, tag=tag))
            if index % 5 == 0:
                links.append(CustomerTag(customer=customer, tag=custom))
        CustomerTag.objects.bulk_create(links, ignore_conflicts=True)
    high_value = Tag.objects.get(name="高价值客户")
    Segment.objects.get_or_create(
        name="高价值且同意营销",
        defaults={"criteria": {"tags": [high_value.pk], "marketing_consent": True}},
    )
    Segment.objects.get_or_create(name="三月生日会员", defaults={"criteria": {"birth_month": 3}})
    if not ImportJob.objects.exists():
        ImportJob.objects.create(
            file_path="",
            original_name="demo-members.csv",
            status=ImportStatus.DONE,
            total_rows=Customer.objects.count(),
            processed_rows=Customer.objects.count(),
            created_count=Customer.objects.count(),
        )


def _seed_data_requests(tenant: Tenant) -> None:
    """Two personal-data requests: an open access request and a refused deletion."""
    import datetime

    from customers.models import DataRequest, RequestChannel, RequestKind, RequestStatus
    from customers.privacy import request_due_on
    from tenancy.dates import tenant_today
    from tenancy.models import HQ_ROLES, StaffMember

    if DataRequest.objects.exists():
        return
    members = list(Customer.objects.active().order_by("id")[:2])
    owner = StaffMember.objects.filter(role__in=HQ_ROLES).order_by("id").first()
    today = tenant_today(tenant)
    for member, kind, status, days_ago in zip(
        members,
        (RequestKind.ACCESS, RequestKind.DELETION),
        (RequestStatus.OPEN, RequestStatus.REFUSED),
        (3, 30),
        strict=False,
    ):
        received = today - datetime.timedelta(days=days_ago)
        DataRequest.objects.create(
            kind=kind,
            customer=member,
            channel=RequestChannel.COUNTER,
            received_on=received,
            due_on=request_due_on(received),
            owner=owner,
            status=status,
            note="" if status == RequestStatus.OPEN else "会员有未结清的售后服务，暂缓删除",
        )
