"""Demo regions, store types and stores, with the demo store staff assigned."""

from __future__ import annotations

import datetime

from stores.models import Region, Store, StoreAssignment, StoreStatus, StoreType
from tenancy.demo import demo_username
from tenancy.models import StaffMember, Tenant

REGIONS = [("BJ", "北京"), ("SH", "上海"), ("GZ", "广州")]
STORE_TYPES = [("ZY", "直营"), ("JM", "加盟"), ("LY", "联营")]
STORES = [
    ("BJ-ZY-001", "北京朝阳大悦城店", "BJ", "ZY"),
    ("BJ-ZY-002", "北京西单店", "BJ", "ZY"),
    ("BJ-JM-001", "北京通州加盟店", "BJ", "JM"),
    ("SH-ZY-001", "上海南京东路店", "SH", "ZY"),
    ("SH-JM-001", "上海徐汇加盟店", "SH", "JM"),
    ("GZ-ZY-001", "广州天河城店", "GZ", "ZY"),
]


def seed(tenant: Tenant, *, stdout=None, quick: bool = False) -> None:
    regions = {
        code: Region.objects.get_or_create(code=code, defaults={"name": name})[0]
        for code, name in REGIONS
    }
    types = {
        code: StoreType.objects.get_or_create(code=code, defaults={"name": name})[0]
        for code, name in STORE_TYPES
    }
    for code, name, region, store_type in STORES:
        Store.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "region": regions[region],
                "store_type": types[store_type],
                "status": StoreStatus.OPEN,
                "opened_on": datetime.date(2024, 3, 1),
            },
        )
    first_store = Store.objects.get(code="BJ-ZY-001")
    for name in ("manager", "clerk"):
        staff = StaffMember.objects.get(user__username=demo_username(tenant, name))
        StoreAssignment.objects.get_or_create(staff=staff, store=first_store)
