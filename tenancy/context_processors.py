from django.utils.functional import SimpleLazyObject

from tenancy import navigation


def _unread_count(member) -> int:
    from tenancy.models import Notification

    return Notification.objects.filter(recipient=member, read_at__isnull=True).count()


def staff(request):
    member = getattr(request, "staff", None)
    return {
        "staff": member,
        "tenant": getattr(request, "tenant", None),
        "nav_items": navigation.items_for(member.role if member else None),
        # Counted only when a page shows it (one indexed query), not on every response.
        "unread_notifications": (
            SimpleLazyObject(lambda: _unread_count(member)) if member is not None else 0
        ),
    }
