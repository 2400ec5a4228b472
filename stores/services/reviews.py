"""Store status and the periodic re-review."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from stores.models import (
    ReviewStatus,
    Store,
    StoreReview,
    StoreStatus,
)
from stores.services.applications import (
    _require_hq,
    _store_managers,
    _tell,
    store_code_hq_recipients,
)
from stores.services.codes import next_review_date
from tenancy.dates import tenant_today
from tenancy.messages import message
from tenancy.models import StaffMember
from tenancy.services import audit_record

# --- Store status ---------------------------------------------------------------------------


@transaction.atomic
def store_set_status(*, store: Store, status: str, actor: StaffMember, reason: str) -> Store:
    """Move a store between 筹备/营业/停业/闭店. Closing is final; the code stays with it."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Give a reason for the status change."))
    store = Store.objects.select_for_update().get(pk=store.pk)
    if store.status == StoreStatus.CLOSED:
        raise ValidationError(_("A closed store cannot be reopened."))
    if status not in StoreStatus.values:
        raise ValidationError(_("Unknown status."))
    before = store.status
    store.status = status
    fields = ["status"]
    if status == StoreStatus.OPEN and store.opened_on is None:
        store.opened_on = tenant_today()
        fields.append("opened_on")
    if status == StoreStatus.CLOSED:
        store.next_review_on = None
        fields.append("next_review_on")
    store.save(update_fields=fields)
    audit_record(
        action="stores.store_status",
        actor=actor,
        obj=store,
        before={"status": before},
        after={"status": status},
        reason=reason,
    )
    return store


# --- Periodic re-review ---------------------------------------------------------------------


@transaction.atomic
def reviews_mark_due(*, today: datetime.date | None = None) -> int:
    """Record a due review for every store whose next review date has come (nightly job).

    Idempotent: at most one review per store and due date (unique constraint), so a re-run
    or two overlapping runs add nothing.
    """
    today = today or tenant_today()
    due_stores = list(
        Store.objects.exclude(status=StoreStatus.CLOSED)
        .filter(next_review_on__lte=today)
        .values_list("pk", "next_review_on")
    )
    existing = set(
        StoreReview.objects.filter(store_id__in=[pk for pk, _ in due_stores]).values_list(
            "store_id", "due_on"
        )
    )
    new = [
        StoreReview(store_id=pk, due_on=due_on)
        for pk, due_on in due_stores
        if (pk, due_on) not in existing
    ]
    created = StoreReview.objects.bulk_create(new, ignore_conflicts=True)
    if created:
        audit_record(
            action="stores.reviews_due",
            after={"stores": len(created), "date": today.isoformat()},
        )
        _tell_reviews_due([review.store_id for review in created])
    return len(created)


def _tell_reviews_due(store_ids: list[int]) -> None:
    """HQ hears once how many stores are due; each store's managers hear about their store."""
    queue = reverse("stores:review_queue")
    _tell(
        store_code_hq_recipients(),
        actor=None,
        kind="stores.reviews_due",
        title=message("stores.reviews_due.title", count=len(store_ids)),
        link=queue,
    )
    for store in Store.objects.filter(pk__in=store_ids).order_by("code"):
        _tell(
            _store_managers(store),
            actor=None,
            kind="stores.reviews_due",
            title=message("stores.store_review_due.title", code=store.code, name=store.name),
            link=reverse("stores:store_detail", args=[store.pk]),
        )


@transaction.atomic
def review_record(
    *, review: StoreReview, reviewer: StaffMember, outcome: str, note: str = ""
) -> StoreReview:
    """Record a re-review's outcome: confirmed, needs change, or close the store."""
    _require_hq(reviewer)
    if outcome not in (ReviewStatus.CONFIRMED, ReviewStatus.NEEDS_CHANGE, ReviewStatus.CLOSED):
        raise ValidationError(_("Choose an outcome."))
    note = (note or "").strip()
    if outcome != ReviewStatus.CONFIRMED and not note:
        raise ValidationError(_("Explain the outcome in a note."))
    # Lock the review so that two reviewers cannot both record an outcome.
    review = StoreReview.objects.select_for_update().get(pk=review.pk)
    if review.status != ReviewStatus.DUE:
        raise ValidationError(_("This review has already been recorded."))
    store = Store.objects.select_for_update().get(pk=review.store_id)
    review.status = outcome
    review.note = note
    review.reviewed_by = reviewer
    review.reviewed_at = timezone.now()
    review.save(update_fields=["status", "note", "reviewed_by", "reviewed_at"])
    before = {"status": store.status, "next_review_on": store.next_review_on}
    if outcome == ReviewStatus.CLOSED:
        store.status = StoreStatus.CLOSED
        store.next_review_on = None
    else:
        store.next_review_on = next_review_date(after=max(review.due_on, tenant_today()))
    store.save(update_fields=["status", "next_review_on"])
    audit_record(
        action=f"stores.review_{outcome}",
        actor=reviewer,
        obj=store,
        before=before,
        after={"status": store.status, "next_review_on": store.next_review_on},
        reason=note,
    )
    return review
