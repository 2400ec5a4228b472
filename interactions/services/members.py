"""What interactions does when members merge or are erased, and what it tells a data-subject
request.
"""

from __future__ import annotations

from django.utils import timezone

from customers.models import Customer
from interactions.models import (
    Interaction,
    MemberProfile,
    Referral,
    ServiceCase,
    SurveyResponse,
)
from tenancy.messages import render as render_message

# --- personal data (customers' member_erased and personal_data_requested events) -------------

PROFILE_PERSONAL_FIELDS = (
    "wechat_id",
    "occupation",
    "interests",
    "preferred_brands",
    "preferred_categories",
    "price_sensitivity",
)


def member_personal_data(*, member: Customer) -> dict:
    """What interactions holds about one member, for a data-subject request."""
    profile = MemberProfile.objects.filter(member=member).values(*PROFILE_PERSONAL_FIELDS).first()
    referral = Referral.objects.filter(referred=member).select_related("referrer").first()
    return {
        "profile": profile or {},
        "referred_by": referral.referrer.card_number if referral else None,
        "contacts": [
            {"at": row["occurred_at"].isoformat(), "channel": row["channel"], "text": row["text"]}
            for row in Interaction.objects.filter(member=member)
            .order_by("occurred_at")
            .values("occurred_at", "channel", "text")
        ],
        "cases": [
            {
                "opened_at": row["created_at"].isoformat(),
                "subject": render_message(row["subject_message"], fallback=row["subject"]),
                "description": row["description"],
                "status": row["status"],
            }
            for row in ServiceCase.objects.filter(member=member)
            .order_by("created_at")
            .values("created_at", "subject", "subject_message", "description", "status")
        ],
        "survey_answers": [
            {
                "answered_at": row["answered_at"].isoformat(),
                "score": row["score"],
                "comment": row["comment"],
            }
            for row in SurveyResponse.objects.filter(survey__member=member)
            .order_by("answered_at")
            .values("answered_at", "score", "comment")
        ],
    }


def member_personal_data_erase(*, member: Customer) -> None:
    """Blank the profile details a member gave (the name keys follow the erased name)."""
    MemberProfile.objects.filter(member=member).update(
        **{name: "" for name in PROFILE_PERSONAL_FIELDS}, updated_at=timezone.now()
    )
