"""``GET /metrics``: the Prometheus text exposition of :mod:`connectors.metrics`, for a scraper only.

Access, from settings:

* ``METRICS_TOKEN``: the scraper sends ``Authorization: Bearer <token>`` (compared in constant time);
* ``METRICS_ALLOWED_NETWORKS``: comma-separated addresses or CIDR networks the scrape may come from (the client
  address as :func:`connectors_site.common.client_ip.client_ip` sees it, so behind the TLS proxy the address the
  proxy reports).

Each one configured must be satisfied (both set: the right token from an allowed address). Neither configured:
``/metrics`` answers 404, as if it did not exist; a scrape that fails a check gets 403. No session login is
involved, and the endpoint is never cached.
"""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.checks import Error, register
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from connectors_site.common.client_ip import client_ip

from .metrics import registry

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def allowed_networks(spec: tuple[str, ...]) -> tuple[Network, ...]:
    """The networks of the setting (an address alone is a /32 or /128); ValueError for a bad entry."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in spec if entry.strip())


def _networks_setting() -> tuple[str, ...]:
    return tuple(getattr(settings, "METRICS_ALLOWED_NETWORKS", ()) or ())


def address_allowed(request: HttpRequest) -> bool:
    address = client_ip(request)
    if address is None:
        return False
    found = ipaddress.ip_address(address)
    return any(found in network for network in allowed_networks(_networks_setting()))


def token_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(), token.encode())


def _text(status: int, text: str) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = getattr(settings, "METRICS_TOKEN", "")
    networks = _networks_setting()
    if not token and not networks:
        return _text(404, "Not found: set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS to enable /metrics.\n")
    if networks and not address_allowed(request):
        return _text(403, "Forbidden: this address may not read /metrics.\n")
    if token and not token_matches(request, token):
        response = _text(403, "Forbidden: send Authorization: Bearer <METRICS_TOKEN>.\n")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


@register()
def check_metrics_networks(app_configs, **kwargs) -> list[Error]:
    """A bad METRICS_ALLOWED_NETWORKS entry is a start-up error, not a 500 at the first scrape."""
    try:
        allowed_networks(_networks_setting())
    except ValueError as exc:
        return [Error(f"METRICS_ALLOWED_NETWORKS: {exc}", id="connectors.E101")]
    return []
