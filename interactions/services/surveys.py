"""Satisfaction surveys: created after a case or a purchase, sent through the registered
sender, answered once.
"""

from __future__ import annotations

import datetime
import random

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from interactions import hooks
from interactions.models import (
    LOW_SCORE,
    SCORE_RANGE,
    CaseCategory,
    CaseKind,
    Priority,
    ServiceCase,
    Survey,
    SurveyKind,
    SurveyResponse,
)
from interactions.services.cases import case_open, case_url, store_managers
from stores.models import Store
from tenancy.messages import message
from tenancy.models import Tenant
from tenancy.services import audit_record, notify

# ---------------------------------------------------------------------------------------
# Satisfaction surveys

SURVEY_SALT = "interactions.survey.link"
# The signature itself stops working after this long whatever a tenant sets.
SURVEY_LINK_MAX_DAYS = 60


class SurveyRefused(Exception):
    """A survey link that must not be answered: bad, expired, unknown or already used."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def survey_token(survey: Survey) -> str:
    return signing.dumps({"t": survey.tenant_id, "s": survey.pk}, salt=SURVEY_SALT)


def survey_path(survey: Survey) -> str:
    return reverse("interactions:survey_answer", kwargs={"token": survey_token(survey)})


def _tenant():
    from tenancy.context import current_tenant

    return current_tenant()


@transaction.atomic
def survey_request(
    *,
    member: Customer,
    store: Store,
    kind: str = SurveyKind.CSAT,
    case: ServiceCase | None = None,
    sale_reference: str = "",
) -> Survey:
    """Create a survey and, after the commit, hand its link to the registered sender.

    The sales app calls this after a sale; resolving a case calls it through
    survey_after_case(). Without a sender (campaigns not installed) the survey waits,
    unsent, and staff can copy its link from the case page.
    """
    days = int(_tenant().setting("survey_link_days", 14))
    survey = Survey.objects.create(
        member=member,
        store=store,
        kind=kind,
        case=case,
        sale_reference=sale_reference,
        expires_at=timezone.now() + datetime.timedelta(days=min(days, SURVEY_LINK_MAX_DAYS)),
    )
    audit_record(action="survey.create", obj=survey, after={"kind": kind})
    transaction.on_commit(lambda: survey_send(survey=survey))
    return survey


def survey_send(*, survey: Survey) -> bool:
    """Deliver the invitation through the registered sender; True when it was handed over."""
    sender = hooks.get("survey_sender")
    if sender is None:
        return False
    if survey.case_id is None and not survey.member.marketing_consent:
        return False  # a survey after a sale is marketing: only with the member's consent
    url = _tenant().setting("public_base_url", "").rstrip("/") + survey_path(survey)
    text = _("%(store)s invites you to rate your experience: %(url)s") % {
        "store": survey.store.name,
        "url": url,
    }
    sender(member=survey.member, text=text, kind="survey")
    Survey.objects.filter(pk=survey.pk, sent_at__isnull=True).update(sent_at=timezone.now())
    return True


def survey_after_case(*, case: ServiceCase, rng: random.Random | None = None) -> Survey | None:
    """A resolved case gets a survey, sampled by the tenant setting survey_case_sample_rate."""
    rate = float(_tenant().setting("survey_case_sample_rate", 1.0))
    if case.surveys.exists() or (rng or random).random() >= rate:
        return None
    return survey_request(
        member=case.member,
        store=case.store,
        kind=_tenant().setting("survey_kind", SurveyKind.CSAT),
        case=case,
    )


def survey_from_token(token: str) -> tuple[Tenant, int]:
    """Who the link belongs to. Raises SurveyRefused for a bad or too old signature."""
    try:
        payload = signing.loads(
            token, salt=SURVEY_SALT, max_age=datetime.timedelta(days=SURVEY_LINK_MAX_DAYS)
        )
    except signing.SignatureExpired as error:
        raise SurveyRefused("expired") from error
    except signing.BadSignature as error:
        raise SurveyRefused("invalid") from error
    tenant = Tenant.objects.filter(pk=payload.get("t"), is_active=True).first()
    if tenant is None or not isinstance(payload.get("s"), int):
        raise SurveyRefused("invalid")
    return tenant, payload["s"]


def low_score_category() -> CaseCategory:
    category = CaseCategory.objects.filter(for_low_scores=True, is_active=True).first()
    if category is None:
        category, _created = CaseCategory.objects.get_or_create(
            name=_("Low satisfaction follow-up"),
            defaults={"kind": CaseKind.FEEDBACK, "sla_hours": 24, "for_low_scores": True},
        )
    return category


@transaction.atomic
def survey_answer(*, survey: Survey, score: int, comment: str = "") -> SurveyResponse:
    """Record the one answer to a survey; a low score opens a follow-up case."""
    # Lock the survey: two submissions at once must not both see "not answered yet".
    survey = Survey.objects.select_for_update().select_related("member", "store").get(pk=survey.pk)
    if survey.expires_at <= timezone.now():
        raise SurveyRefused("expired")
    if SurveyResponse.objects.filter(survey=survey).exists():
        raise SurveyRefused("answered")
    low, high = SCORE_RANGE[survey.kind]
    if not low <= score <= high:
        raise ValidationError(
            {"score": _("Choose a score from %(low)s to %(high)s.") % {"low": low, "high": high}}
        )
    try:
        with transaction.atomic():
            response = SurveyResponse.objects.create(
                survey=survey, score=score, comment=comment.strip()
            )
    except IntegrityError as error:  # the unique constraint, should the lock be bypassed
        raise SurveyRefused("answered") from error
    # Answered by the member through the link: no staff actor.
    audit_record(action="survey.answer", obj=survey, after={"score": score})
    if score <= LOW_SCORE[survey.kind]:
        case = case_open(
            actor=None,
            member=survey.member,
            store=survey.store,
            category=low_score_category(),
            subject=message("survey.low_score.title", score=score, name=survey.member.name),
            description=comment.strip(),
            priority=Priority.HIGH,
        )
        response.follow_up_case = case
        response.save(update_fields=["follow_up_case"])
        notify(
            recipients=store_managers(survey.store),
            kind="survey.low_score",
            title=message("survey.low_score.title", score=score, name=survey.member.name),
            body=comment.strip()[:200],
            link=case_url(case),
        )
    return response
