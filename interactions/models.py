"""Customer interactions: the contact log, service cases with SLAs, and their history."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customers.models import Customer
from stores.models import Store
from tenancy.fields import EncryptedCharField
from tenancy.messages import render as render_message
from tenancy.models import (
    StaffMember,
    TenantScopedManager,
    TenantScopedModel,
    TenantScopedQuerySet,
)


class Channel(models.TextChoices):
    VISIT = "visit", _("Store visit")
    CALL = "call", _("Phone call")
    WECHAT = "wechat", _("WeChat message")
    CONSULTATION = "consultation", _("In-store consultation")
    NOTE = "note", _("Note")


class Interaction(TenantScopedModel):
    """One contact with a member (互动记录): who, where, how, when, and what was said."""

    member = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="interactions", verbose_name=_("member")
    )
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="interactions", verbose_name=_("store")
    )
    staff = models.ForeignKey(
        StaffMember,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="interactions",
        verbose_name=_("staff member"),
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    occurred_at = models.DateTimeField(_("time"), default=timezone.now)
    text = models.TextField(_("what happened"), blank=True)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(
                fields=["tenant", "member", "-occurred_at"], name="interaction_member_idx"
            ),
            models.Index(fields=["tenant", "store", "-occurred_at"], name="interaction_store_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.occurred_at:%Y-%m-%d %H:%M}"


class CaseKind(models.TextChoices):
    COMPLAINT = "complaint", _("Complaint")
    FEEDBACK = "feedback", _("Feedback")
    REPAIR = "repair", _("Repair request")
    EXCHANGE = "exchange", _("Exchange request")
    SPECIAL_ORDER = "special_order", _("Special order")


class CaseCategory(TenantScopedModel):
    """A kind of case with the service level HQ promises for it (hours until due)."""

    name = models.CharField(_("name"), max_length=50)
    kind = models.CharField(_("kind"), max_length=20, choices=CaseKind.choices)
    sla_hours = models.PositiveIntegerField(_("due within (hours)"), default=48)
    # Cases opened automatically after a low satisfaction score go to this category.
    for_low_scores = models.BooleanField(_("for low survey scores"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("case category")
        verbose_name_plural = _("case categories")
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="case_category_name_uniq"),
            models.CheckConstraint(
                condition=models.Q(sla_hours__gte=1), name="case_category_sla_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class CaseStatus(models.TextChoices):
    NEW = "new", pgettext_lazy("case status", "New")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING = "waiting", _("Waiting for customer")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


OPEN_STATUSES = (CaseStatus.NEW, CaseStatus.IN_PROGRESS, CaseStatus.WAITING)

# The only moves a case may make. Resolved may be reopened while the customer still
# disagrees; closed is final.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    CaseStatus.NEW: (CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED),
    CaseStatus.IN_PROGRESS: (CaseStatus.WAITING, CaseStatus.RESOLVED),
    CaseStatus.WAITING: (CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED),
    CaseStatus.RESOLVED: (CaseStatus.CLOSED, CaseStatus.IN_PROGRESS),
    CaseStatus.CLOSED: (),
}


class Escalation(models.IntegerChoices):
    NONE = 0, _("Not escalated")
    STORE_MANAGER = 1, _("Escalated to the store manager")
    HQ = 2, _("Escalated to HQ")


class ServiceCaseQuerySet(TenantScopedQuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def overdue(self, now=None):
        return self.open().filter(due_at__lt=now or timezone.now())


class ServiceCase(TenantScopedModel):
    """A complaint, a feedback item or a service request, followed until it is closed."""

    member = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="service_cases", verbose_name=_("member")
    )
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="service_cases", verbose_name=_("store")
    )
    category = models.ForeignKey(
        CaseCategory, on_delete=models.PROTECT, related_name="cases", verbose_name=_("category")
    )
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    # A subject the system writes (a low survey score) is a message key with parameters
    # (tenancy.messages), read in the reader's language; staff-typed subjects stay text.
    subject_message = models.JSONField(
        _("subject (message key)"), default=dict, blank=True, encoder=DjangoJSONEncoder
    )
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=CaseStatus.choices, default=CaseStatus.NEW
    )
    assignee = models.ForeignKey(
        StaffMember,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_cases",
        verbose_name=_("assignee"),
    )
    opened_by = models.ForeignKey(
        StaffMember,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("opened by"),
    )
    due_at = models.DateTimeField(_("due"))
    created_at = models.DateTimeField(_("opened at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    escalation = models.PositiveSmallIntegerField(
        _("escalation"), choices=Escalation.choices, default=Escalation.NONE
    )
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)

    # Keeps the tenant filter of TenantScopedManager and adds .open() / .overdue().
    objects = TenantScopedManager.from_queryset(ServiceCaseQuerySet)()

    class Meta:
        verbose_name = _("service case")
        verbose_name_plural = _("service cases")
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(fields=["tenant", "store", "status"], name="case_store_status_idx"),
            models.Index(fields=["tenant", "status", "due_at"], name="case_status_due_idx"),
            models.Index(fields=["tenant", "assignee", "status"], name="case_assignee_idx"),
            models.Index(fields=["tenant", "member"], name="case_member_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject_text}"

    @property
    def subject_text(self) -> str:
        return render_message(self.subject_message, fallback=self.subject)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.due_at < timezone.now()

    def allowed_transitions(self) -> list[tuple[str, str]]:
        return [(value, CaseStatus(value).label) for value in TRANSITIONS[self.status]]


class CaseComment(TenantScopedModel):
    case = models.ForeignKey(
        ServiceCase, on_delete=models.CASCADE, related_name="comments", verbose_name=_("case")
    )
    author = models.ForeignKey(
        StaffMember,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("author"),
    )
    text = models.TextField(_("comment"))
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("case comment")
        verbose_name_plural = _("case comments")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tenant", "case"], name="case_comment_case_idx")]

    def __str__(self) -> str:
        return self.text[:50]


class CaseAttachment(TenantScopedModel):
    """A photo or document on a case; served only through the scoped download view."""

    case = models.ForeignKey(
        ServiceCase, on_delete=models.CASCADE, related_name="attachments", verbose_name=_("case")
    )
    file = models.FileField(_("file"), upload_to="case-attachments/%Y/%m/")
    name = models.CharField(_("name"), max_length=200)
    content_type = models.CharField(_("type"), max_length=100)
    size = models.PositiveIntegerField(_("size"))
    uploaded_by = models.ForeignKey(
        StaffMember, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("case attachment")
        verbose_name_plural = _("case attachments")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tenant", "case"], name="case_attachment_case_idx")]

    def __str__(self) -> str:
        return self.name


class LeadStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("lead status", "Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class Lead(TenantScopedModel):
    """A member's buying intent recorded by a clerk, followed up until won or lost."""

    member = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="leads", verbose_name=_("member")
    )
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="leads", verbose_name=_("store")
    )
    owner = models.ForeignKey(
        StaffMember,
        null=True,
        on_delete=models.SET_NULL,
        related_name="leads",
        verbose_name=_("owner"),
    )
    product = models.CharField(_("product"), max_length=200)
    budget = models.DecimalField(
        _("budget"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    next_step = models.CharField(_("next step"), max_length=200, blank=True)
    follow_up_on = models.DateField(_("follow up on"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=LeadStatus.choices, default=LeadStatus.OPEN
    )
    # The sale that won it (an analytics sale id or receipt number), given when closing.
    sale_reference = models.CharField(_("sale"), max_length=64, blank=True)
    lost_reason = models.CharField(_("reason lost"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # The follow-up day whose reminder was sent: the reminder job claims it once per day.
    reminded_for = models.DateField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("sales lead")
        verbose_name_plural = _("sales leads")
        ordering = ["follow_up_on", "id"]
        indexes = [
            models.Index(
                fields=["tenant", "owner", "status", "follow_up_on"], name="lead_owner_due_idx"
            ),
            models.Index(fields=["tenant", "store", "status"], name="lead_store_status_idx"),
            models.Index(fields=["tenant", "member"], name="lead_member_idx"),
        ]

    def __str__(self) -> str:
        return self.product


class LeadFollowUp(TenantScopedModel):
    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="follow_ups", verbose_name=_("lead")
    )
    staff = models.ForeignKey(StaffMember, null=True, on_delete=models.SET_NULL, related_name="+")
    note = models.TextField(_("what was said"))
    # The follow-up day that was due when this one was made (none when none was set): a
    # follow-up is on time when made on or before it (staff performance reads this).
    due_on = models.DateField(_("was due on"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "lead"], name="lead_follow_up_lead_idx")]

    def __str__(self) -> str:
        return self.note[:50]


class SurveyKind(models.TextChoices):
    CSAT = "csat", _("Satisfaction (1-5)")
    NPS = "nps", _("Recommendation (0-10)")


SCORE_RANGE = {SurveyKind.CSAT: (1, 5), SurveyKind.NPS: (0, 10)}
# At or below this score a follow-up case is opened (CSAT 1-2, NPS detractors 0-6).
LOW_SCORE = {SurveyKind.CSAT: 2, SurveyKind.NPS: 6}


class Survey(TenantScopedModel):
    """One invitation to rate us, reachable through a signed one-time link."""

    member = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="surveys", verbose_name=_("member")
    )
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="surveys", verbose_name=_("store")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=SurveyKind.choices)
    case = models.ForeignKey(
        ServiceCase,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="surveys",
        verbose_name=_("about case"),
    )
    # The sale it follows, when the sales app asked for it.
    sale_reference = models.CharField(_("sale"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "store", "-created_at"], name="survey_store_idx"),
            models.Index(fields=["tenant", "case"], name="survey_case_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class SurveyResponse(TenantScopedModel):
    """The single answer to a survey; the unique constraint makes a second one impossible."""

    survey = models.ForeignKey(
        Survey, on_delete=models.CASCADE, related_name="responses", verbose_name=_("survey")
    )
    score = models.PositiveSmallIntegerField(_("score"))
    comment = models.TextField(_("comment"), blank=True)
    answered_at = models.DateTimeField(_("answered at"), auto_now_add=True)
    follow_up_case = models.ForeignKey(
        ServiceCase,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("follow-up case"),
    )

    class Meta:
        verbose_name = _("survey response")
        verbose_name_plural = _("survey responses")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "survey"], name="survey_one_response"),
            models.CheckConstraint(condition=models.Q(score__lte=10), name="survey_score_max"),
        ]

    def __str__(self) -> str:
        return f"{self.survey} = {self.score}"


