from django.utils import timezone

from analytics.models import SaleImport, StoreApiToken
from tenancy.models import Role, StaffMember
from tests.analytics.factories import record_sale
from tests.url_samples import register


def _admin():
    return StaffMember.objects.filter(role=Role.HQ_ADMIN).order_by("pk").first()


def _sale(store):
    return {"sale_id": record_sale(store, timezone.now()).pk}


def _import(store):
    sale_import = SaleImport.objects.create(store=store, uploaded_by=_admin(), file_name="x.csv")
    return {"import_id": sale_import.pk}


def _token(store):
    token = StoreApiToken.objects.create(
        store=store,
        name="t",
        key=f"k{store.pk}x{StoreApiToken.unscoped.count()}",
        secret_hash="0" * 64,
        created_by=_admin(),
    )
    return {"token_id": token.pk}


register("analytics:store_dashboard", lambda store: {"store_id": store.pk})
register("analytics:sale_detail", _sale)
register("analytics:import_detail", _import)
# POST only: GET answers 405 to those who may confirm.
register("analytics:import_confirm", _import, ok_status=405)
# HQ-only and POST-only: another store's token is fine for HQ, GET answers 405.
register("analytics:token_revoke", _token, ok_status=405)


def _statement(store):
    """The statement of the store's clerk (the matrix's own clerk for the own store), so each
    role sees it as its scope says: the clerk their own, the store's manager their staff's."""
    import datetime

    from analytics.models import IncentiveStatement
    from tests.factories import StaffMemberFactory, StoreAssignmentFactory

    clerk = (
        StaffMember.objects.filter(role=Role.CLERK, store_assignments__store=store)
        .order_by("pk")
        .first()
    )
    if clerk is None:
        clerk = StaffMemberFactory(role=Role.CLERK)
        StoreAssignmentFactory(staff=clerk, store=store)
    statement, _ = IncentiveStatement.objects.get_or_create(
        staff=clerk,
        month=datetime.date(2026, 1, 1),
        defaults={"computed_at": timezone.now()},
    )
    return {"statement_id": statement.pk}


register("analytics:statement_detail", _statement)
register("analytics:statement_export", _statement)
# POST only: GET answers 405 to those who may confirm.
register("analytics:statement_confirm", _statement, ok_status=405)
register("analytics:statements_compute", ok_status=405)
