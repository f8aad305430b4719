"""The address a request comes from, as the sign-in lockout and the API token throttle count it."""

from __future__ import annotations

import ipaddress

from django.conf import settings


def _valid(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """REMOTE_ADDR; behind the TLS proxy (BEHIND_TLS_PROXY), the address that proxy appended to X-Forwarded-For.

    Only the last X-Forwarded-For entry is the proxy's own word; earlier ones are whatever the client sent, so a
    client cannot pick a fresh address for each guess. None when there is no valid address (test clients).
    """
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded and (found := _valid(forwarded[-1])):
            return found
    return _valid(request.META.get("REMOTE_ADDR") or "")
