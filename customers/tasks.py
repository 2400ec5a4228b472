from customers import importing, privacy
from tenancy.tasks import tenant_task


@tenant_task(name="customers.import_members", time_limit=60 * 60, soft_time_limit=55 * 60)
def import_members(job_id: int) -> None:
    importing.import_job_run(job_id=job_id)


@tenant_task(name="customers.sweep_import_jobs", time_limit=5 * 60, soft_time_limit=4 * 60)
def sweep_import_jobs() -> int:
    return importing.import_jobs_sweep()


@tenant_task(name="customers.retention_anonymise", time_limit=60 * 60, soft_time_limit=55 * 60)
def retention_anonymise() -> int:
    return privacy.retention_run(max_seconds=privacy.RETENTION_MAX_SECONDS)


@tenant_task(name="customers.remind_data_requests", time_limit=10 * 60, soft_time_limit=9 * 60)
def remind_data_requests() -> dict[str, int]:
    return privacy.data_requests_remind()
