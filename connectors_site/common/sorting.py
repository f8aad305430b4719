"""The one sortable-header mechanism of the HTML lists.

A view reads the requested order with :meth:`Sorting.from_request` (validated against the keys it can sort by)
and puts it in the context as ``sorting``; the template draws each sortable header with ``{% sortable_th "Label"
"key" %}`` (``{% load sorting %}``). A header is a real link (the page works without JavaScript) that HTMX
enhances to swap ``#results`` and push the URL; a first click sorts ascending, a second reverses, and the page
number is dropped because a new order starts on page one.

The query parameter is ``ordering``, as in the REST API and the filter sets. The connector list still reads and
writes ``sort``, the name its links have always carried.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django import template
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

ORDERING_PARAM = "ordering"

register = template.Library()


@dataclass(frozen=True)
class Sorting:
    """The order a list was asked for: ``current`` is ``""``, ``"key"`` or ``"-key"`` (descending)."""

    current: str = ""
    param: str = ORDERING_PARAM

    @classmethod
    def from_request(
        cls, request: HttpRequest, keys: Collection[str], *, default: str = "", param: str = ORDERING_PARAM
    ) -> Sorting:
        """The requested order if it names one of ``keys``, else ``default``."""
        value = request.GET.get(param, default)
        if value.removeprefix("-") not in keys:
            value = default
        return cls(value, param)

    @property
    def key(self) -> str:
        return self.current.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.current.startswith("-")

    def direction(self, key: str) -> str:
        """The header's ``aria-sort``: ascending, descending or none."""
        if key != self.key:
            return "none"
        return "descending" if self.descending else "ascending"

    def url(self, request: HttpRequest, key: str) -> str:
        """This page sorted by ``key`` (reversed when it is already sorted by it ascending), on page one."""
        params = request.GET.copy()
        params.pop("page", None)
        params.pop(self.param, None)
        params[self.param] = f"-{key}" if self.direction(key) == "ascending" else key
        return f"{request.path}?{params.urlencode()}"


@register.simple_tag(takes_context=True)
def sortable_th(context, label: str, key: str, css_class: str = "") -> SafeString:
    """A ``<th>`` that sorts the list by ``key``, from the ``sorting`` in the context."""
    sorting: Sorting = context.get("sorting") or Sorting()
    url = sorting.url(context["request"], key)
    direction = sorting.direction(key)
    arrow = {"ascending": "▲", "descending": "▼"}.get(direction)
    return format_html(
        '<th scope="col" aria-sort="{}"{}><a href="{}" hx-get="{}" hx-target="#results" hx-swap="outerHTML" '
        'hx-push-url="true">{}{}</a></th>',
        direction,
        format_html(' class="{}"', css_class) if css_class else "",
        url,
        url,
        label,
        format_html(' <span aria-hidden="true">{}</span>', arrow) if arrow else "",
    )
