"""Small helpers for the Connectors templates: readable values and audit details."""

from __future__ import annotations

import json
from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format

register = template.Library()


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
        elif key == "mapping" and isinstance(value, dict):
            continue  # the whole old and new payload mapping, kept for the record; "changes" says it in lines
        elif key == "order" and isinstance(value, list):
            lines.append("order: " + " → ".join(str(item) for item in value))
        else:
            lines.append(f"{label}: {_show(value)}")
    return lines
