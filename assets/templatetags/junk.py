"""Junk values in templates: ``{{ value|junk_note:"serial_number" }}`` is why a value is junk ("placeholder value",
"loopback address"), or "" for a real one, so a page can de-emphasise it."""

from __future__ import annotations

from django import template

from ..engine.reconcile import value_junk

register = template.Library()


@register.filter
def junk_note(value: object, attribute: str) -> str:
    """Why ``value`` (one value of ``attribute``, or one item of a list attribute) is junk, or ""."""
    return value_junk(attribute, value) or ""
