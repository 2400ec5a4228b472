"""The campaigns app's contract with the app above it (analytics): extension points for
message placeholders and audience conditions, in one place.

campaigns never imports analytics. analytics registers here in its AppConfig.ready(); the
contract test (tests/test_contracts.py) fails when a seam below has no production
registration or no production caller.

Extension points:
- `register_placeholder(name, fill)`: `{name}` becomes usable in campaign and birthday
  templates. `fill(member_ids) -> {member id: text}` is called once per batch of members
  (members missing from the result get an empty text).
- `register_audience(key, condition, label=..., help_text=...)`: an audience condition
  `criteria[key] = value`; `condition(value) -> Q` on Customer. The campaign form offers it
  as a text field with that label (e.g. "likely_to_buy" with a SKU), the live count and the
  run apply it; an empty value does not filter.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable

from django.db.models import Q

_placeholders: dict[str, Callable[[list[int]], dict[int, str]]] = {}
_audiences: dict[str, Callable[[str], Q]] = {}
_audience_fields: dict[str, tuple[str, str]] = {}


def register_placeholder(name: str, fill: Callable[[list[int]], dict[int, str]]) -> None:
    _placeholders[name] = fill


def register_audience(
    key: str, condition: Callable[[str], Q], *, label: str, help_text: str = ""
) -> None:
    _audiences[key] = condition
    _audience_fields[key] = (label, help_text)


def audience_fields() -> dict[str, tuple[str, str]]:
    """{key: (label, help text)} of the registered conditions, for the campaign form."""
    return dict(sorted(_audience_fields.items()))


def unregister(name: str) -> None:
    _placeholders.pop(name, None)
    _audiences.pop(name, None)
    _audience_fields.pop(name, None)


def placeholder_names() -> tuple[str, ...]:
    return tuple(sorted(_placeholders))


def placeholder_values(template: str, member_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """{member id: {placeholder: text}} for the registered placeholders `template` uses
    (nothing is computed for the ones it does not use)."""
    try:
        used = {name for _l, name, _s, _c in string.Formatter().parse(template) if name}
    except ValueError:
        return {}
    member_ids = list(member_ids)
    values: dict[int, dict[str, str]] = {}
    for name in sorted(used & set(_placeholders)):
        for member_id, text in _placeholders[name](member_ids).items():
            values.setdefault(member_id, {})[name] = text
    return values


def audience_filter(criteria: dict) -> Q:
    """The Q for the registered conditions present (and not empty) in `criteria`."""
    q = Q()
    for key, condition in _audiences.items():
        value = str(criteria.get(key) or "").strip()
        if value:
            q &= condition(value)
    return q
