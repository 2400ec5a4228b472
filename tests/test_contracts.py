"""Every cross-app promise runs in production.

A lower app declares its seams in one contract module (customers/hooks.py,
interactions/hooks.py, campaigns/effect.py, campaigns/hooks.py, customers/profile.py).
This test fails when a
declared seam has no registration made by application code (a fake in a test does not count)
or when nothing in application code ever sends or calls it.
"""

from __future__ import annotations

import re
from pathlib import Path

import django.dispatch
import pytest

from campaigns import effect
from campaigns import hooks as campaign_hooks
from customers import hooks as customer_hooks
from customers import profile
from interactions import hooks as interaction_hooks

ROOT = Path(__file__).resolve().parent.parent
APPS = ("tenancy", "stores", "customers", "interactions", "loyalty", "campaigns", "analytics")


def _production_source() -> str:
    """The application code: every app's modules except migrations."""
    return "\n".join(
        path.read_text(encoding="utf-8")
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    )


SOURCE = _production_source()


def _from_app_code(func) -> bool:
    module = getattr(func, "__module__", "") or ""
    return module.split(".")[0] in APPS


def signal_problems(name: str, signal: django.dispatch.Signal) -> list[str]:
    problems = []
    receivers, async_receivers = signal._live_receivers(None)
    if not any(_from_app_code(receiver) for receiver in [*receivers, *async_receivers]):
        problems.append(f"event {name!r} has no receiver registered by application code")
    if not re.search(rf"\b{re.escape(name)}\.send(_robust)?\(", SOURCE):
        problems.append(f"event {name!r} is never sent by application code")
    return problems


def provider_problems(name: str) -> list[str]:
    problems = []
    func = interaction_hooks.get(name)
    if func is None or not _from_app_code(func):
        problems.append(f"hook {name!r} has no function registered by application code")
    if f'hooks.get("{name}")' not in SOURCE:
        problems.append(f"hook {name!r} is never called by application code")
    return problems


def test_every_customers_event_is_received_and_sent():
    problems = [
        problem
        for name, signal in customer_hooks.EVENTS.items()
        for problem in signal_problems(name, signal)
    ]
    assert problems == []


def test_every_interactions_seam_is_registered_and_called():
    problems = [
        problem
        for name, signal in interaction_hooks.EVENTS.items()
        for problem in signal_problems(name, signal)
    ]
    problems += [
        problem for name in sorted(interaction_hooks.KNOWN) for problem in provider_problems(name)
    ]
    sources = interaction_hooks.timeline_sources()
    if not sources or not all(_from_app_code(func) for func in sources.values()):
        problems.append("member timeline sources are missing or registered by tests")
    assert problems == []


def test_profile_panels_and_campaign_effect_are_wired():
    panels = profile._panels
    assert {"loyalty", "campaigns.coupons", "interactions", "analytics.recent_purchases"} <= set(
        panels
    )
    assert all(_from_app_code(panel.context) for panel in panels.values())
    assert effect._measure is not None and _from_app_code(effect._measure)
    assert "panels_for(" in SOURCE and "effect.measure(" in SOURCE


def test_campaign_placeholders_and_audiences_are_registered_and_used():
    """campaigns/hooks.py: analytics adds {recommended_product} and "likely to buy"."""
    assert "recommended_product" in campaign_hooks._placeholders
    assert "likely_to_buy" in campaign_hooks._audiences
    registered = [*campaign_hooks._placeholders.values(), *campaign_hooks._audiences.values()]
    assert all(_from_app_code(func) for func in registered)
    assert "hooks.placeholder_values(" in SOURCE and "hooks.audience_filter(" in SOURCE
    assert "hooks.audience_fields(" in SOURCE
    assert "analytics.recommendations" in profile._panels


def test_the_check_itself_catches_an_unwired_event_and_a_fake():
    """A declared event nobody listens to, or only a test listens to, is reported."""
    unwired = django.dispatch.Signal()
    assert len(signal_problems("nobody_sends_this", unwired)) == 2

    def fake(sender, **kwargs):  # a test's receiver does not count as wiring
        return None

    unwired.connect(fake)
    assert any("no receiver" in p for p in signal_problems("nobody_sends_this", unwired))


@pytest.mark.parametrize("name", sorted(customer_hooks.EVENTS))
def test_the_contract_module_documents_each_event(name):
    assert f"`{name}(" in customer_hooks.__doc__
