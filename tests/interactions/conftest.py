import pytest

from tenancy.context import tenant_context
from tests.factories import CustomerFactory
from tests.interactions.factories import CaseCategoryFactory


@pytest.fixture
def member_a(world):
    with tenant_context(world.tenant_a):
        return CustomerFactory(home_store=world.store_a1, name="张伟", phone="13812345678")


@pytest.fixture
def category_a(world):
    with tenant_context(world.tenant_a):
        return CaseCategoryFactory(name="质量投诉", sla_hours=24)


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    """Attachments written by these tests land in a temporary folder, not in media/."""
    settings.MEDIA_ROOT = tmp_path / "media"
