"""factory_boy factories. Tenant-owned rows take their tenant from the current context."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from stores.models import Region, Store, StoreAssignment, StoreStatus, StoreType
from tenancy.models import Role, StaffMember, Tenant
from tests.clock import tenant_zone_name

PASSWORD = "Correct-Horse-42"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"连锁{n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")
    # CI replays the clock-sensitive tests with tenants on another zone (tests/clock.py).
    time_zone = factory.LazyFunction(tenant_zone_name)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffMember

    user = factory.SubFactory(UserFactory)
    role = Role.CLERK
    display_name = factory.Sequence(lambda n: f"员工{n}")


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region
        django_get_or_create = ("code",)

    code = "BJ"
    name = "北京"


class StoreTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StoreType
        django_get_or_create = ("code",)

    code = "ZY"
    name = "直营"


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    code = factory.Sequence(lambda n: f"BJ-ZY-{n + 1:03d}")
    name = factory.Sequence(lambda n: f"测试门店{n}")
    region = factory.SubFactory(RegionFactory)
    store_type = factory.SubFactory(StoreTypeFactory)
    status = StoreStatus.OPEN


class StoreAssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StoreAssignment

    staff = factory.SubFactory(StaffMemberFactory)
    store = factory.SubFactory(StoreFactory)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "customers.Customer"

    phone = factory.Sequence(lambda n: f"138{n:08d}")
    card_number = factory.Sequence(lambda n: f"C{n:09d}")
    name = factory.Sequence(lambda n: f"会员{n}")
    home_store = factory.SubFactory(StoreFactory)
