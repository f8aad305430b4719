"""One big delivery, many workers: a delivery split into chunks gives what one worker gives, loses nothing when a
worker dies mid-chunk, creates no asset twice, and is finalized exactly once."""

from __future__ import annotations

import os
import random
import signal
from datetime import UTC, datetime, timedelta
from datetime import timezone as timezone_offset

import pytest
from django.db.models import Count
from django.utils import timezone

from assets.engine.records import AssetRecord, ValueWarning
from assets.models import Asset, Decision, SourceRecord
from connectors.choices import DeliveryStatus, SyncStatus
from connectors.chunk_models import ChunkStatus, DeliveryChunk
from connectors.chunk_payload import pack_records, unpack_records
from connectors.chunks import (
    CHUNKED,
    assign_chunks,
    finish_chunked,
    grouping_keys,
    lost_chunks,
    process_delivery_chunk,
    split_delivery,
)
from connectors.inbox import replay_delivery
from connectors.models import Delivery, Sync, WorkerHeartbeat
from connectors.tally import DELIVERIES, totals
from connectors.worker import process_delivery
from tests.conftest import wait_for

from .helpers import asset
from .test_resilience import assert_no_duplicate_identities, canonical_inventory, deliver, wipe_inventory
from .test_syncs import live_keys, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_chunks(settings):
    """Chunks of 20 records for deliveries of more than 50."""
    settings.IDENTIFICATION_CHUNK_SIZE = 20
    settings.DELIVERY_SPLIT_RECORDS = 50


def big_payload(machines: int = 60, *, seed: int = 3) -> dict:
    """Each machine reported under two source keys, some source keys reported twice with different timestamps (the
    newer last or first), a bad record and deletions."""
    rng = random.Random(seed)
    records = []
    for i in range(machines):
        records.append(asset(i, source_key=f"a-{i}", updated_at="2026-11-02T00:00:00Z"))
        records.append(asset(i, source_key=f"b-{i}", os="BSD", updated_at="2026-11-02T01:00:00Z"))
    for i in range(0, machines, 5):  # an older report of the same key, later in the body: it must not win
        records.append(asset(i, source_key=f"a-{i}", os="Old", updated_at="2026-10-01T00:00:00Z"))
    for i in range(1, machines, 7):  # a newer one: it wins
        records.append(asset(i, source_key=f"b-{i}", os="New", updated_at="2026-11-03T00:00:00Z"))
    rng.shuffle(records)
    records.insert(17, {"hostname": "no-key"})
    return {"assets": records, "deleted": ["a-3", "never-seen"]}


class Queue:
    """Plays the task queue in-process: what ``split`` and retries enqueue."""

    def __init__(self):
        self.chunks: list[int] = []

    def enqueue_chunk(self, chunk, **kwargs):
        self.chunks.append(chunk.pk)

    def split(self, delivery, batch):
        return split_delivery(delivery, batch, enqueue_chunk=self.enqueue_chunk)


def counters(delivery: Delivery) -> tuple:
    delivery.refresh_from_db()
    return (
        delivery.records_received,
        delivery.records_created,
        delivery.records_updated,
        delivery.records_merged,
        delivery.records_skipped,
        delivery.records_deleted,
        delivery.records_errors,
    )


def run_chunks(queue: Queue, order=None) -> list[str]:
    ids = list(queue.chunks)
    if order:
        random.Random(order).shuffle(ids)
    return [process_delivery_chunk(chunk_id, enqueue_chunk=queue.enqueue_chunk) for chunk_id in ids]


