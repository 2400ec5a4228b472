from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from tenancy import manuals, navigation


def _unread_count(member) -> int:
    from django.core.cache import cache

    from tenancy.models import Notification
    from tenancy.services import unread_cache_key

    # Cached per person: notify() and marking read drop the entry after their commit, so
    # ordinary pages cost no query for the badge. The timeout is only a safety net.
    return cache.get_or_set(
        unread_cache_key(member.pk),
        lambda: Notification.objects.filter(recipient=member, read_at__isnull=True).count(),
        timeout=300,
    )


def _help_url(view_name: str | None, role: str) -> str:
    """The reader's manual, opened at this page's section (tenancy/manuals.py)."""
    name, anchor = manuals.help_for(view_name, role)
    return f"{reverse('help')}?manual={name}" + (f"#{anchor}" if anchor else "")


def staff(request):
    member = getattr(request, "staff", None)
    nav_items = navigation.items_for(member.role if member else None)
    current = getattr(getattr(request, "resolver_match", None), "view_name", None)
    return {
        "staff": member,
        "tenant": getattr(request, "tenant", None),
        "nav_items": nav_items,
        "nav_entries": navigation.entries_for(nav_items, current=current),
        # Counted only when a page shows it, and then usually read from the cache.
        "help_url": (
            SimpleLazyObject(lambda: _help_url(current, member.role)) if member is not None else ""
        ),
        "unread_notifications": (
            SimpleLazyObject(lambda: _unread_count(member)) if member is not None else 0
        ),
    }
