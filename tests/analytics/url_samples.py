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