def test_records_sharing_a_source_key_or_an_identity_are_in_one_chunk():
    records = [AssetRecord(source_key=f"k-{i}", serial_number=f"SER-{i // 3:05d}") for i in range(300)]
    records += [
        AssetRecord(source_key="k-5", hostname="late-report"),
        AssetRecord(source_key="x", hostname="late-report"),
    ]
    chunks = assign_chunks(records, 20)
    assert chunks == assign_chunks(records, 20)  # every worker computes the same
    assert max(chunks) + 1 == 17 and chunks[300] == chunks[301] == chunks[5] == chunks[3] == chunks[4]
    assert all(chunks[i] == chunks[i - i % 3] for i in range(300))  # the three reports of one serial
    common = [AssetRecord(source_key=f"c-{i}", ip_addresses=("10.0.0.1",)) for i in range(200)]
    assert max(assign_chunks(common, 20)) + 1 > 1  # a value in many records does not glue them into one chunk


def test_grouping_sees_one_machine_through_common_spellings():
    same = [
        AssetRecord(source_key="a", mac_addresses=("00-1A-2B-3C-4D-5E",)),
        AssetRecord(source_key="b", mac_addresses=("001a.2b3c.4d5e",)),
        AssetRecord(source_key="c", hostname="WEB-01.", hardware_uuid="{4C4C4544-0042-1010-8048-B2C04F4A3132}"),
        AssetRecord(source_key="d", fqdn="web-01.corp.example.com"),
        AssetRecord(source_key="e", hardware_uuid="4c4c4544-0042-1010-8048-b2c04f4a3132", serial_number=" SN-9 "),
        AssetRecord(source_key="f", serial_number="sn-9"),
    ]
    assert grouping_keys(same[0]) & grouping_keys(same[1])
    for left, right in ((2, 3), (2, 4), (4, 5)):  # host name and FQDN, UUID spellings, serial case and spaces
        assert grouping_keys(same[left]) & grouping_keys(same[right]), (left, right)
    # An address given as a host name is one value, not a first label shared by a whole subnet.
    assert ("host", "10") not in grouping_keys(AssetRecord(source_key="g", hostname="10.0.0.5"))
    padding = [AssetRecord(source_key=f"p-{i}", hostname=f"other-{i}") for i in range(40)]
    chunks = assign_chunks([same[0], *padding, same[1], *padding[:0], same[2], same[3], same[4], same[5]], 10)
    assert chunks[0] == chunks[41] and len({chunks[42], chunks[43], chunks[44], chunks[45]}) == 1


def test_a_chunk_carries_its_records_exactly():
    moment = datetime(2026, 11, 2, 3, 4, 5, 678901, tzinfo=timezone_offset(timedelta(hours=2)))
    records = [
        AssetRecord(source_key="k-1"),
        AssetRecord(
            source_key="k-ü",
            hostname="web-01",
            ip_addresses=("10.0.0.1", "10.0.0.2"),
            mac_addresses=("00:11:22:33:44:55",),
            tags=("prod",),
            attributes={"rack": {"row": 3, "ok": True, "note": None}, "list": [1.5, "x"]},
            updated_at=moment,
            last_seen=moment.astimezone(UTC),
            warnings=(ValueWarning(4, "k-ü", "ip_addresses", "999.1.1.1", "not an IP address"),),
        ),
    ]
    assert unpack_records(pack_records(records)) == records
    assert unpack_records(b"") == []


def test_chunks_are_processed_from_what_the_split_packed_not_from_the_body(connector, small_chunks):
    """The worker that splits parses the body once; the others read only their chunk (and finalizing reads chunk
    0's rest): a body that no longer parses changes nothing."""
    delivery = deliver(connector, big_payload())
    queue = Queue()
    process_delivery(delivery.pk, split=queue.split)
    Delivery.objects.filter(pk=delivery.pk).update(body=b"not json any more")
    assert set(run_chunks(queue, order=2)) == {ChunkStatus.DONE}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PARTIAL and delivery.records_errors == 1 and delivery.records_deleted == 1
    assert Asset.objects.count() == 60
    assert set(DeliveryChunk.objects.filter(delivery=delivery).values_list("payload", flat=True)) == {b""}


