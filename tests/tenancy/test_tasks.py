import pytest
from celery import current_app

from tenancy.context import current_tenant
from tenancy.tasks import fan_out, tenant_task
from tests.factories import TenantFactory

seen: list[tuple[str, int]] = []


@tenant_task(name="tests.record_tenant")
def record_tenant(label: str) -> None:
    seen.append((label, current_tenant().pk))


@pytest.mark.django_db
def test_fan_out_runs_the_task_once_per_active_tenant_inside_its_context():
    seen.clear()
    a = TenantFactory(slug="a")
    b = TenantFactory(slug="b")
    TenantFactory(slug="gone", is_active=False)
    assert "tests.record_tenant" in current_app.tasks
    queued = fan_out.apply(args=["tests.record_tenant"], kwargs={"label": "nightly"}).get()
    assert queued == 2
    assert sorted(seen) == sorted([("nightly", a.pk), ("nightly", b.pk)])
