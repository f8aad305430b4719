"""Identity locks: what makes concurrent chunks safe (see assets.lock_models for the PostgreSQL rows)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.db import connection

from .lock_models import IdentityLock


def lock_key(*parts: object) -> int:
    """A signed 64-bit hash of an identity (collisions only make two unrelated chunks take turns)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, signed=True)


def lock_identities(connector_id: int, source_keys: Iterable[str], keys: Iterable[tuple[str, str]]) -> None:
    """Serialize concurrent chunks that could decide about the same machine.

    PostgreSQL: the rows of ``IdentityLock`` for these identities, inserted when new and locked ``FOR UPDATE`` in
    key order (no deadlock between chunks; see assets.lock_models). An insert that meets another transaction's
    uncommitted row of the same key waits for it, so a new identity is serialized too. SQLite: the transaction
    already holds the database's single write lock (IMMEDIATE mode).
    """
    if connection.vendor != "postgresql":
        return
    locks = {lock_key("src", connector_id, key) for key in source_keys}
    locks.update(lock_key(kind, value) for kind, value in keys)
    ordered = sorted(locks)
    table = connection.ops.quote_name(IdentityLock._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key) SELECT k FROM unnest(%s::bigint[]) AS k ORDER BY k ON CONFLICT DO NOTHING",
            [ordered],
        )
        cursor.execute(f"SELECT key FROM {table} WHERE key = ANY(%s::bigint[]) ORDER BY key FOR UPDATE", [ordered])


def lock_all_identities() -> None:
    """Take every identity at once (PostgreSQL: the lock table, against every chunk's insert and row locks)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {connection.ops.quote_name(IdentityLock._meta.db_table)} IN EXCLUSIVE MODE")
