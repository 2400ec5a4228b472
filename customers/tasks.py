from customers import importing
from tenancy.tasks import tenant_task


@tenant_task(name="customers.import_members", time_limit=60 * 60, soft_time_limit=55 * 60)
def import_members(job_id: int) -> None:
    importing.import_job_run(job_id=job_id)


@tenant_task(name="customers.sweep_import_jobs", time_limit=5 * 60, soft_time_limit=4 * 60)
def sweep_import_jobs() -> int:
    return importing.import_jobs_sweep()