def test_a_chunked_delivery_gives_what_one_worker_gives(connector, small_chunks):
    delivery = deliver(connector, big_payload())
    queue = Queue()
    assert process_delivery(delivery.pk, split=queue.split) == DeliveryStatus.PROCESSING
    delivery.refresh_from_db()
    assert delivery.claimed_by == CHUNKED and delivery.lease_expires_at is None
    assert len(queue.chunks) == DeliveryChunk.objects.filter(delivery=delivery).count() == 8  # 141 records, in groups
    assert set(run_chunks(queue, order=5)) == {ChunkStatus.DONE}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PARTIAL  # the record without a source key
    chunked, chunked_counts = canonical_inventory(), counters(delivery)
    assert Asset.objects.count() == 60 and not Asset.objects.annotate(n=Count("sources")).filter(n__gt=2).exists()
    assert_no_duplicate_identities()
    newest = dict(SourceRecord.objects.filter(connector=connector).values_list("source_key", "attributes__os"))
    assert newest["a-0"] == "Linux" and newest["b-1"] == "New"  # newer updates win, whatever chunk ran first
    assert SourceRecord.objects.get(source_key="a-3").deleted  # deletions after every chunk

    # The same delivery processed whole by one worker.
    wipe_inventory()
    replay_delivery(delivery)
    assert process_delivery(delivery.pk) == DeliveryStatus.PARTIAL
    assert canonical_inventory() == chunked
    assert counters(delivery) == chunked_counts
    delivery.refresh_from_db()
    assert delivery.records_received == 144 and delivery.records_deleted == 1 and delivery.records_errors == 1


def test_progress_adds_up_over_the_chunks_and_the_delivery_is_finalized_once(connector, small_chunks):
    delivery = deliver(connector, {"assets": [asset(i) for i in range(100)]})
    queue = Queue()
    process_delivery(delivery.pk, split=queue.split)
    first, *rest = queue.chunks
    process_delivery_chunk(first)
    delivery.refresh_from_db()
    done = DeliveryChunk.objects.get(pk=first)
    assert delivery.status == DeliveryStatus.PROCESSING and delivery.records_received == 100
    assert delivery.records_created == done.records_created == done.records_received > 0
    for chunk_id in rest:
        process_delivery_chunk(chunk_id)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED and delivery.records_created == 100
    assert Decision.objects.filter(delivery=delivery).count() == 100
    assert finish_chunked(delivery.pk) is None  # already finalized: nothing happens twice
    assert totals()[(DELIVERIES, DeliveryStatus.PROCESSED)] == 1  # counted once
    assert process_delivery_chunk(first) == "not claimed"


def test_the_delivery_page_shows_the_chunks(admin_ui, connector, small_chunks):
    delivery = deliver(connector, {"assets": [asset(i) for i in range(60)]})
    queue = Queue()
    process_delivery(delivery.pk, split=queue.split)
    process_delivery_chunk(queue.chunks[0], worker_id="host-a:1:abc")
    page = admin_ui.get(delivery.get_absolute_url()).content.decode()
    assert "Chunks</dt><dd>1 of 3 done" in page and "by 1 worker<" in page
    run_chunks_ids(queue.chunks[1:])
    page = admin_ui.get(delivery.get_absolute_url()).content.decode()
    assert "Chunks</dt><dd>3 of 3 done" in page and "by 2 workers<" in page


