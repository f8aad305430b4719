"""Secrets at rest: values encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under keys from the environment.

``settings.FIELD_ENCRYPTION_KEYS`` lists the keys, newest first: the newest encrypts, every one decrypts
(cryptography's MultiFernet), so a key is rotated by putting a new one in front, running
``manage.py rotate_encryption_key`` and then dropping the old one. The database alone reveals no secret.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver

#: Every Fernet token starts with this (version byte 0x80 and the top of a timestamp), base64-encoded.
FERNET_PREFIX = "gAAAAA"


class UndecryptableSecret(ImproperlyConfigured):
    """A stored secret none of the configured keys opens: FIELD_ENCRYPTION_KEYS lost the key that encrypted it."""


@cache
def _fernet() -> MultiFernet:
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS holds a malformed key: {exc}") from None


@receiver(setting_changed)
def _forget_keys(*, setting, **kwargs) -> None:
    if setting == "FIELD_ENCRYPTION_KEYS":
        _fernet.cache_clear()


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str, *, ttl: int | None = None) -> str:
    """The clear text; with ``ttl``, only if the token was made at most that many seconds ago."""
    try:
        return _fernet().decrypt(token.encode(), ttl=ttl).decode()
    except InvalidToken:
        raise UndecryptableSecret(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS (expired, or the key that encrypted it "
            "is no longer listed)"
        ) from None


def rotate(token: str) -> str:
    """The same secret encrypted with the newest key."""
    return _fernet().rotate(token.encode()).decode()


def generate_key() -> str:
    return Fernet.generate_key().decode()


class EncryptedCharField(models.CharField):
    """A text column holding a Fernet token; Python code sees the clear text.

    An empty value stays empty (it is no secret). ``max_length`` is the column's: the token of n characters of
    clear text takes about 4/3·(n + 73) characters, so 255 holds a secret of up to about 110. Only equality with the
    empty string can be filtered on (tokens are random).
    """

    def __init__(self, *args, max_length: int = 255, **kwargs):
        super().__init__(*args, max_length=max_length, **kwargs)

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)
