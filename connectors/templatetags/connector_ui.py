"""Small helpers for the Connectors templates: sortable column headers and readable audit details."""

from __future__ import annotations

import json
from datetime import datetime

from django import template
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def sortable_th(context, label: str, key: str, css_class: str = "") -> str:
    """A table header that sorts by ``key`` (a second click reverses), as a real link that HTMX enhances.

    The current sort comes from ``context["sort"]`` (``"name"`` or ``"-name"``); the page number is dropped
    because a new order starts on page one.
    """
    request = context["request"]
    current = context.get("sort", "")
    active = current.lstrip("-") == key
    descending = active and current.startswith("-")
    params: QueryDict = request.GET.copy()
    params.pop("page", None)
    params.pop("sort", None)
    params["sort"] = key if descending or not active else f"-{key}"
    url = f"{request.path}?{params.urlencode()}"
    aria_sort = ("descending" if descending else "ascending") if active else "none"
    arrow = ("▼" if descending else "▲") if active else ""
    return format_html(
        '<th scope="col" aria-sort="{}" class="{}"><a href="{}" hx-get="{}" hx-target="#results" '
        'hx-push-url="true">{} <span aria-hidden="true">{}</span></a></th>',
        aria_sort,
        css_class,
        url,
        url,
        label,
        arrow,
    )


def _show(value) -> str:
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ", ".join(_show(item) for item in value) or "(none)"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and "T" in value and (moment := _iso_datetime(value)):
        return date_format(timezone.localtime(moment), "Y-m-d H:i T")
    return str(value)


def _iso_datetime(value: str) -> datetime | None:
    try:
        moment = parse_datetime(value)
    except ValueError:
        return None
    return moment if moment is not None and timezone.is_aware(moment) else None


@register.filter
def show_value(value) -> str:
    """A JSON value as short text: lists joined with commas, booleans as on/off."""
    return _show(value)


@register.filter
def event_details(details: dict | None) -> list[str]:
    """An audit row's JSON details as short readable lines (``name: old → new``, ``Serial number: off``)."""
    lines: list[str] = []
    for key, value in (details or {}).items():
        label = key.replace("_", " ")
        if key == "changes" and isinstance(value, dict):
            for field, change in value.items():
                if isinstance(change, list | tuple) and len(change) == 2:
                    lines.append(f"{field.replace('_', ' ')}: {_show(change[0])} → {_show(change[1])}")
                else:
                    lines.append(f"{field.replace('_', ' ')}: {_show(change)}")
        elif key == "required" and isinstance(value, dict):
            lines.extend(f"{rule}: {'required' if on else 'off'}" for rule, on in value.items())
        elif key == "order" and isinstance(value, list):
            lines.append("order: " + " → ".join(str(item) for item in value))
        else:
            lines.append(f"{label}: {_show(value)}")
    return lines
