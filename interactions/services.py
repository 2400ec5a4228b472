"""Every write of the interactions app: contact log, service cases and their escalation."""

from __future__ import annotations

import calendar
import datetime
import random
from decimal import Decimal

from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from interactions import hooks
from interactions.models import (
    LOW_SCORE,
    SCORE_RANGE,
    TRANSITIONS,
    AnniversaryGreeting,
    Behaviour,
    BehaviourAward,
    CaseAttachment,
    CaseCategory,
    CaseComment,
    CaseKind,
    CaseStatus,
    Escalation,
    Interaction,
    Lead,
    LeadFollowUp,
    LeadStatus,
    MemberProfile,
    Priority,
    Referral,
    ServiceCase,
    Survey,
    SurveyKind,
    SurveyResponse,
)
from interactions.pinyin import name_keys
from stores.models import Store
from tenancy.dates import tenant_today
from tenancy.models import HQ_ROLES, Role, StaffMember, Tenant
from tenancy.services import audit_record, notify

# ---------------------------------------------------------------------------------------
# Contact log


def _check_store(staff: StaffMember | None, store: Store) -> None:
    if staff is not None and not staff.can_access_store(store.pk):
        raise ValidationError({"store": _("You do not work for this store.")})


@transaction.atomic
def interaction_record(
    *,
    staff: StaffMember,
    member: Customer,
    store: Store,
    channel: str,
    text: str = "",
    occurred_at: datetime.datetime | None = None,
) -> Interaction:
    """Log one contact with a member, at a store the staff member works for."""
    _check_store(staff, store)
    if member.is_erased:
        raise ValidationError(_("This member has been erased."))
    interaction = Interaction.objects.create(
        member=member,
        store=store,
        staff=staff,
        channel=channel,
        text=text.strip(),
        occurred_at=occurred_at or timezone.now(),
    )
    audit_record(
        action="interaction.record",
        actor=staff,
        obj=member,
        after={"interaction": interaction.pk, "channel": channel, "store": store.code},
    )
    return interaction


# ---------------------------------------------------------------------------------------
# Case categories (HQ sets the service level)


@transaction.atomic
def case_category_save(
    *,
    actor: StaffMember,
    name: str,
    kind: str,
    sla_hours: int,
    is_active: bool = True,
    category: CaseCategory | None = None,
) -> CaseCategory:
    if CaseCategory.objects.filter(name=name).exclude(pk=getattr(category, "pk", None)).exists():
        raise ValidationError({"name": _("A category with this name already exists.")})
    before = None
    if category is None:
        category = CaseCategory()
    else:
        before = {"name": category.name, "kind": category.kind, "sla_hours": category.sla_hours}
    category.name = name
    category.kind = kind
    category.sla_hours = sla_hours
    category.is_active = is_active
    category.save()
    audit_record(
        action="case_category.save",
        actor=actor,
        obj=category,
        before=before,
        after={"name": name, "kind": kind, "sla_hours": sla_hours, "is_active": is_active},
    )
    return category


# ---------------------------------------------------------------------------------------
# Service cases


def case_url(case: ServiceCase) -> str:
    return reverse("interactions:case_detail", kwargs={"pk": case.pk})


def store_managers(store: Store):
    return StaffMember.objects.filter(
        role=Role.STORE_MANAGER, is_active=True, store_assignments__store=store
    ).select_related("user")


def hq_staff():
    return StaffMember.objects.filter(role__in=HQ_ROLES, is_active=True).select_related("user")


def _check_assignee(case_store: Store, assignee: StaffMember | None) -> None:
    if assignee is not None and not (
        assignee.is_active and assignee.can_access_store(case_store.pk)
    ):
        raise ValidationError({"assignee": _("The assignee does not work for this store.")})


def _notify_assigned(case: ServiceCase, actor: StaffMember | None) -> None:
    if case.assignee_id and case.assignee_id != getattr(actor, "pk", None):
        notify(
            recipients=[case.assignee],
            kind="case.assigned",
            title=_("Case #%(number)s was assigned to you: %(subject)s")
            % {"number": case.pk, "subject": case.subject},
            body=_("Due %(due)s")
            % {"due": timezone.localtime(case.due_at).strftime("%Y-%m-%d %H:%M")},
            link=case_url(case),
        )


