from interactions import services
from tenancy.tasks import tenant_task


@tenant_task(name="interactions.escalate_overdue_cases")
def escalate_overdue_cases() -> dict[str, int]:
    return services.cases_escalate_overdue()


@tenant_task(name="interactions.remind_due_follow_ups")
def remind_due_follow_ups() -> int:
    return services.leads_remind_due()


@tenant_task(name="interactions.greet_anniversaries")
def greet_anniversaries() -> int:
    return services.anniversaries_greet()
