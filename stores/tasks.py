from stores import services
from tenancy.tasks import tenant_task


@tenant_task(name="stores.reviews_mark_due", soft_time_limit=9 * 60, time_limit=10 * 60)
def reviews_mark_due() -> int:
    """Nightly: record a due re-review for each store whose review date has come."""
    return services.reviews_mark_due()


@tenant_task(name="stores.sweep_import_uploads", soft_time_limit=4 * 60, time_limit=5 * 60)
def sweep_import_uploads() -> int:
    """Hourly: store files checked but never confirmed are deleted after a day."""
    return services.store_uploads_sweep()
