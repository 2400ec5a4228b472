"""The navigation bar, built from what each app registers in its AppConfig.ready()."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.translation import pgettext_lazy


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    roles: frozenset[str] | None  # None: every signed-in staff member
    order: int = 100

    def __init__(self, label, url_name, *, roles: Iterable[str] | None, order: int = 100):
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "url_name", url_name)
        object.__setattr__(self, "roles", None if roles is None else frozenset(roles))
        object.__setattr__(self, "order", order)


_registry: dict[str, NavItem] = {}


def register(*items: NavItem) -> None:
    for item in items:
        _registry[item.url_name] = item


def label_for(url_name: str) -> str | None:
    """The navigation label of a page, when it has one (the 403 page names what was tried)."""
    item = _registry.get(url_name)
    return item.label if item else None


def items_for(role: str | None) -> list[dict]:
    if role is None:
        return []
    visible = []
    for item in sorted(_registry.values(), key=lambda i: (i.order, i.url_name)):
        if item.roles is not None and role not in item.roles:
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        visible.append({"label": item.label, "url": url, "url_name": item.url_name})
    return visible


# Menus for people who use many pages (HQ, managers): one per area, folded. Roles with few
# pages (the counter) keep a flat row, so every task there stays one click away.
FLAT_UP_TO = 10
_GROUP_OF_NAMESPACE = {
    "stores": ("stores", pgettext_lazy("navigation menu", "Stores")),
    "customers": ("members", pgettext_lazy("navigation menu", "Members")),
    "loyalty": ("members", pgettext_lazy("navigation menu", "Members")),
    "interactions": ("service", pgettext_lazy("navigation menu", "Service")),
    "campaigns": ("marketing", pgettext_lazy("navigation menu", "Marketing")),
    "analytics": ("sales", pgettext_lazy("navigation menu", "Sales")),
    "catalog": ("sales", pgettext_lazy("navigation menu", "Sales")),
}
_ADMINISTRATION = ("admin", pgettext_lazy("navigation menu", "Administration"))


def _group_of(url_name: str) -> tuple[str, str] | None:
    if url_name == "home":
        return None
    namespace, _sep, _rest = url_name.rpartition(":")
    return _GROUP_OF_NAMESPACE.get(namespace, _ADMINISTRATION)


def entries_for(items: list[dict], current: str | None = None) -> list[dict]:
    """The navigation bar for `items_for()`'s links: folded menus past FLAT_UP_TO links.

    Each entry is {"link": item} or {"label", "items", "current"}; menus appear in the order
    of their first item.
    """
    if len(items) <= FLAT_UP_TO:
        return [{"link": item} for item in items]
    entries: list[dict] = []
    menus: dict[str, dict] = {}
    for item in items:
        group = _group_of(item["url_name"])
        if group is None:
            entries.append({"link": item})
            continue
        key, label = group
        if key not in menus:
            menus[key] = {"key": key, "label": label, "items": [], "current": False}
            entries.append(menus[key])
        menus[key]["items"].append(item)
        if item["url_name"] == current:
            menus[key]["current"] = True
    return entries
