"""Referrals and behaviour points: claimed once, rewarded through loyalty's registered hooks."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from interactions import hooks
from interactions.models import (
    BehaviourAward,
    Referral,
)
from tenancy.models import StaffMember
from tenancy.services import audit_record

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
