"""Figures the CSAM navigation shows on every inventory page."""

from __future__ import annotations

from django import template

from ..queries import conflict_count

register = template.Library()


@register.simple_tag
def csam_conflict_count() -> int:
    """Assets with conflicting strong identifiers, for "Conflicts (3)" in the CSAM navigation (one COUNT)."""
    return conflict_count()
