"""Sections of the member profile contributed by apps above customers.

Loyalty, campaigns and analytics register a panel in their AppConfig.ready(); the profile
view renders every registered panel in `order`, including `template` with the dict that
`context(request, customer)` returns. customers never imports those apps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    template: str
    context: Callable[[HttpRequest, Any], dict]
    order: int = 100


_panels: dict[str, Panel] = {}


def register_panel(
    *,
    key: str,
    title: str,
    template: str,
    context: Callable[[HttpRequest, Any], dict],
    order: int = 100,
) -> None:
    """Add (or replace, by key) one profile section."""
    _panels[key] = Panel(key=key, title=title, template=template, context=context, order=order)


def unregister_panel(key: str) -> None:
    _panels.pop(key, None)


def panels_for(request: HttpRequest, customer) -> list[dict]:
    """The registered panels in order, each rendered with its own context.

    Rendered here (not with {% include %}) so a panel template sees its context's keys as
    top-level variables, plus `customer` and `request`.
    """
    rendered = []
    for panel in sorted(_panels.values(), key=lambda p: (p.order, p.key)):
        context = {"customer": customer, **panel.context(request, customer)}
        rendered.append(
            {
                "key": panel.key,
                "title": panel.title,
                "html": render_to_string(panel.template, context, request=request),
            }
        )
    return rendered