def test_a_failing_chunk_is_retried_then_counted_as_errors(connector, small_chunks, settings, monkeypatch):
    settings.DELIVERY_FAULT_HOOK = "tests.faults.fail_first_attempts"
    monkeypatch.setenv("FAULT_FAILURES", "1")
    delivery = deliver(connector, {"assets": [asset(i) for i in range(60)]})
    queue = Queue()
    process_delivery(delivery.pk, split=queue.split)  # the hook counts the delivery's attempt 1: it fails
    assert process_delivery(delivery.pk, split=queue.split) == "not claimed"  # its retry is not due yet
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert process_delivery(delivery.pk, split=queue.split) == DeliveryStatus.PROCESSING
    assert set(run_chunks(queue)) == {ChunkStatus.QUEUED}  # each chunk's first attempt fails
    retries = queue.chunks[3:]
    DeliveryChunk.objects.update(next_attempt_at=timezone.now())
    assert set(run_chunks_ids(retries)) == {ChunkStatus.DONE}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED and delivery.records_created == 60

    settings.DELIVERY_MAX_ATTEMPTS = 1
    settings.DELIVERY_FAULT_HOOK = ""
    other = deliver(connector, {"assets": [asset(100 + i, source_key=f"x-{i}") for i in range(60)]})
    queue = Queue()
    process_delivery(other.pk, split=queue.split)
    settings.DELIVERY_FAULT_HOOK = "tests.faults.always_fail"
    broken = queue.chunks[0]
    assert process_delivery_chunk(broken) == ChunkStatus.FAILED
    settings.DELIVERY_FAULT_HOOK = ""
    run_chunks_ids(queue.chunks[1:])
    other.refresh_from_db()
    failed = DeliveryChunk.objects.get(pk=broken)
    assert other.status == DeliveryStatus.PARTIAL and other.records_errors == failed.records_received > 0
    assert other.records_created == 60 - failed.records_received
    assert "gave up after 1 attempts" in other.errors[0]["message"]


def run_chunks_ids(ids) -> list[str]:
    return [process_delivery_chunk(chunk_id) for chunk_id in ids]


def test_the_sweep_finds_lost_chunks_and_unfinalized_deliveries(connector, small_chunks, settings):
    delivery = deliver(connector, {"assets": [asset(i) for i in range(60)]})
    queue = Queue()
    process_delivery(delivery.pk, split=queue.split)
    assert lost_chunks(requeue_after=60) == ([], [])  # just enqueued
    long_ago = timezone.now() - timedelta(minutes=5)
    DeliveryChunk.objects.filter(pk=queue.chunks[0]).update(enqueued_at=long_ago)
    DeliveryChunk.objects.filter(pk=queue.chunks[1]).update(
        status=ChunkStatus.PROCESSING,
        claimed_by="gone",
        lease_expires_at=long_ago,
        enqueued_at=long_ago - timedelta(minutes=5),  # before the claim: not re-enqueued since
    )
    assert sorted(lost_chunks(requeue_after=60)[0]) == sorted(queue.chunks[:2])
    # Every chunk done but the last one's worker died before finalizing.
    DeliveryChunk.objects.filter(delivery=delivery).update(status=ChunkStatus.DONE, records_received=20)
    assert lost_chunks(requeue_after=60) == ([], [delivery.pk])
    assert finish_chunked(delivery.pk) == DeliveryStatus.PROCESSED
    assert lost_chunks(requeue_after=60) == ([], [])


def test_a_full_sync_part_processed_in_chunks_finalizes_the_sync_once(connector, small_chunks):
    first = send(connector, {"assets": [asset(i) for i in range(70)]})
    assert process_delivery(first.pk) == DeliveryStatus.PROCESSED
    part = send(connector, {"assets": [asset(i) for i in range(60)], "sync": {"id": "nightly", "final": True}})
    queue = Queue()
    assert process_delivery(part.pk, split=queue.split) == DeliveryStatus.PROCESSING
    run_chunks(queue, order=2)
    part.refresh_from_db()
    sync = Sync.objects.get()
    assert part.status == DeliveryStatus.PROCESSED and sync.status == SyncStatus.COMPLETED
    assert (sync.reported, sync.deleted) == (60, 10)
    assert live_keys(connector) == {f"src-{i}" for i in range(60)}


# --- real processes ---------------------------------------------------------------------------------------