@transaction.atomic
def case_open(
    *,
    actor: StaffMember | None,
    member: Customer,
    store: Store,
    category: CaseCategory,
    subject: str,
    description: str = "",
    priority: str = "normal",
    assignee: StaffMember | None = None,
) -> ServiceCase:
    """Open a case; it is due after the category's service level (set by HQ)."""
    _check_store(actor, store)
    _check_assignee(store, assignee)
    if not category.is_active:
        raise ValidationError({"category": _("This category is no longer in use.")})
    case = ServiceCase.objects.create(
        member=member,
        store=store,
        category=category,
        subject=subject.strip(),
        description=description.strip(),
        priority=priority,
        assignee=assignee,
        opened_by=actor,
        due_at=timezone.now() + datetime.timedelta(hours=category.sla_hours),
    )
    audit_record(
        action="case.open",
        actor=actor,
        obj=case,
        after={"store": store.code, "category": category.name, "priority": priority},
    )
    _notify_assigned(case, actor)
    return case


def _locked(case: ServiceCase) -> ServiceCase:
    # Lock the case row: two people changing the status at once must not both pass the
    # transition check against the same old status.
    return ServiceCase.objects.select_for_update().get(pk=case.pk)


@transaction.atomic
def case_transition(*, actor: StaffMember, case: ServiceCase, status: str) -> ServiceCase:
    """Move a case along new -> in progress -> waiting -> resolved -> closed, nothing else."""
    locked = _locked(case)
    if status not in TRANSITIONS[locked.status]:
        raise ValidationError(
            _("A case that is “%(current)s” cannot become “%(target)s”.")
            % {
                "current": CaseStatus(locked.status).label,
                "target": CaseStatus(status).label if status in CaseStatus.values else status,
            }
        )
    before = locked.status
    now = timezone.now()
    locked.status = status
    if status == CaseStatus.RESOLVED:
        locked.resolved_at = now
    elif status == CaseStatus.CLOSED:
        locked.closed_at = now
    elif before == CaseStatus.RESOLVED:
        locked.resolved_at = None  # reopened
    locked.save(update_fields=["status", "resolved_at", "closed_at", "updated_at"])
    audit_record(
        action="case.transition",
        actor=actor,
        obj=locked,
        before={"status": before},
        after={"status": status},
    )
    if status == CaseStatus.RESOLVED:
        hooks.case_resolved.send(sender=ServiceCase, case=locked)
    return locked


@transaction.atomic
def case_assign(
    *, actor: StaffMember, case: ServiceCase, assignee: StaffMember | None
) -> ServiceCase:
    locked = _locked(case)
    if not locked.is_open:
        raise ValidationError(_("Only open cases can be reassigned."))
    _check_assignee(locked.store, assignee)
    before = locked.assignee_id
    locked.assignee = assignee
    locked.save(update_fields=["assignee", "updated_at"])
    audit_record(
        action="case.assign",
        actor=actor,
        obj=locked,
        before={"assignee": before},
        after={"assignee": getattr(assignee, "pk", None)},
    )
    if before != getattr(assignee, "pk", None):
        _notify_assigned(locked, actor)
    return locked


@transaction.atomic
def case_comment_add(*, actor: StaffMember, case: ServiceCase, text: str) -> CaseComment:
    text = text.strip()
    if not text:
        raise ValidationError({"text": _("Write a comment first.")})
    comment = CaseComment.objects.create(case=case, author=actor, text=text)
    ServiceCase.objects.filter(pk=case.pk).update(updated_at=timezone.now())
    audit_record(action="case.comment", actor=actor, obj=case, after={"comment": comment.pk})
    if case.assignee_id and case.assignee_id != actor.pk:
        notify(
            recipients=[case.assignee],
            kind="case.comment",
            title=_("New comment on case #%(number)s") % {"number": case.pk},
            body=text[:200],
            link=case_url(case),
        )
    return comment


ATTACHMENT_MAX_BYTES = 5 * 1024 * 1024
# Extension -> (declared content type, the file's first bytes). The content is checked too,
# so a renamed executable is refused even when the browser calls it image/png.
ATTACHMENT_TYPES = {
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".pdf": ("application/pdf", (b"%PDF-",)),
}


