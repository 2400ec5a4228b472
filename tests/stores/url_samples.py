"""Role-matrix samples for the store pages: each builds an object belonging to `store`."""

from __future__ import annotations

from stores import services
from stores.models import ApplicationKind, StoreCodeApplication, StoreReview
from tenancy.models import Role, StaffMember
from tests.stores.factories import hq_staff, pdf_upload, store_type
from tests.url_samples import register


def _applicant_for(store):
    """The store's own manager if it has one (so they may see it), else HQ staff."""
    manager = StaffMember.objects.filter(
        role=Role.STORE_MANAGER, store_assignments__store=store
    ).first()
    return manager or hq_staff()


def _application(store) -> StoreCodeApplication:
    """A draft code change for `store`, made by its manager when it has one."""
    other = store_type("JM" if store.store_type.code != "JM" else "ZY")
    return services.application_create(
        applicant=_applicant_for(store),
        kind=ApplicationKind.CODE_CHANGE,
        store=store,
        region=store.region,
        store_type=other,
        reason="样例",
    )


def _document(store):
    application = _application(store)
    document = services.document_add(
        application=application, upload=pdf_upload(), actor=application.applicant
    )
    return {"pk": document.pk}


def _review(store):
    review, _ = StoreReview.objects.get_or_create(store=store, due_on=store.created_at.date())
    return {"pk": review.pk}


def _store(store):
    return {"pk": store.pk}


def _app(store):
    return {"pk": _application(store).pk}


register("stores:store_detail", _store)
register("stores:store_status", _store, ok_status=405)
register("stores:code_change_create", _store)
register("stores:application_detail", _app)
register("stores:application_edit", _app)
register("stores:application_submit", _app, ok_status=405)
register("stores:application_approve", _app, ok_status=405)
register("stores:application_reject", _app, ok_status=405)
register("stores:document_upload", _app, ok_status=405)
register("stores:document_download", _document)
register("stores:review_record", _review, ok_status=405)
register(
    "stores:setup_edit", lambda store: {"kind": "region", "pk": store.region_id}, store_scoped=False
)
register(
    "stores:setup_delete",
    lambda store: {"kind": "store_type", "pk": store.store_type_id},
    store_scoped=False,
    ok_status=405,
)
