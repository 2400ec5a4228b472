import pytest

from tenancy.models import Role


@pytest.fixture
def clerk_a(world):
    return world.staff_a[Role.CLERK]


@pytest.fixture
def manager_a(world):
    return world.staff_a[Role.STORE_MANAGER]
