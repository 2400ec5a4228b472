from decimal import Decimal

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def percent(value) -> str:
    if value is None:
        return "—"
    return f"{Decimal(value) * 100:.1f}%"


@register.filter
def money(value) -> str:
    if value is None:
        return "—"
    return f"¥{Decimal(value):,.2f}"


@register.filter
def change_badge(value):
    """+12.3% in green or -4.0% in red; a dash when there is nothing to compare with."""
    if value is None:
        return mark_safe('<span class="muted">—</span>')  # noqa: S308 - a constant
    pct = Decimal(value) * 100
    css = "up" if pct > 0 else "down" if pct < 0 else ""
    arrow = "▲" if pct > 0 else "▼" if pct < 0 else ""
    return format_html('<span class="{}">{} {}%</span>', css, arrow, f"{pct:+.1f}")
