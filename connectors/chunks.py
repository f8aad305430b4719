"""One big delivery, many workers: a delivery split into chunk tasks that any worker on any host can take.

The worker that claims a delivery of more than ``DELIVERY_SPLIT_RECORDS`` records parses it, creates its chunk
rows (``DeliveryChunk``) and enqueues one task per chunk, all in one transaction; the delivery stays ``processing``
under the claimant ``CHUNKED`` (no lease: its chunks carry their own). A chunk is a slice of the records: they
are grouped with the records sharing a source key or an identity with them (``assign_chunks``), so every report of
one source key is in one chunk, in the delivery's order, and chunks rarely contend for an identity lock. The body is
parsed and grouped once, by the splitting worker: each chunk row carries its records, packed
(connectors.chunk_payload), so the worker taking it reads only its slice and starts at once.

Each chunk is claimed with a lease like a delivery (a conditional UPDATE; the task queue's own claim is
``SKIP LOCKED`` on PostgreSQL), then processed by ``process_chunk`` in one transaction that also marks it done and
adds its counters to the delivery's (the progress shown while it runs). A worker killed mid-chunk commits nothing:
the chunk is taken over (stale heartbeat or expired lease) and redone whole. Chunks of one delivery run at once on
PostgreSQL; the identity locks of ``process_chunk`` serialize records that could be the same machine, so
no asset is created twice and the recency rules keep a newer report over an older one whatever the order.

The chunk whose commit leaves no chunk unfinished finalizes the delivery, under the delivery row's lock, exactly
once: counters summed in SQL, the body's ``deleted`` keys applied after every chunk, the full-sync bookkeeping and
the metrics tally. If it dies before, the recovery sweep (``lost_chunks``) finalizes it.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from assets.engine.records import AssetRecord
from assets.models import Decision
from assets.services import ProcessResult, engine_config, process_chunk, process_deletions

from .choices import DeliveryStatus
from .chunk_models import ChunkStatus, DeliveryChunk
from .chunk_payload import pack_records, pack_rest, unpack_records, unpack_rest
from .models import Delivery
from .syncs import record_reported, run_deletions
from .worker import (
    WORKER_ID,
    LostClaim,
    _fault_hook,
    backoff_seconds,
    dead_workers,
    final_status,
    finish_rows,
    parse_result,
)

logger = logging.getLogger(__name__)

#: The claimant of a delivery whose chunks are being processed: no worker holds it, its chunks are leased.
CHUNKED = "chunks"
#: Puts a chunk on the task queue, due at ``run_after`` (connectors.tasks.enqueue_chunk).
EnqueueChunk = Callable[..., None]
#: A value in more records than this does not group them into one chunk (see ``assign_chunks``).
COMMON_VALUE_RECORDS = 50
_NOT_HEX = re.compile(r"[^0-9a-f]")
_COUNTED = ("received", "created", "updated", "merged", "skipped", "errors")


def grouping_keys(record: AssetRecord) -> set[tuple[str, str]]:
    """Cheap stand-ins for the identity keys ``process_chunk`` locks for a record, and its source key.

    Computed for every record of a big delivery by the one worker that splits it, while the others wait, so they
    look at the raw values instead of normalizing the record (75 µs a record, the split's largest cost): values
    trimmed and lower-cased, host names by their first label (a hostname given as an FQDN matches as its short
    name), MACs and hardware UUIDs by their hex digits. Two reports of one machine spelled differently in one
    delivery (an IPv6 address as ``fe80::1`` and as ``FE80:0:0:0:0:0:0:1``) may then land in different chunks;
    that costs those two chunks a wait on the identity lock, never a wrong result. Placeholders are not left out:
    a value in more than ``COMMON_VALUE_RECORDS`` records stops grouping them anyway.
    """
    keys = {("src", record.source_key)}
    for kind, value in (("serial", record.serial_number), ("cloud", record.cloud_instance_id)):
        if value:
            keys.add((kind, value.strip().lower()))
    if record.hardware_uuid:
        keys.add(("uuid", _NOT_HEX.sub("", record.hardware_uuid.lower())))
    for value in (record.hostname, record.fqdn):
        if name := value.strip().lower().rstrip("."):
            if "." in name and not name.replace(".", "").isdigit():  # an IP address stays whole
                keys.add(("fqdn", name))
                name = name.partition(".")[0]
            keys.add(("host", name))
    for value in record.mac_addresses:
        keys.add(("mac", _NOT_HEX.sub("", value.lower())))
    for value in record.ip_addresses:
        keys.add(("ip", value.strip().lower()))
    return keys


def assign_chunks(records: Sequence[AssetRecord], chunk_size: int) -> list[int]:
    """The chunk of each record: records that share a source key or an identity (as :func:`grouping_keys` sees
    it) are grouped, and the groups packed in the delivery's order into chunks of about ``chunk_size`` records.

    So every report of one source key is in one chunk, in order, and two chunks rarely lock the same identity: they
    run side by side instead of taking turns. A value found in more than ``COMMON_VALUE_RECORDS`` records does not
    group them (it would glue the delivery into one chunk). Deterministic: every worker computes the same chunks.
    """
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict = {}
    seen: dict = {}
    for i, record in enumerate(records):
        for key in grouping_keys(record):
            seen[key] = seen.get(key, 0) + 1
            if key not in first:
                first[key] = i
            elif seen[key] <= COMMON_VALUE_RECORDS:
                parent[find(i)] = find(first[key])
    groups: dict[int, list[int]] = {}
    for i in range(len(records)):
        groups.setdefault(find(i), []).append(i)
    chunk_of = [0] * len(records)
    chunk, filled = 0, 0
    for members in groups.values():  # in the order of each group's first record
        if filled and filled + len(members) > chunk_size:
            chunk, filled = chunk + 1, 0
        for i in members:
            chunk_of[i] = chunk
        filled += len(members)
    return chunk_of


def split_delivery(delivery: Delivery, batch, *, enqueue_chunk: EnqueueChunk) -> str:
    """Hand a parsed delivery to chunk tasks (called by the worker that claimed it; see the module docstring).
    A previous attempt's chunks and decisions (a replay) are replaced."""
    chunk_size = settings.IDENTIFICATION_CHUNK_SIZE
    members: dict[int, list[AssetRecord]] = defaultdict(list)
    for record, index in zip(batch.records, assign_chunks(batch.records, chunk_size), strict=True):
        members[index].append(record)
    total = len(members)
    parsed = parse_result(batch)
    payloads = [pack_records(members[index]) for index in range(total)]  # before the transaction: it locks
    now = timezone.now()
    with transaction.atomic():
        claimed = Delivery.objects.filter(
            pk=delivery.pk, status=DeliveryStatus.PROCESSING, claimed_by=delivery.claimed_by
        ).update(
            claimed_by=CHUNKED,
            lease_expires_at=None,
            records_received=len(batch.records) + len(batch.errors) + len(batch.deleted),
            records_created=0,
            records_updated=0,
            records_merged=0,
            records_skipped=0,
            records_deleted=0,
            records_errors=parsed.errors,
            errors=parsed.record_errors[:1000],
        )
        if not claimed:
            raise LostClaim(delivery.pk)
        Decision.objects.filter(delivery=delivery).delete()
        DeliveryChunk.objects.filter(delivery=delivery).delete()
        chunks = DeliveryChunk.objects.bulk_create(
            DeliveryChunk(
                delivery=delivery,
                index=index,
                total=total,
                chunk_size=chunk_size,
                records=len(members[index]),
                payload=payloads[index],
                rest=pack_rest(batch, with_keys=delivery.sync_id is not None) if index == 0 else b"",
                enqueued_at=now,
            )
            for index in range(total)
        )
        for chunk in chunks:
            enqueue_chunk(chunk, stamped=True)
    logger.info("delivery %s: %d records split into %d chunks", delivery.pk, len(batch.records), total)
    return DeliveryStatus.PROCESSING


def claim_chunk(chunk_id: int, worker_id: str = WORKER_ID) -> DeliveryChunk | None:
    """Take a chunk (due, or abandoned by a dead worker or an expired lease), or None: one conditional UPDATE."""
    now = timezone.now()
    ready = Q(status=ChunkStatus.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    abandoned = Q(status=ChunkStatus.PROCESSING) & (Q(lease_expires_at__lt=now) | Q(claimed_by__in=dead_workers(now)))
    claimed = DeliveryChunk.objects.filter(ready | abandoned, pk=chunk_id).update(
        status=ChunkStatus.PROCESSING,
        claimed_by=worker_id[:100],
        lease_expires_at=now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
        attempts=F("attempts") + 1,
        next_attempt_at=None,
    )
    if not claimed:
        return None
    return DeliveryChunk.objects.select_related("delivery__connector").defer("delivery__body").get(pk=chunk_id)


def process_delivery_chunk(
    chunk_id: int, worker_id: str = WORKER_ID, *, enqueue_chunk: EnqueueChunk | None = None
) -> str:
    """Claim and process one chunk, and finalize its delivery if it was the last; returns the chunk's status.
    A failure is retried with backoff (``enqueue_chunk`` puts it back on the queue; without it, the sweep does)."""
    chunk = claim_chunk(chunk_id, worker_id)
    if chunk is None:
        return "not claimed"
    delivery = chunk.delivery
    try:
        records = _chunk_records(chunk)
        connector = delivery.connector
        with transaction.atomic():
            result = process_chunk(
                connector, records, delivery=delivery, config=engine_config(connector), received_at=delivery.received_at
            )
            _fault_hook(chunk)  # tests: a worker killed here has written everything but committed nothing
            _chunk_done(chunk, result)
    except LostClaim:
        logger.warning("%s was taken over by another worker; this attempt stops", chunk)
        return "lost claim"
    except Exception as exc:
        return _retry_or_fail(chunk, exc, enqueue_chunk)
    try:
        finish_chunked(delivery.pk)
    except Exception:  # the chunk is done; the recovery sweep finalizes the delivery
        logger.exception("delivery %s: finalizing failed; the sweep finalizes it", delivery.pk)
    return ChunkStatus.DONE


def _chunk_records(chunk: DeliveryChunk) -> list:
    """The chunk's records, in the delivery's order, as the split packed them."""
    records = unpack_records(chunk.payload)
    if len(records) != chunk.records:  # never seen: the split packs exactly the records it counts
        raise RuntimeError(f"{chunk}: {len(records)} records where the split found {chunk.records}")
    return records


def _chunk_done(chunk: DeliveryChunk, result: ProcessResult, *, status: str = ChunkStatus.DONE, error: str = ""):
    """Mark the chunk finished with its counters and add them to the delivery's, in the caller's transaction."""
    counters = {f"records_{name}": getattr(result, name) for name in _COUNTED}
    done = DeliveryChunk.objects.filter(pk=chunk.pk, status=ChunkStatus.PROCESSING, claimed_by=chunk.claimed_by).update(
        status=status,
        finished_at=timezone.now(),
        lease_expires_at=None,
        errors=result.record_errors[:1000],
        last_error=error[:5000],
        payload=b"",  # a finished chunk is never processed again (a replay splits the body anew)
        **counters,
    )
    if not done:
        raise LostClaim(chunk.pk)
    progress = {name: F(name) + value for name, value in counters.items() if name != "records_received" and value}
    if progress:
        Delivery.objects.filter(pk=chunk.delivery_id, status=DeliveryStatus.PROCESSING, claimed_by=CHUNKED).update(
            **progress
        )


def _retry_or_fail(chunk: DeliveryChunk, exc: Exception, enqueue_chunk: EnqueueChunk | None) -> str:
    """Retry later with backoff; after DELIVERY_MAX_ATTEMPTS the chunk fails (its records count as errors) and
    the delivery still finishes, partial."""
    error = f"{type(exc).__name__}: {exc}"
    if not connection.in_atomic_block and connection.connection is not None and not connection.is_usable():
        connection.close()
    logger.warning(
        "%s attempt %s failed (%s): %s",
        chunk,
        chunk.attempts,
        "transient" if isinstance(exc, DatabaseError) else "error",
        error,
    )
    if chunk.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
        message = f"chunk {chunk.index + 1} of {chunk.total}: gave up after {chunk.attempts} attempts: {error}"
        result = ProcessResult(
            received=chunk.records,
            errors=chunk.records,
            record_errors=[{"index": None, "field": "", "message": message, "source_key": ""}],
        )
        try:
            with transaction.atomic():
                _chunk_done(chunk, result, status=ChunkStatus.FAILED, error=message)
        except LostClaim:
            return "lost claim"
        finish_chunked(chunk.delivery_id)
        return ChunkStatus.FAILED
    run_after = timezone.now() + timedelta(seconds=backoff_seconds(chunk.attempts))
    with transaction.atomic():
        requeued = DeliveryChunk.objects.filter(
            pk=chunk.pk, status=ChunkStatus.PROCESSING, claimed_by=chunk.claimed_by
        ).update(status=ChunkStatus.QUEUED, next_attempt_at=run_after, lease_expires_at=None, last_error=error[:5000])
        if requeued and enqueue_chunk is not None:
            enqueue_chunk(chunk, run_after=run_after)
    return ChunkStatus.QUEUED


def finish_chunked(delivery_id: int) -> str | None:
    """Finalize a chunked delivery once every chunk is finished; a no-op otherwise or when already done (the
    delivery row's lock makes the last two chunks take turns, so exactly one finalizes). Returns its status.

    Whether chunks are unfinished is asked first without a lock: the row lock would wait for every chunk
    transaction in flight (their decisions' foreign keys share-lock the delivery row), so a worker that finished
    a chunk would idle until the other workers' chunks commit instead of taking its next one. The chunk that
    commits last always sees the others finished (they committed before it looks), so it is the one that locks;
    the lock is ``FOR NO KEY UPDATE``, which those key-share locks do not block."""
    unfinished = DeliveryChunk.objects.filter(delivery_id=delivery_id).exclude(status__in=ChunkStatus.finished())
    if unfinished.exists():
        return None
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",), no_key=True)
            .select_related("connector")
            .defer("body")
            .filter(pk=delivery_id, status=DeliveryStatus.PROCESSING, claimed_by=CHUNKED)
            .first()
        )
        if delivery is None:
            return None
        chunks = DeliveryChunk.objects.filter(delivery=delivery)
        if chunks.exclude(status__in=ChunkStatus.finished()).exists():
            return None
        rest = unpack_rest(chunks.filter(index=0).values_list("rest", flat=True).get())
        result = ProcessResult(received=len(rest.errors), errors=len(rest.errors), record_errors=list(rest.errors))
        sums = chunks.aggregate(**{name: Sum(f"records_{name}", default=0) for name in _COUNTED})
        result.add(ProcessResult(**sums))
        for errors in chunks.exclude(errors=[]).order_by("index").values_list("errors", flat=True):
            result.record_errors.extend(errors)
        if rest.deleted:  # after every chunk: a key reported and deleted in one delivery ends deleted
            result.add(process_deletions(delivery.connector, rest.deleted, delivery=delivery))
        if delivery.sync_id:
            record_reported(delivery.sync_id, rest.reported)
        status = final_status(result)
        delete_now = finish_rows(delivery, status, result, warnings=rest.warnings)
    if delete_now:
        try:
            run_deletions(delivery.sync_id)
        except Exception:  # the part is done; the sync sweep runs the deletions again
            logger.exception("full sync %s: deletions failed; they are retried", delivery.sync_id)
    return status


def chunk_summary(delivery: Delivery) -> dict | None:
    """For the delivery page: how many chunks, how many finished, how many workers took them (one query), or
    None for a delivery processed whole."""
    if delivery.claimed_by != CHUNKED:
        return None
    return DeliveryChunk.objects.filter(delivery=delivery).aggregate(
        total=Count("pk"),
        finished=Count("pk", filter=Q(status__in=ChunkStatus.finished())),
        workers=Count("claimed_by", distinct=True, filter=~Q(claimed_by="")),
    )


def lost_chunks(*, requeue_after: float | None = None) -> tuple[list[int], list[int]]:
    """What the recovery sweep restarts (at most 1000 of each): chunk ids whose processing was lost (due but not
    enqueued recently, lease expired, or claimant dead, as for deliveries), and ids of chunked deliveries whose
    chunks are all finished but that nobody finalized (the last chunk's worker died in between)."""
    now = timezone.now()
    if requeue_after is None:
        requeue_after = settings.DELIVERY_REQUEUE_AFTER_SECONDS
    stale_enqueue = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - timedelta(seconds=requeue_after))
    due = Q(status=ChunkStatus.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    expired = Q(status=ChunkStatus.PROCESSING, lease_expires_at__lt=now) & (
        Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=F("lease_expires_at"))
    )
    # Claimed at the lease's start: a chunk not re-enqueued since its dead claimant took it goes back at once.
    claimed_at = F("lease_expires_at") - timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    orphaned = Q(status=ChunkStatus.PROCESSING, claimed_by__in=dead_workers(now)) & (
        stale_enqueue | Q(enqueued_at__lt=claimed_at)
    )
    chunk_ids = list(
        DeliveryChunk.objects.filter((due & stale_enqueue) | expired | orphaned).values_list("pk", flat=True)[:1000]
    )
    unfinished = DeliveryChunk.objects.exclude(status__in=ChunkStatus.finished()).values("delivery_id")
    delivery_ids = list(
        Delivery.objects.filter(status=DeliveryStatus.PROCESSING, claimed_by=CHUNKED, chunks__isnull=False)
        .exclude(pk__in=unfinished)
        .distinct()
        .values_list("pk", flat=True)[:1000]
    )
    return chunk_ids, delivery_ids
