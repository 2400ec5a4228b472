from stores import services
from tenancy.tasks import tenant_task


@tenant_task(name="stores.reviews_mark_due", soft_time_limit=9 * 60, time_limit=10 * 60)
def reviews_mark_due() -> int:
    """Nightly: record a due re-review for each store whose review date has come."""
    return services.reviews_mark_due()
