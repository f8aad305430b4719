"""Wrong API tokens are counted per address; past the limit the address gets 429 until its window ends.

DRF's throttles run after authentication, so they never see a request whose token failed: the count lives here,
in the cache, and is checked before a token is looked up (a right token from a blocked address waits too, so a
guesser learns nothing from the answer). The window is fixed: it starts with the first failure.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import Throttled

from .client_ip import client_ip


def _key(request) -> str:
    return "api-token-failures:" + hashlib.sha256((client_ip(request) or "unknown").encode()).hexdigest()[:32]


def check_not_blocked(request) -> None:
    limit = settings.API_TOKEN_FAILURE_LIMIT
    if limit <= 0:
        return
    failures, window_end = cache.get(_key(request), (0, 0.0))
    remaining = window_end - time.time()
    if failures >= limit and remaining > 0:
        raise Throttled(
            wait=remaining,
            detail=f"Too many invalid API tokens from this address; try again in {int(remaining) + 1} seconds.",
        )


def record_failure(request) -> None:
    if settings.API_TOKEN_FAILURE_LIMIT <= 0:
        return
    window = settings.API_TOKEN_FAILURE_WINDOW_SECONDS
    key = _key(request)
    failures, window_end = cache.get(key, (0, 0.0))
    now = time.time()
    if window_end <= now:
        failures, window_end = 0, now + window
    cache.set(key, (failures + 1, window_end), timeout=max(1, int(window_end - now) + 1))
