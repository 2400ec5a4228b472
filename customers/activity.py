"""What counts as a member's activity for the retention policy (customers.privacy).

customers knows the purchases (`Customer.last_purchase_at`, written by the nightly analytics
job) and the enrolment. Apps above add what they record about a member's visits or contacts
through `register_activity(key=..., members_active_since=...)` in their AppConfig.ready():
`members_active_since(since)` returns a queryset of member ids (`.values("member_id")`)
with activity at or after `since`. Members do not sign in to this system, so there is no
login source; a member app that adds one registers it here.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from django.db.models import QuerySet

ActivitySource = Callable[[datetime.datetime], QuerySet]

_sources: dict[str, ActivitySource] = {}


def register_activity(*, key: str, members_active_since: ActivitySource) -> None:
    _sources[key] = members_active_since


def activity_sources() -> dict[str, ActivitySource]:
    return dict(_sources)
