"""Identity locks: what makes concurrent chunks safe (see assets.lock_models for the PostgreSQL rows)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.db import OperationalError, connection, transaction

from .lock_models import IdentityLock


def lock_key(*parts: object) -> int:
    """A signed 64-bit hash of an identity (collisions only make two unrelated chunks take turns)."""
    return _hash("\x1f".join(map(str, parts)))


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), signed=True)


def lock_identities(connector_id: int, source_keys: Iterable[str], keys: Iterable[tuple[str, str]]) -> None:
    """Serialize concurrent chunks that could decide about the same machine.

    PostgreSQL: the rows of ``IdentityLock`` for these identities, inserted when new and locked in key order (no
    deadlock between chunks; see assets.lock_models), in one statement: ``ON CONFLICT DO UPDATE`` locks every
    existing row it meets as ``FOR UPDATE`` would, and its ``WHERE false`` leaves the row unwritten (no new row
    version; half the time of an insert followed by a ``SELECT … FOR UPDATE``). An insert that meets another
    transaction's uncommitted row of the same key waits for it, so a new identity is serialized too. SQLite: the
    transaction already holds the database's single write lock (IMMEDIATE mode).
    """
    if connection.vendor != "postgresql":
        return
    locks = {lock_key("src", connector_id, key) for key in source_keys}
    locks.update(_hash(f"{kind}\x1f{value}") for kind, value in keys)  # lock_key(kind, value), without its generality
    table = connection.ops.quote_name(IdentityLock._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key) SELECT k FROM unnest(%s::bigint[]) AS k ORDER BY k "
            "ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key WHERE false",
            [sorted(locks)],
        )


def lock_all_identities() -> None:
    """Take every identity at once (PostgreSQL: the lock table, against every chunk's insert and row locks)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {connection.ops.quote_name(IdentityLock._meta.db_table)} IN EXCLUSIVE MODE")


def prune_identity_locks(*, wait_seconds: float = 5.0) -> int | None:
    """Empty the lock table (PostgreSQL), which otherwise keeps one row per identity ever seen; returns the rows
    removed, or None when it had to give up.

    A row may not vanish while a chunk holds it, so the table is truncated under its ACCESS EXCLUSIVE lock: that
    waits for the chunks in flight and holds new ones back for the moment it takes (they insert their rows anew).
    Waiting longer than ``wait_seconds`` (a long rule-change Apply) gives up; the next housekeeping pass tries again.
    """
    if connection.vendor != "postgresql":
        return 0
    table = connection.ops.quote_name(IdentityLock._meta.db_table)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{int(wait_seconds * 1000)}ms"])
            cursor.execute(f"SELECT count(*) FROM {table}")
            removed = cursor.fetchone()[0]
            cursor.execute(f"TRUNCATE {table}")
    except OperationalError:
        return None
    return removed
