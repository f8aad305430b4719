"""Where to send the browser after an action."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def next_url(request: HttpRequest, default: str) -> str:
    """The ``next`` field (POST, then query string) if it points into this site, else ``default``.

    Anything else (another host, a scheme change to plain HTTP on an HTTPS site) is an open redirect.
    """
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default
