"""The member's history of changes, rendered at read time in the reader's language.

Audit events store an action key (`customer.tag_added`, `loyalty.points_redeemed`) and
parameters (`before`, `after`, `reason`). Nothing here is stored as display text: each action
prefix has one renderer that turns a batch of events into lines with a label, a detail and an
optional link. customers renders its own actions; apps above it register theirs through
`register_history` (customers.hooks) and never get imported from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.models import Customer


@dataclass(frozen=True)
class HistoryLine:
    event: object
    label: str
    detail: str = ""
    url: str = ""


# A renderer takes the events of its prefix and returns {event pk: HistoryLine}. It gets a
# batch so it can look up what it names (tiers, sales) in one query, not one per line.
Renderer = Callable[[list], dict[int, HistoryLine]]
_renderers: dict[str, Renderer] = {}


def register_history(*, prefix: str, render: Renderer) -> None:
    """Render every audit action starting with `prefix` + "." (e.g. "loyalty")."""
    _renderers[prefix] = render


CUSTOMER_ACTIONS = {
    "customer.enrolled": gettext_lazy("Member enrolled"),
    "customer.updated": gettext_lazy("Details changed"),
    "customer.consent_given": gettext_lazy("Marketing consent given"),
    "customer.consent_withdrawn": gettext_lazy("Marketing consent withdrawn"),
    "customer.phone_revealed": gettext_lazy("Full mobile number viewed"),
    "customer.personal_data_exported": gettext_lazy("Personal data downloaded"),
    "customer.erased": gettext_lazy("Personal data erased"),
    "customer.tag_added": gettext_lazy("Tag added"),
    "customer.tag_removed": gettext_lazy("Tag removed"),
    "customer.tag_bulk_added": gettext_lazy("Tag added"),
    "customer.tag_bulk_removed": gettext_lazy("Tag removed"),
    "customer.merged": gettext_lazy("Members merged"),
    "customer.exported": gettext_lazy("Included in an export"),
    "customer.imported": gettext_lazy("Written by a member import"),
}


def field_label(name: str) -> str:
    """A member field's name in the reader's language (the key itself if it is not a field)."""
    try:
        return str(Customer._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name


def describe_values(values: dict | None) -> str:
    """`{"name": "王芳", "marketing_consent": True}` as `姓名: 王芳; 营销同意: 是`."""
    parts = []
    for key, value in (values or {}).items():
        if value is True:
            value = _("yes")
        elif value is False:
            value = _("no")
        elif value in (None, ""):
            value = "—"
        parts.append(f"{field_label(key)}: {value}")
    return "; ".join(parts)


def _render_customer(events: list) -> dict[int, HistoryLine]:
    lines = {}
    for event in events:
        label = CUSTOMER_ACTIONS.get(event.action)
        if label is None:
            continue
        values = event.after or event.before
        detail = describe_values(values)
        if event.reason:
            detail = f"{detail} · {event.reason}" if detail else event.reason
        lines[event.pk] = HistoryLine(event, str(label), detail)
    return lines


register_history(prefix="customer", render=_render_customer)


def render_history(events: Iterable) -> list[HistoryLine]:
    """Each event as a line, newest first as given; an action nobody renders says so plainly."""
    events = list(events)
    by_prefix: dict[str, list] = {}
    for event in events:
        by_prefix.setdefault(event.action.split(".", 1)[0], []).append(event)
    lines: dict[int, HistoryLine] = {}
    for prefix, group in by_prefix.items():
        render = _renderers.get(prefix)
        if render is not None:
            lines.update(render(group))
    return [
        lines.get(event.pk)
        or HistoryLine(event, _("Other change"), describe_values(event.after or event.before))
        for event in events
    ]