class PriceSensitivity(models.TextChoices):
    LOW = "low", _("Low: buys for quality")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High: waits for offers")


class MemberProfile(TenantScopedModel):
    """What the stores learn about a member beyond the basics, plus the name's pinyin keys.

    One row per member (a tenant-first unique constraint rather than a one-to-one field).
    The pinyin columns are written whenever the member is saved (see receivers.py), so a
    search for "zw" is an indexed prefix lookup.
    """

    member = models.ForeignKey(
        Customer,
        on_delete=models.CASCADE,
        related_name="interaction_profiles",
        verbose_name=_("member"),
    )
    # Encrypted at rest (tenancy.fields); read only to address a WeChat message to the member.
    wechat_id = EncryptedCharField(_("WeChat ID"), max_length=50, blank=True)
    occupation = models.CharField(_("occupation"), max_length=50, blank=True)
    interests = models.CharField(_("interests"), max_length=200, blank=True)
    preferred_brands = models.CharField(_("preferred brands"), max_length=200, blank=True)
    preferred_categories = models.CharField(_("preferred categories"), max_length=200, blank=True)
    price_sensitivity = models.CharField(
        _("price sensitivity"), max_length=10, choices=PriceSensitivity.choices, blank=True
    )
    name_pinyin = models.CharField(max_length=200, blank=True, editable=False)
    name_initials = models.CharField(max_length=50, blank=True, editable=False)
    # "MM-DD" of the enrolment day in the tenant's zone, for the anniversary greeting job.
    anniversary = models.CharField(max_length=5, blank=True, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("member profile")
        verbose_name_plural = _("member profiles")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "member"], name="member_profile_per_member"),
        ]
        indexes = [
            # Prefix searches run as range conditions (see pinyin.prefix_upper_bound), which
            # a plain btree index serves even under row-level security.
            models.Index(fields=["tenant", "name_initials"], name="profile_initials_idx"),
            models.Index(fields=["tenant", "name_pinyin"], name="profile_pinyin_idx"),
            models.Index(fields=["tenant", "anniversary"], name="profile_anniversary_idx"),
        ]

    def __str__(self) -> str:
        return str(self.member_id)

    @property
    def is_complete(self) -> bool:
        return all(
            [
                self.wechat_id,
                self.occupation,
                self.interests,
                self.preferred_brands or self.preferred_categories,
                self.price_sensitivity,
            ]
        )


