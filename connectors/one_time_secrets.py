"""Fresh credentials on their way to the page that shows them once, kept in the session for minutes at most.

They are sealed with the field encryption key (a Fernet token carries its own creation time), so the session row
never holds them in clear, and they open only within ``ONE_TIME_SECRETS_TTL_SECONDS``: past it the page that would
have shown them says they expired and how to make new ones. Reading them removes them from the session.
"""

from __future__ import annotations

import json

from django.conf import settings

from connectors_site.common.encryption import UndecryptableSecret, decrypt, encrypt


def seal(pending: dict) -> str:
    return encrypt(json.dumps(pending))


def read(sealed) -> dict | None:
    """The credentials, or None when there are none, they expired, or they are not a sealed value."""
    if not isinstance(sealed, str):
        return None
    try:
        return json.loads(decrypt(sealed, ttl=settings.ONE_TIME_SECRETS_TTL_SECONDS))
    except (UndecryptableSecret, ValueError):
        return None


def minutes() -> int:
    return max(1, round(settings.ONE_TIME_SECRETS_TTL_SECONDS / 60))
