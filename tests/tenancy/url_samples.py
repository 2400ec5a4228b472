from tenancy.models import Role
from tests.factories import StaffMemberFactory, StoreAssignmentFactory
from tests.url_samples import register


def staff_of(store):
    staff = StaffMemberFactory(role=Role.CLERK)
    StoreAssignmentFactory(staff=staff, store=store)
    return {"pk": staff.pk}


# Sign-out only answers POST; GET is refused after the role check.
register("logout", ok_status=405)
register("staff_edit", staff_of, store_scoped=False)
register("staff_password", staff_of, store_scoped=False, ok_status=405)
register("inbox_read", ok_status=405)
register("inbox_settings", ok_status=405)