@transaction.atomic
def case_attachment_add(
    *, actor: StaffMember, case: ServiceCase, upload: UploadedFile
) -> CaseAttachment:
    name = (upload.name or "").rsplit("/", 1)[-1]
    extension = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if upload.size > ATTACHMENT_MAX_BYTES:
        raise ValidationError({"file": _("Files may be at most 5 MB.")})
    if extension not in ATTACHMENT_TYPES:
        raise ValidationError({"file": _("Only JPEG, PNG and PDF files can be attached.")})
    content_type, signatures = ATTACHMENT_TYPES[extension]
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    if not any(head.startswith(signature) for signature in signatures):
        raise ValidationError({"file": _("The file's content does not match its type.")})
    attachment = CaseAttachment(
        case=case, name=name[:200], content_type=content_type, size=upload.size, uploaded_by=actor
    )
    attachment.file.save(name, upload, save=False)
    attachment.save()
    audit_record(action="case.attach", actor=actor, obj=case, after={"file": attachment.name})
    return attachment


def hq_escalation_hours(tenant) -> int:
    """How long past due a case waits at the store manager before HQ is told (tenant setting)."""
    return int(tenant.setting("cases_hq_escalation_hours", 24))


def cases_escalate_overdue(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Flag overdue open cases: first to the store's managers, then (later) to HQ.

    Idempotent: each level is claimed with a conditional update on the case row
    (escalation < level), so a repeated or concurrent run notifies nobody twice.
    """
    from tenancy.context import current_tenant

    now = now or timezone.now()
    tenant = current_tenant()
    hq_after = datetime.timedelta(hours=hq_escalation_hours(tenant))
    counts = {"store_manager": 0, "hq": 0}
    overdue = ServiceCase.objects.overdue(now).select_related("store", "assignee")
    for case in overdue.filter(escalation__lt=Escalation.HQ).iterator(chunk_size=200):
        level = Escalation.HQ if case.due_at + hq_after < now else Escalation.STORE_MANAGER
        if case.escalation >= level:
            continue
        with transaction.atomic():
            claimed = ServiceCase.objects.filter(pk=case.pk, escalation__lt=level).update(
                escalation=level, escalated_at=now
            )
            if not claimed:
                continue  # another run got there first
            if level == Escalation.HQ:
                recipients = hq_staff()
                title = _("Case #%(number)s is overdue and was escalated to HQ: %(subject)s")
                counts["hq"] += 1
            else:
                recipients = [*store_managers(case.store), case.assignee]
                title = _("Case #%(number)s is overdue: %(subject)s")
                counts["store_manager"] += 1
            notify(
                recipients=recipients,
                kind="case.overdue",
                title=title % {"number": case.pk, "subject": case.subject},
                body=_("Store %(store)s, due %(due)s")
                % {
                    "store": case.store.code,
                    "due": timezone.localtime(case.due_at, tenant.zone).strftime("%Y-%m-%d %H:%M"),
                },
                link=case_url(case),
            )
            audit_record(
                action="case.escalate", obj=case, after={"level": int(level)}, reason="overdue"
            )
    return counts


# ---------------------------------------------------------------------------------------
# Sales leads and follow-ups


def _check_lead_open(lead: Lead) -> None:
    if lead.status != LeadStatus.OPEN:
        raise ValidationError(_("This lead is already closed."))


@transaction.atomic
def lead_create(
    *,
    staff: StaffMember,
    member: Customer,
    store: Store,
    product: str,
    budget: Decimal | None = None,
    next_step: str = "",
    follow_up_on: datetime.date | None = None,
) -> Lead:
    """Record a member's buying intent; the clerk who records it follows it up."""
    _check_store(staff, store)
    lead = Lead.objects.create(
        member=member,
        store=store,
        owner=staff,
        product=product.strip(),
        budget=budget,
        next_step=next_step.strip(),
        follow_up_on=follow_up_on,
    )
    audit_record(action="lead.create", actor=staff, obj=lead, after={"product": lead.product})
    return lead


def _locked_lead(lead: Lead) -> Lead:
    # Lock the lead: a follow-up saved while someone else closes it must see the close.
    return Lead.objects.select_for_update().get(pk=lead.pk)


@transaction.atomic
def lead_follow_up(
    *,
    staff: StaffMember,
    lead: Lead,
    note: str,
    next_step: str = "",
    follow_up_on: datetime.date | None = None,
) -> LeadFollowUp:
    locked = _locked_lead(lead)
    _check_lead_open(locked)
    follow_up = LeadFollowUp.objects.create(lead=locked, staff=staff, note=note.strip())
    locked.next_step = next_step.strip()
    locked.follow_up_on = follow_up_on
    locked.save(update_fields=["next_step", "follow_up_on"])
    audit_record(
        action="lead.follow_up",
        actor=staff,
        obj=locked,
        after={
            "follow_up": follow_up.pk,
            "next_step": locked.next_step,
            "follow_up_on": follow_up_on.isoformat() if follow_up_on else None,
        },
    )
    return follow_up


@transaction.atomic
def lead_win(*, staff: StaffMember, lead: Lead, sale_reference: str) -> Lead:
    """Close a lead as won, with the sale that won it (checked by the sales app if present)."""
    locked = _locked_lead(lead)
    _check_lead_open(locked)
    reference = sale_reference.strip()
    if not reference:
        raise ValidationError({"sale_reference": _("Give the sale that won this lead.")})
    check = hooks.get("sale_reference_check")
    if check is not None:
        problem = check(member=locked.member, reference=reference)
        if problem:
            raise ValidationError({"sale_reference": problem})
    locked.status = LeadStatus.WON
    locked.sale_reference = reference
    locked.closed_at = timezone.now()
    locked.save(update_fields=["status", "sale_reference", "closed_at"])
    audit_record(action="lead.won", actor=staff, obj=locked, after={"sale": reference})
    return locked


@transaction.atomic
def lead_lose(*, staff: StaffMember, lead: Lead, reason: str) -> Lead:
    locked = _locked_lead(lead)
    _check_lead_open(locked)
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the lead was lost.")})
    locked.status = LeadStatus.LOST
    locked.lost_reason = reason.strip()
    locked.closed_at = timezone.now()
    locked.save(update_fields=["status", "lost_reason", "closed_at"])
    audit_record(action="lead.lost", actor=staff, obj=locked, after={"reason": locked.lost_reason})
    return locked


REMINDER_HOUR = 8


def leads_remind_due(*, today: datetime.date | None = None) -> int:
    """Tell each owner about their open leads due today or earlier, once per follow-up day.

    Idempotent: the reminder for a lead's follow-up day is claimed with a conditional update
    of `reminded_for`; a second run the same day finds nothing to claim.
    """
    if today is None:
        from tenancy.context import current_tenant

        local_now = timezone.localtime(timezone.now(), current_tenant().zone)
        if local_now.hour < REMINDER_HOUR:
            return 0  # beat runs hourly; people hear of the day's follow-ups in the morning
        today = local_now.date()
    due = Lead.objects.filter(
        status=LeadStatus.OPEN, follow_up_on__lte=today, owner__isnull=False
    ).exclude(reminded_for=F("follow_up_on"))
    by_owner: dict[int, list[Lead]] = {}
    for lead in due.select_related("owner", "member"):
        claimed = (
            Lead.objects.filter(pk=lead.pk)
            .exclude(reminded_for=F("follow_up_on"))
            .update(reminded_for=F("follow_up_on"))
        )
        if claimed:
            by_owner.setdefault(lead.owner_id, []).append(lead)
    for leads in by_owner.values():
        owner = leads[0].owner
        notify(
            recipients=[owner],
            kind="lead.follow_up_due",
            title=_("%(count)s follow-ups are due") % {"count": len(leads)},
            body="、".join(f"{lead.member.name}：{lead.product}" for lead in leads[:10]),
            link=reverse("interactions:lead_today"),
        )
    return sum(len(leads) for leads in by_owner.values())


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
            subject=_("Low satisfaction score %(score)s from %(name)s")
            % {"score": score, "name": survey.member.name},
            description=comment.strip(),
            priority=Priority.HIGH,
        )
        response.follow_up_case = case
        response.save(update_fields=["follow_up_case"])
        notify(
            recipients=store_managers(survey.store),
            kind="survey.low_score",
            title=case.subject,
            body=comment.strip()[:200],
            link=case_url(case),
        )
    return response


