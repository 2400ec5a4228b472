"""The navigation bar, built from what each app registers in its AppConfig.ready()."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse


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
