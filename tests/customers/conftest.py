import pytest

from tenancy.context import tenant_context
from tests.factories import CustomerFactory


@pytest.fixture
def in_a(world):
    with tenant_context(world.tenant_a):
        yield world


@pytest.fixture
def member(in_a):
    return CustomerFactory(phone="13812345678", card_number="8000000001", home_store=in_a.store_a1)
