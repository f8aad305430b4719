"""What the HTML views share about HTMX: the request type django-htmx documents, and the answer after a POST."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request that went through ``HtmxMiddleware`` (typing only, as in django-htmx's documentation)."""

    htmx: HtmxDetails


def redirect_after_post(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """After a POST: a client-side redirect for HTMX (a 302 would be followed inside the swap), a 302 otherwise."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def wants_partial(request: HtmxHttpRequest) -> bool:
    """Whether to answer with only the part of the page HTMX swaps in.

    A history-restore request (the page was evicted from htmx's cache) needs the whole page.
    """
    return bool(request.htmx) and not request.htmx.history_restore_request
