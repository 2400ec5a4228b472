from tenancy import navigation


def staff(request):
    member = getattr(request, "staff", None)
    return {
        "staff": member,
        "tenant": getattr(request, "tenant", None),
        "nav_items": navigation.items_for(member.role if member else None),
    }
