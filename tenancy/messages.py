"""System text stored as a message key and parameters, rendered in the reader's language.

What the system writes for people to read later (an inbox item, an import's row errors, the
welcome note) is stored as `{"key": "case.assigned", "params": {"number": 12, ...}}`, never as
text rendered in the writer's language: a worker runs in zh-hans, and an English reader would
read Chinese forever. Each app registers its keys with their translatable templates in its own
`messages.py`, imported from its AppConfig.ready(), so every process can render every key;
tenancy never imports an app above it.

Translatable text that is not one of our keys (a Django validator's message, an import rule
written with gettext_lazy) is stored by its gettext msgid: `{"msgid": "Enter a valid date.",
"context": "", "params": {...}}`, and a ValidationError as the list of its messages
(`from_text`). The catalogue of the reader's language is the renderer for those.

Rendering never shows a raw key: an unknown key falls back to the text stored beside it (rows
from before keys hold only that text) or to a plain "message not available". A parameter that
is itself a stored message (`{"key": ..., "params": ...}`) is rendered too, so a message can
name another one (an import error naming the rule a cell broke).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_lazy, pgettext
from django.utils.translation import gettext as _

_catalogue: dict[str, Promise] = {}


def register_messages(messages: dict[str, Promise]) -> None:
    """Add keys and their "%(name)s"-style templates (gettext_lazy) to the catalogue."""
    _catalogue.update(messages)


def message(key: str, **params: Any) -> dict[str, Any]:
    """A message to store: the key must be registered (a typo fails where it is written)."""
    if key not in _catalogue:
        raise KeyError(f"message key {key!r} is not registered (tenancy.messages)")
    return {"key": key, "params": params}


def is_message(value: Any) -> bool:
    return isinstance(value, dict) and (
        isinstance(value.get("key"), str) or isinstance(value.get("msgid"), str)
    )


def from_text(text: Any, params: dict | None = None) -> Any:
    """What to store for a text shown later: a message stays a message, a lazy translation
    keeps its msgid (and context), a ValidationError becomes the list of its messages with
    their parameters; anything else (a staff member's words) is stored as text."""
    if is_message(text):
        return text
    if isinstance(text, list | tuple):
        return [from_text(part) for part in text]
    if isinstance(text, ValidationError):
        if hasattr(text, "error_dict"):
            errors = [error for field in text.error_dict.values() for error in field]
        else:
            errors = text.error_list
        parts = [from_text(error.message, error.params) for error in errors]
        return parts[0] if len(parts) == 1 else parts
    if isinstance(text, Promise):
        stored = _lazy_msgid(text)
        if stored is not None:
            if params:
                stored["params"] = {name: _json_param(value) for name, value in params.items()}
            return stored
    text = str(text)  # not a msgid we can keep: the text as it reads now
    if params:
        try:
            return text % params
        except (KeyError, TypeError, ValueError):
            return text
    return text


def translatable(text: Promise, **params: Any) -> Any:
    """A gettext_lazy text with its parameters, stored by msgid: `translatable(gettext_lazy(
    "Unknown store code %(code)s."), code="BJ-ZY-9")`."""
    return from_text(text, params)


def _lazy_msgid(text: Promise) -> dict[str, Any] | None:
    # A gettext_lazy/pgettext_lazy proxy pickles as (function, args): the msgid it will look up.
    try:
        func, args, kwargs = text.__reduce__()[1][:3]
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    if kwargs:
        return None
    if func is gettext and len(args) == 1:
        return {"msgid": str(args[0]), "context": ""}
    if func is pgettext and len(args) == 2:
        return {"msgid": str(args[1]), "context": str(args[0])}
    return None


def _json_param(value: Any) -> Any:
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def render(stored: Any, *, fallback: str = "") -> str:
    """A stored message in the active language; plain text (old rows) is shown as it is."""
    if stored in (None, "", {}, []):
        return fallback
    if isinstance(stored, list):
        return " ".join(render(part) for part in stored)
    if not is_message(stored):
        return str(stored)
    if "msgid" in stored:
        context = stored.get("context") or ""
        template = pgettext(context, stored["msgid"]) if context else gettext(stored["msgid"])
    else:
        template = _catalogue.get(stored["key"])
        if template is None:
            return fallback or _("(message not available)")
    params = {
        name: render(value) if is_message(value) else value
        for name, value in (stored.get("params") or {}).items()
    }
    if not params:
        return str(template)
    try:
        return str(template) % params
    except (KeyError, TypeError, ValueError):
        return str(template)


_PLACEHOLDER = re.compile(r"%\((\w+)\)([sd])")


def message_from_text(text: str, keys: Iterable[str]) -> dict[str, Any] | None:
    """The stored message an old row's text was rendered from, or None (data migrations).

    Each key's template is tried in every site language; its placeholders become groups, so
    "案例 #12 已分配给您：退货" comes back as case.assigned.title with number=12, subject=退货.
    """
    for key in keys:
        template = _catalogue.get(key)
        if template is None:
            continue
        for language, _name in settings.LANGUAGES:
            with translation.override(language):
                rendered = str(template)
            pattern, numbers, pos = "", set(), 0
            for match in _PLACEHOLDER.finditer(rendered):
                pattern += re.escape(rendered[pos : match.start()])
                name, kind = match.groups()
                pattern += rf"(?P<{name}>-?\d+)" if kind == "d" else rf"(?P<{name}>.+?)"
                if kind == "d":
                    numbers.add(name)
                pos = match.end()
            pattern += re.escape(rendered[pos:]).replace("%%", "%")
            found = re.fullmatch(pattern, text, flags=re.DOTALL)
            if found:
                params = {
                    name: int(value) if name in numbers else value
                    for name, value in found.groupdict().items()
                }
                return {"key": key, "params": params}
    return None


# tenancy's own messages.
register_messages(
    {
        "demo.welcome.title": gettext_lazy("Welcome to Store CRM"),
        "demo.welcome.body": gettext_lazy(
            "Reminders for you appear here: cases assigned to you, overdue cases and "
            "follow-ups that are due."
        ),
    }
)