class Referral(TenantScopedModel):
    """Member `referred` joined on the recommendation of member `referrer`.

    A member is referred at most once (tenant-first unique constraint). The referrer's reward
    is claimed once, on the referred member's first sale, by a conditional update of
    first_sale_at (see services.referral_first_sale).
    """

    referred = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="+", verbose_name=_("referred member")
    )
    referrer = models.ForeignKey(
        Customer,
        on_delete=models.CASCADE,
        related_name="referrals_made",
        verbose_name=_("referred by"),
    )
    recorded_by = models.ForeignKey(
        StaffMember, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    first_sale_at = models.DateTimeField(_("first sale at"), null=True, blank=True)
    first_sale_reference = models.CharField(_("first sale"), max_length=64, blank=True)
    rewarded = models.BooleanField(_("referrer rewarded"), default=False)
    # Set when the first sale was refunded in full and the reward taken back; the referral
    # then stays spent (a later sale does not reward again).
    reversed_at = models.DateTimeField(_("reward taken back at"), null=True, blank=True)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "referred"], name="referral_once_per_member"),
            models.CheckConstraint(
                condition=~models.Q(referred=models.F("referrer")), name="referral_not_self"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "referrer"], name="referral_referrer_idx")]

    def __str__(self) -> str:
        return f"{self.referrer_id} -> {self.referred_id}"


class Behaviour(models.TextChoices):
    PROFILE_COMPLETED = "profile_completed", _("Completed the profile")
    FIRST_REVIEW = "first_review", _("First review")


class BehaviourAward(TenantScopedModel):
    """Claim row: a member earns points for each configured behaviour at most once."""

    member = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    behaviour = models.CharField(_("behaviour"), max_length=30, choices=Behaviour.choices)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("behaviour award")
        verbose_name_plural = _("behaviour awards")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "member", "behaviour"], name="behaviour_award_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.behaviour}"


class AnniversaryGreeting(TenantScopedModel):
    """Claim row: a member is greeted on their membership anniversary at most once a year.

    Committed before the greeting is handed to the sender, so a crash or a repeated run
    never greets twice (at worst a claimed greeting is not sent, which `sent_at` shows).
    """

    member = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    year = models.PositiveSmallIntegerField(_("year"))
    created_at = models.DateTimeField(_("time"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("anniversary greeting")
        verbose_name_plural = _("anniversary greetings")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "member", "year"], name="anniversary_once_a_year"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.year}"
