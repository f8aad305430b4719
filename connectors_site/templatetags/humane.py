"""One way to show a moment in the UI: ``{% when value %}``.

Recent moments read as an age ("just now", "5 minutes ago", "3 hours ago", "yesterday", "4 days ago"); older
(or future) ones as a date ("on 12 Oct 2026 14:02"). Never Django's two-unit ``timesince`` ("1 month, 4 weeks
ago"). The element is a ``<time>`` with the machine-readable moment and the full timestamp as its tooltip.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

register = template.Library()

#: Up to this age a moment reads as an age; beyond it, as a date.
AGE_LIMIT = timedelta(days=7)


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'} ago"


def humane_when(value: datetime, now: datetime | None = None) -> str:
    """How long ago ``value`` was, in one unit, or the date it was on."""
    now = now or timezone.now()
    age = now - value
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    if age < timedelta(seconds=-60) or age >= AGE_LIMIT:
        return "on " + date_format(local, "j M Y H:i")
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return _plural(seconds // 60, "minute")
    if seconds < 86400:
        return _plural(seconds // 3600, "hour")
    days = seconds // 86400
    return "yesterday" if days == 1 else _plural(days, "day")


@register.simple_tag
def when(value, empty: str = "never"):
    """``<time>`` for ``value`` (see the module docstring); ``empty`` (muted) when there is none."""
    if not value:
        return format_html('<span class="muted">{}</span>', empty)
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return format_html(
        '<time class="when" datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        date_format(local, "Y-m-d H:i:s T"),
        humane_when(value),
    )