WORKER_ENV = {"IDENTIFICATION_CHUNK_SIZE": "40", "DELIVERY_SPLIT_RECORDS": "100"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_two_workers_process_the_chunks_of_one_delivery(make_connector, start_worker, settings):
    """On PostgreSQL two worker processes take chunks of the same deliveries at once; SQLite has one writer, so
    there one worker does them all. Two connectors report the same 300 machines in one big delivery each, so chunks
    of the two deliveries decide about the same new machines at the same time: the identity locks make them take
    turns. Either way: the inventory one worker makes, nothing created twice."""
    settings.IDENTIFICATION_CHUNK_SIZE, settings.DELIVERY_SPLIT_RECORDS = 40, 100
    connectors = [make_connector(name) for name in ("CMDB", "MDM")]
    concurrent = _is_postgres()
    workers = [start_worker(env=WORKER_ENV) for _ in range(2 if concurrent else 1)]
    wait_for(lambda: WorkerHeartbeat.objects.count() == len(workers), timeout=60, message="the workers to start")
    deliveries = [deliver(connector, big_payload(300, seed=11)) for connector in connectors]
    wait_for(
        lambda: Delivery.objects.filter(status=DeliveryStatus.PARTIAL).count() == 2,
        timeout=180,
        message="both deliveries finished",
    )
    claimants = set(DeliveryChunk.objects.values_list("claimed_by", flat=True))
    if concurrent:
        assert all(any(f":{worker.pid}:" in claimant for claimant in claimants) for worker in workers)
    assert_no_duplicate_identities()
    assert Asset.objects.count() == 300
    parallel, parallel_counts = canonical_inventory(), summed_counters(deliveries)
    for worker in workers:
        worker.kill()
        worker.wait(timeout=10)
    wipe_inventory()
    for delivery in deliveries:  # whole, one after the other, in this process
        replay_delivery(delivery)
        assert process_delivery(delivery.pk) == DeliveryStatus.PARTIAL
    assert canonical_inventory() == parallel
    assert summed_counters(deliveries) == parallel_counts  # which delivery created a machine depends on timing


def summed_counters(deliveries) -> list[int]:
    return [sum(values) for values in zip(*(counters(delivery) for delivery in deliveries), strict=True)]


def _is_postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_worker_killed_mid_chunk_loses_nothing(connector, start_worker, tmp_path, settings):
    """``kill -9`` while a chunk's transaction has written everything but not committed: the chunk is taken over
    by the other worker and redone whole; the delivery ends as if nothing happened."""
    settings.IDENTIFICATION_CHUNK_SIZE, settings.DELIVERY_SPLIT_RECORDS = 40, 100
    stalled = tmp_path / "stalled"
    env = {
        **WORKER_ENV,
        "DELIVERY_FAULT_HOOK": "tests.faults.stall_in_chunk",
        "FAULT_STALL_FILE": str(stalled),
        "WORKER_HEARTBEAT_SECONDS": "0.5",
        "HEARTBEAT_STALE_SECONDS": "2",
        "SWEEP_INTERVAL": "0.5",
    }
    delivery = deliver(connector, {"assets": [asset(i) for i in range(400)]})
    first = start_worker(env=env)
    wait_for(stalled.exists, timeout=60, interval=0.05, message="a chunk stalled before its commit")
    victim = DeliveryChunk.objects.get(status=ChunkStatus.PROCESSING, claimed_by__contains=f":{first.pid}:")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    stalled.unlink()
    start_worker(env={**env, "DELIVERY_FAULT_HOOK": ""})
    wait_for(
        lambda: Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PROCESSED).exists(),
        timeout=120,
        message="the delivery finished after the crash",
    )
    victim.refresh_from_db()
    delivery.refresh_from_db()
    assert victim.status == ChunkStatus.DONE and victim.attempts == 2
    assert delivery.records_created == Asset.objects.count() == 400
    assert Decision.objects.filter(delivery=delivery).count() == 400  # the killed attempt's decisions never landed
