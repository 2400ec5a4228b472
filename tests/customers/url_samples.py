import datetime

from customers.models import Customer, DataRequest, ImportJob, RequestChannel, RequestKind
from tests.customers.factories import SegmentFactory, TagFactory
from tests.factories import CustomerFactory
from tests.url_samples import register


def member(store) -> dict:
    customer = Customer.objects.filter(home_store=store).first() or CustomerFactory(
        home_store=store
    )
    return {"pk": customer.pk}


def member_and_tag(store) -> dict:
    return {**member(store), "tag_pk": TagFactory(name="样例标签").pk}


def segment(store) -> dict:
    return {"pk": SegmentFactory().pk}


def import_job(store) -> dict:
    return {"pk": ImportJob.objects.create(file_path="", original_name="x.csv").pk}


def data_request(store) -> dict:
    today = datetime.date(2026, 1, 5)
    row = DataRequest.objects.create(
        kind=RequestKind.ACCESS,
        customer_id=member(store)["pk"],
        channel=RequestChannel.COUNTER,
        received_on=today,
        due_on=today + datetime.timedelta(days=21),
    )
    return {"pk": row.pk}


# Members are tenant-wide: staff of one store may serve a member of another store.
register("customers:profile", member, store_scoped=False)
register("customers:edit", member, store_scoped=False)
register("customers:reveal", member, store_scoped=False, ok_status=405)
register("customers:consent", member, store_scoped=False, ok_status=405)
register("customers:tag_add", member, store_scoped=False, ok_status=405)
register("customers:tag_remove", member_and_tag, store_scoped=False, ok_status=405)
register("customers:erase", member, store_scoped=False, ok_status=405)
register("customers:personal_data", member, store_scoped=False, ok_status=405)
register("customers:segment_edit", segment, store_scoped=False)
register("customers:segment_delete", segment, store_scoped=False, ok_status=405)
register("customers:import_job", import_job, store_scoped=False)
register("customers:import_errors", import_job, store_scoped=False)
register("customers:import_confirm", import_job, store_scoped=False, ok_status=405)
register("customers:import_discard", import_job, store_scoped=False, ok_status=405)
# POST-only URLs without arguments: refused for GET after the role check.
register("customers:bulk_tag", ok_status=405)
# The personal-data requests register is HQ's, tenant-wide.
register("customers:request_detail", data_request, store_scoped=False)
register("customers:request_export", data_request, store_scoped=False, ok_status=405)
register("customers:request_erase", data_request, store_scoped=False, ok_status=405)
