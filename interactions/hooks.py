"""Seams for the apps above interactions (loyalty, campaigns, analytics).

Interactions sits below them in the dependency order, so it never imports them. It sends
signals and calls functions that a higher app registers in its AppConfig.ready():

    from interactions import hooks
    hooks.register("survey_sender", send_survey_link)

Nothing registered means the feature is not wired up yet, and the caller says so (a survey
stays "not sent", a won lead keeps the sale reference as typed) instead of pretending.

Known hooks and their signatures:
- "sale_reference_check"(*, member, reference: str) -> str | None
    analytics: an error message when `reference` is not a sale of `member`, else None.
- "survey_sender"(*, member, text: str, kind: str) -> None
    campaigns: deliver a survey invitation `text` (containing the link) to `member`.
- "greeting_sender"(*, member, text: str, kind: str) -> None
    campaigns: deliver the membership anniversary greeting (kind "anniversary").
- "referral_rewarder"(*, referrer, referred, source_key: str) -> None
    loyalty: credit the referrer's points; `source_key` is unique per referral so the
    points ledger can refuse a duplicate.
- "referral_reverser"(*, referrer, source_key: str, original_source_key: str) -> None
    loyalty: take back the reward credited under `original_source_key` (the referred
    member's first sale was refunded in full), once per `source_key`.
- "behaviour_rewarder"(*, member, behaviour: str, source_key: str) -> None
    loyalty: credit points for a behaviour (see models.Behaviour), at most once each.
"""

from __future__ import annotations

from collections.abc import Callable

from django.dispatch import Signal

KNOWN = frozenset(
    {
        "sale_reference_check",
        "survey_sender",
        "referral_rewarder",
        "referral_reverser",
        "behaviour_rewarder",
        "greeting_sender",
    }
)

_registry: dict[str, Callable] = {}
_timeline_sources: dict[str, Callable] = {}

# Sent inside the resolving transaction, with case=ServiceCase.
case_resolved = Signal()

# Every event of this contract, for the contract test (tests/test_contracts.py).
EVENTS = {"case_resolved": case_resolved}


def register(name: str, func: Callable) -> None:
    if name not in KNOWN:
        raise ValueError(f"Unknown interactions hook {name!r}; known: {sorted(KNOWN)}")
    _registry[name] = func


def unregister(name: str) -> None:
    _registry.pop(name, None)


def get(name: str) -> Callable | None:
    return _registry.get(name)


def register_timeline_source(key: str, func: Callable) -> None:
    """Add entries from a higher app (purchases, points, campaign messages) to the timeline.

    `func(*, member, limit)` returns dicts with "at" (aware datetime), "title" and optionally
    "detail" and "url". Registering the same key again replaces the earlier function.
    """
    _timeline_sources[key] = func


def unregister_timeline_source(key: str) -> None:
    _timeline_sources.pop(key, None)


def timeline_sources() -> dict[str, Callable]:
    return dict(_timeline_sources)