# ---------------------------------------------------------------------------------------
# Member profile and name search keys


def member_name_keys_sync(*, member: Customer) -> MemberProfile:
    """Write the member's pinyin and anniversary keys to their profile row (made if missing)."""
    keys = _member_keys(member, _tenant().zone)
    profile, _created = MemberProfile.objects.get_or_create(member=member, defaults=keys)
    if any(getattr(profile, name) != value for name, value in keys.items()):
        for name, value in keys.items():
            setattr(profile, name, value)
        profile.save(update_fields=[*keys, "updated_at"])
    return profile


def _member_keys(member: Customer, zone) -> dict[str, str]:
    return _keys_of(member.name, member.created_at, zone)


def member_name_keys_sync_many(*, member_ids: list[int], batch_size: int = 2000) -> int:
    """member_name_keys_sync for members written in bulk (an import): set-based per batch.

    Runs inside the import's write transaction, so it is built for 100,000 rows: members are
    read as plain values, and on PostgreSQL new profiles go in as one INSERT per batch
    (bulk_create's per-field preparation was a third of an import). Returns how many profile
    rows were created or changed.
    """
    zone = _tenant().zone
    tenant_id = _tenant().pk
    now = timezone.now()
    touched = 0
    for start in range(0, len(member_ids), batch_size):
        chunk = member_ids[start : start + batch_size]
        profiles = {p.member_id: p for p in MemberProfile.objects.filter(member_id__in=chunk)}
        new: list[tuple[int, dict]] = []
        changed = []
        for pk, name, created_at in Customer.objects.filter(pk__in=chunk).values_list(
            "pk", "name", "created_at"
        ):
            keys = _keys_of(name, created_at, zone)
            profile = profiles.get(pk)
            if profile is None:
                new.append((pk, keys))
            elif any(getattr(profile, field) != value for field, value in keys.items()):
                for field, value in keys.items():
                    setattr(profile, field, value)
                changed.append(profile)
        _profiles_insert(new, tenant_id=tenant_id, now=now)
        if changed:
            MemberProfile.objects.bulk_update(
                changed, ["name_pinyin", "name_initials", "anniversary"], batch_size=batch_size
            )
        touched += len(new) + len(changed)
    return touched


