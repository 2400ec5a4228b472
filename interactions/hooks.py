"""Seams for the apps above interactions (loyalty, campaigns, analytics).

Interactions sits below them in the dependency order, so it never imports them. It sends
signals and calls registered functions instead; a higher app connects in its
AppConfig.ready(). Nothing registered means the feature is simply not wired up yet: the
caller says so (for example, a survey stays "not sent") rather than pretending.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the resolving transaction, with case=ServiceCase.
case_resolved = Signal()
