"""Identity locks on PostgreSQL: one row per identity (a hash of a source key or of a (kind, value) identifier).

A chunk's transaction locks the rows of every identity it touches (``SELECT … FOR UPDATE``, in key order) before it
reads the inventory, so two chunks that could decide about the same machine take turns, and chunks that share no
identity run at once. Row locks live in the rows themselves, not in the server's shared lock table, so a chunk of
thousands of records can hold one per identity: exact keys, not a few hundred buckets that every big chunk would
fill (which made all chunks take turns). A row is inserted the first time its identity is seen and only ever locked
after that; the table holds nothing else. It is emptied hourly (assets.identity_locks.prune_identity_locks)
under its ACCESS EXCLUSIVE lock, which waits for the chunks holding rows; the next chunks insert theirs anew.
"""

from __future__ import annotations

from django.db import models


class IdentityLock(models.Model):
    key = models.BigIntegerField(primary_key=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"identity lock {self.key}"