def _keys_of(name: str, created_at, zone) -> dict[str, str]:
    full, initials = name_keys(name)
    anniversary = timezone.localtime(created_at, zone).strftime("%m-%d") if created_at else ""
    return {"name_pinyin": full, "name_initials": initials, "anniversary": anniversary}


def _profiles_insert(rows: list[tuple[int, dict]], *, tenant_id: int, now) -> None:
    """New profile rows (member id, keys): one INSERT on PostgreSQL, bulk_create elsewhere."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        MemberProfile.objects.bulk_create(
            [MemberProfile(member_id=pk, **keys) for pk, keys in rows]
        )
        return
    columns = (
        "tenant_id, member_id, wechat_id, occupation, interests, preferred_brands, "
        "preferred_categories, price_sensitivity, name_pinyin, name_initials, anniversary, "
        "updated_at"
    )
    values = ", ".join(["(%s, %s, '', '', '', '', '', '', %s, %s, %s, %s)"] * len(rows))
    params: list = []
    for pk, keys in rows:
        params += [
            tenant_id, pk, keys["name_pinyin"], keys["name_initials"], keys["anniversary"], now
        ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {MemberProfile._meta.db_table} ({columns}) VALUES {values}",  # noqa: S608 - fixed names, values are parameters
            params,
        )


def member_name_keys_rebuild(*, batch_size: int = 2000) -> int:
    """Backfill keys for members written without signals (bulk imports); returns how many.

    Members without a profile row get one in batches (bulk insert; a row created meanwhile
    by a save is left alone); rows whose keys are empty are recomputed one by one.
    """
    zone = _tenant().zone
    count = 0
    missing = (
        Customer.objects.exclude(pk__in=MemberProfile.objects.values("member_id"))
        .only("pk", "name", "created_at")
        .order_by("pk")
    )
    batch: list[MemberProfile] = []
    for member in missing.iterator(chunk_size=batch_size):
        batch.append(MemberProfile(member_id=member.pk, **_member_keys(member, zone)))
        if len(batch) >= batch_size:
            MemberProfile.objects.bulk_create(batch, ignore_conflicts=True)
            count += len(batch)
            batch = []
    if batch:
        MemberProfile.objects.bulk_create(batch, ignore_conflicts=True)
        count += len(batch)
    stale = Customer.objects.filter(
        Q(interaction_profiles__name_initials="") | Q(interaction_profiles__anniversary="")
    ).exclude(name="")
    for member in stale.only("pk", "name", "created_at").iterator(chunk_size=batch_size):
        member_name_keys_sync(member=member)
        count += 1
    return count


PROFILE_FIELDS = (
    "wechat_id",
    "occupation",
    "interests",
    "preferred_brands",
    "preferred_categories",
    "price_sensitivity",
)


@transaction.atomic
def member_profile_update(*, staff: StaffMember, member: Customer, **fields) -> MemberProfile:
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown profile fields: {sorted(unknown)}")
    profile = member_name_keys_sync(member=member)
    # Lock the row: two clerks saving the same profile must not mix halves of each edit.
    profile = MemberProfile.objects.select_for_update().get(pk=profile.pk)
    before = {name: getattr(profile, name) for name in PROFILE_FIELDS}
    for name, value in fields.items():
        setattr(profile, name, value.strip() if isinstance(value, str) else value)
    profile.save()
    after = {name: getattr(profile, name) for name in PROFILE_FIELDS}
    if profile.is_complete:
        behaviour_award(member=member, behaviour=Behaviour.PROFILE_COMPLETED)
    audit_record(
        action="member_profile.update",
        actor=staff,
        obj=member,
        before={k: v for k, v in before.items() if v != after[k]},
        after={k: v for k, v in after.items() if v != before[k]},
    )
    return profile


# ---------------------------------------------------------------------------------------
# Referrals and behaviour points (rewards through the loyalty app's registered hooks)


@transaction.atomic
def referral_record(*, staff: StaffMember, referred: Customer, referrer: Customer) -> Referral:
    if referred.pk == referrer.pk:
        raise ValidationError({"referrer": _("A member cannot refer themselves.")})
    if Referral.objects.filter(referred=referred).exists():
        raise ValidationError({"referrer": _("This member already has a referrer.")})
    if Referral.objects.filter(referred=referrer, referrer=referred).exists():
        raise ValidationError({"referrer": _("These two members cannot refer each other.")})
    try:
        with transaction.atomic():
            referral = Referral.objects.create(
                referred=referred, referrer=referrer, recorded_by=staff
            )
    except IntegrityError as error:  # recorded by someone else a moment ago
        raise ValidationError({"referrer": _("This member already has a referrer.")}) from error
    audit_record(
        action="referral.record", actor=staff, obj=referred, after={"referrer": referrer.pk}
    )
    return referral


@transaction.atomic
def referral_first_sale(*, member: Customer, sale_reference: str) -> bool:
    """Called by the sales app for each recorded sale; rewards the referrer exactly once.

    The first caller wins the conditional update (first_sale_at IS NULL); on PostgreSQL a
    concurrent second caller waits for the row, then finds it set and does nothing. The
    reward runs in the same transaction, so a failed reward releases the claim.
    Returns True when this call rewarded (or, with no rewarder installed, claimed) it.
    """
    claimed = Referral.objects.filter(referred=member, first_sale_at__isnull=True).update(
        first_sale_at=timezone.now(), first_sale_reference=sale_reference[:64]
    )
    if not claimed:
        return False
    referral = Referral.objects.select_related("referrer", "referred").get(referred=member)
    rewarder = hooks.get("referral_rewarder")
    if rewarder is not None:
        # Marked first, in this transaction: the rewarder's tier check counts this referral,
        # and a failing reward rolls the mark back with everything else.
        Referral.objects.filter(pk=referral.pk).update(rewarded=True)
        rewarder(
            referrer=referral.referrer,
            referred=referral.referred,
            source_key=f"referral:{referral.pk}",
        )
    audit_record(
        action="referral.first_sale",
        obj=member,
        after={"sale": sale_reference, "rewarded": rewarder is not None},
    )
    return True


@transaction.atomic
def referral_first_sale_refunded(*, member: Customer, sale_reference: str) -> bool:
    """Called by the sales app when a sale is refunded in full; True when a reward was taken
    back. Only the sale that earned the referral counts, and only once: the conditional
    update of reversed_at decides, as first_sale_at does for the reward."""
    taken = Referral.objects.filter(
        referred=member,
        first_sale_reference=sale_reference[:64],
        rewarded=True,
        reversed_at__isnull=True,
    ).update(reversed_at=timezone.now())
    if not taken:
        return False
    referral = Referral.objects.select_related("referrer").get(referred=member)
    reverser = hooks.get("referral_reverser")
    if reverser is not None:
        reverser(
            referrer=referral.referrer,
            source_key=f"referral-reversal:{referral.pk}",
            original_source_key=f"referral:{referral.pk}",
        )
    audit_record(
        action="referral.reversed",
        obj=member,
        after={"sale": sale_reference, "points_taken_back": reverser is not None},
    )
    return True


def behaviour_award(*, member: Customer, behaviour: str) -> bool:
    """Reward a configured behaviour at most once per member; True when this call did.

    Nothing is claimed while no rewarder is installed, so the member can still earn it
    once loyalty is wired up.
    """
    rewarder = hooks.get("behaviour_rewarder")
    if rewarder is None:
        return False
    try:
        with transaction.atomic():
            award = BehaviourAward.objects.create(member=member, behaviour=behaviour)
            rewarder(member=member, behaviour=behaviour, source_key=f"behaviour:{award.pk}")
    except IntegrityError:
        return False  # already earned: the unique claim row says so
    return True


# ---------------------------------------------------------------------------------------
# Membership anniversary greeting


def anniversaries_greet(*, today: datetime.date | None = None) -> int:
    """Greet members whose membership anniversary is today (tenant's day); returns how many.

    Feb 29 enrolments are greeted on Feb 28 in common years. Only members who agreed to
    marketing messages, and only when a sender is installed (campaigns). Each greeting's
    claim row is committed before sending, so a repeat run the same year sends nothing.
    """
    sender = hooks.get("greeting_sender")
    if sender is None:
        return 0
    today = today or tenant_today()
    days = [today.strftime("%m-%d")]
    if today.month == 2 and today.day == 28 and not calendar.isleap(today.year):
        days.append("02-29")
    due = (
        MemberProfile.objects.filter(
            anniversary__in=days,
            member__is_erased=False,
            member__marketing_consent=True,
        )
        .select_related("member")
        .order_by("pk")
    )
    greeted = 0
    zone = _tenant().zone
    for profile in due.iterator(chunk_size=500):
        member = profile.member
        years = today.year - timezone.localtime(member.created_at, zone).year
        if years < 1:
            continue  # enrolled this very day of this year
        try:
            with transaction.atomic():
                claim = AnniversaryGreeting.objects.create(member=member, year=today.year)
        except IntegrityError:
            continue  # greeted already this year
        text = _("Happy %(years)s-year membership anniversary, %(name)s! Thank you.") % {
            "years": years,
            "name": member.name,
        }
        sender(member=member, text=text, kind="anniversary")
        AnniversaryGreeting.objects.filter(pk=claim.pk).update(sent_at=timezone.now())
        greeted += 1
    return greeted


def interactions_merge(*, source: Customer, target: Customer) -> None:
    """Move a merged-away member's contacts, cases, leads, surveys and claims to the survivor.

    Runs inside customers' merge transaction (member_merged). One-per-member rows (profile,
    referral, behaviour and anniversary claims) move only where the survivor has none, so a
    reward or greeting already claimed by the survivor is never claimed twice.
    """
    for model in (Interaction, ServiceCase, Lead, Survey):
        model.objects.filter(member=source).update(member=target)
    source_profile = MemberProfile.objects.filter(member=source).first()
    target_profile = MemberProfile.objects.filter(member=target).first()
    if source_profile is not None:
        if target_profile is None:
            source_profile.member = target
            source_profile.save()
        else:
            for field in (
                "wechat_id",
                "occupation",
                "interests",
                "preferred_brands",
                "preferred_categories",
                "price_sensitivity",
            ):
                if not getattr(target_profile, field) and getattr(source_profile, field):
                    setattr(target_profile, field, getattr(source_profile, field))
            target_profile.save()
            source_profile.delete()
    # Who referred the survivor stays; the source's own referral is kept only if none exists.
    if Referral.objects.filter(referred=target).exists():
        Referral.objects.filter(referred=source).delete()
    else:
        Referral.objects.filter(referred=source).exclude(referrer=target).update(referred=target)
        Referral.objects.filter(referred=source).delete()
    # Members the source referred are now the survivor's referrals (never the survivor itself).
    Referral.objects.filter(referrer=source, referred=target).delete()
    Referral.objects.filter(referrer=source).update(referrer=target)
    for model, key in ((BehaviourAward, "behaviour"), (AnniversaryGreeting, "year")):
        claimed = set(model.objects.filter(member=target).values_list(key, flat=True))
        model.objects.filter(member=source, **{f"{key}__in": claimed}).delete()
        model.objects.filter(member=source).update(member=target)


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
                "subject": row["subject"],
                "description": row["description"],
                "status": row["status"],
            }
            for row in ServiceCase.objects.filter(member=member)
            .order_by("created_at")
            .values("created_at", "subject", "description", "status")
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
