"""Identity lock rows (PostgreSQL): taken per identity by a chunk, and emptied by the housekeeping only when no chunk
is between its INSERT and its row locks."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from assets.identity_locks import lock_identities, lock_key, prune_identity_locks
from assets.lock_models import IdentityLock

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite has one writer: there are no lock rows"
)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_prune_empties_the_table_when_no_chunk_holds_a_lock():
    with transaction.atomic():
        lock_identities(7, ["key-1", "key-2"], [("serial_number", "SER-1")])
    assert set(IdentityLock.objects.values_list("key", flat=True)) == {
        lock_key("src", 7, "key-1"),
        lock_key("src", 7, "key-2"),
        lock_key("serial_number", "SER-1"),
    }
    assert prune_identity_locks() == 3
    assert not IdentityLock.objects.exists()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_prune_waits_for_a_chunk_in_flight_and_gives_up_after_its_wait():
    holding, release = threading.Event(), threading.Event()

    def chunk() -> None:
        try:
            with transaction.atomic():
                lock_identities(7, ["key-1"], [])
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=chunk)
    thread.start()
    try:
        assert holding.wait(10)
        assert prune_identity_locks(wait_seconds=0.2) is None  # the chunk's rows stay while it runs
    finally:
        release.set()
        thread.join(10)
    assert IdentityLock.objects.count() == 1
    assert prune_identity_locks() == 1


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the lock rows are PostgreSQL's")
def test_prune_is_a_no_op_on_sqlite():
    assert prune_identity_locks() == 0
