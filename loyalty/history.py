"""Ledger sources and loyalty audit events in words, rendered at read time.

A ledger entry's `source_key` ("sale:43", "birthday:2026:7", "demo-sale:43:2") is its
idempotency key: it stays exactly as written. What the reader sees is derived from it here: the
key's prefix names the kind of source and the rest are its parameters. Apps above loyalty
(analytics for sales, campaigns for birthday gifts) say what their prefixes mean and where they
link through `register_source` in their AppConfig.ready(); loyalty never imports them.
A free-text `reason` typed by staff is shown as typed, beside the source.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.history import HistoryLine, describe_values
from tenancy.messages import message_from_text, render


@dataclass(frozen=True)
class Source:
    label: str
    url: str = ""


@dataclass(frozen=True)
class _SourceKind:
    # "%(id)s"-style label over the key's parameters, e.g. gettext_lazy("Sale #%(id)s").
    label: Promise
    params: tuple[str, ...]
    url_name: str = ""
    url_kwarg: str = ""  # which parameter goes into the URL, under the same name


_sources: dict[str, _SourceKind] = {}


def register_source(
    *,
    prefix: str,
    label: Promise,
    params: tuple[str, ...] = ("id",),
    url_name: str = "",
    url_kwarg: str = "",
) -> None:
    """Say what ledger keys "<prefix>:<param>:<param>..." mean and where they link."""
    _sources[prefix] = _SourceKind(label, params, url_name, url_kwarg)


# loyalty's own sources, and those of interactions (below loyalty, so named here directly).
register_source(prefix="adjust", label=gettext_lazy("Adjustment"), params=("token",))
register_source(
    prefix="counter-redeem", label=gettext_lazy("Redeemed at the counter"), params=("token",)
)
register_source(prefix="merge-out", label=gettext_lazy("Moved out by a member merge"))
register_source(prefix="merge-in", label=gettext_lazy("Moved in by a member merge"))
register_source(prefix="expire", label=gettext_lazy("Points expired"))
register_source(prefix="tier-buy", label=gettext_lazy("Tier bought with points"), params=("token",))
register_source(prefix="import-opening", label=gettext_lazy("Opening balance from a member import"))
register_source(prefix="referral", label=gettext_lazy("Referral reward"))
register_source(prefix="referral-reversal", label=gettext_lazy("Referral reward taken back"))
register_source(prefix="behaviour", label=gettext_lazy("Reward for an action"))
register_source(prefix="demo-sale", label=gettext_lazy("Demo purchase"), params=("member", "n"))
register_source(prefix="demo-redeem", label=gettext_lazy("Demo redemption"), params=("member",))


def describe_source(source_key: str) -> Source:
    """A ledger key in words, with a link to the sale or campaign behind it when there is one."""
    prefix, _sep, rest = source_key.partition(":")
    kind = _sources.get(prefix)
    if kind is None:
        return Source(_("Other"))
    values = dict(zip(kind.params, rest.split(":"), strict=False))
    values.setdefault("id", rest)
    try:
        label = str(kind.label) % values
    except (KeyError, TypeError, ValueError):
        label = str(kind.label)
    url = ""
    if kind.url_name and values.get(kind.url_kwarg, "").isdigit():
        try:
            url = reverse(kind.url_name, kwargs={kind.url_kwarg: int(values[kind.url_kwarg])})
        except NoReverseMatch:
            url = ""
    return Source(label, url)


# Reasons the services write themselves are keys; staff-typed reasons are shown as typed.
SYSTEM_REASONS = {
    "qualifying sale": gettext_lazy("upgraded by spend"),
    "member merge": gettext_lazy("member merge"),
    "member import": gettext_lazy("member import"),
    "opening balance (member import)": gettext_lazy("opening balance (member import)"),
    "tier review": gettext_lazy("tier review"),
    "tier bought with points": gettext_lazy("tier bought with points"),
}


# Reasons that apps above loyalty once wrote as text rendered in the writer's language ("2026
# 年生日礼"): tenancy.messages keys whose templates read such a text back, so old ledger
# entries (append-only, never rewritten) read in the reader's language too.
_old_reason_keys: list[str] = []


def register_old_reason(*, key: str) -> None:
    """Old ledger reasons written from this tenancy.messages key are read back through it."""
    if key not in _old_reason_keys:
        _old_reason_keys.append(key)


def describe_reason(reason: str) -> str:
    label = SYSTEM_REASONS.get(reason)
    if label is not None:
        return str(label)
    if reason and _old_reason_keys:
        found = message_from_text(reason, _old_reason_keys)
        if found is not None:
            return render(found)
    return reason


def render_history(events: list) -> dict[int, HistoryLine]:
    """customers.hooks.register_history renderer for the "loyalty." audit actions."""
    from loyalty.models import Tier

    codes = {
        code
        for event in events
        if event.action in ("loyalty.tier_changed", "loyalty.tier_bought")
        for code in ((event.before or {}).get("tier"), (event.after or {}).get("tier"))
        if code
    }
    tier_names = (
        dict(Tier.objects.filter(code__in=codes).values_list("code", "name")) if codes else {}
    )
    lines = {}
    for event in events:
        after = event.after or {}
        before = event.before or {}
        reason = describe_reason(event.reason)
        url = ""
        if event.action == "loyalty.points_redeemed":
            label = _("Redeemed %(points)s points") % {"points": after.get("points", "")}
            source = describe_source(after.get("source", ""))
            detail, url = source.label, source.url
        elif event.action == "loyalty.points_adjusted":
            label = _("Points adjusted by %(points)+d") % {"points": int(after.get("points", 0))}
            detail = _("balance %(before)s → %(after)s") % {
                "before": before.get("balance", "—"),
                "after": after.get("balance", "—"),
            }
        elif event.action == "loyalty.points_merged":
            label = _("%(points)s points moved in from member %(card)s") % {
                "points": after.get("points", 0),
                "card": after.get("from", ""),
            }
            detail = ""
        elif event.action == "loyalty.tier_changed":
            old, new = before.get("tier") or "", after.get("tier") or ""
            label = _("Tier changed to %(tier)s") % {"tier": tier_names.get(new, new)}
            detail = (
                _("from %(tier)s") % {"tier": tier_names.get(old, old)} if old else _("first tier")
            )
        elif event.action == "loyalty.tier_bought":
            new = after.get("tier") or ""
            label = _("Bought %(tier)s with %(points)s points") % {
                "tier": tier_names.get(new, new),
                "points": after.get("points", ""),
            }
            source = describe_source(after.get("source", ""))
            detail, url = source.label, source.url
        elif event.action == "loyalty.points_adjust_refused":
            label = _("Points adjustment refused")
            detail = describe_values(after)
        else:
            continue
        if reason:
            detail = f"{detail} · {reason}" if detail else reason
        lines[event.pk] = HistoryLine(event, label, detail, url)
    return lines
