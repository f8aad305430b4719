"""The worker: claim a stored delivery, process it, finish it; retry, recover and retain.

A delivery is claimed with a lease renewed after each chunk, in the name of the worker id its heartbeat row carries.
A worker that dies (even ``kill -9``) stops beating: once its heartbeat is older than ``HEARTBEAT_STALE_SECONDS``
(or, for a claimant without a heartbeat row, once the lease expires) another worker takes the delivery over. A slow
but live worker keeps its deliveries: its heartbeat beats from a thread of its own while a long chunk runs.

Transient failures are retried with exponential backoff, and after ``DELIVERY_MAX_ATTEMPTS`` the delivery is dead,
body intact, ready for a replay. Processing is idempotent (upserts keyed by connector + source key), so doing a
delivery twice is harmless.

This module never enqueues: the task that runs it (connectors.tasks) hands it ``enqueue`` for retries, and the
recovery sweep there re-enqueues what ``lost_deliveries`` reports. So imports run one way, tasks -> worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from assets.models import Decision
from assets.services import ProcessResult, process_records
from connectors_site.common.worker_id import WORKER_ID

from .choices import ConnectorStatus, DeliveryStatus
from .formats import PayloadError, decode_json, parse
from .models import Connector, Delivery, WorkerHeartbeat
from .syncs import part_finished, record_reported, reported_keys, run_deletions
from .tally import finished as tally_finished
from .value_checks import MAX_STORED_WARNINGS, value_checks, warning_dicts

logger = logging.getLogger(__name__)


#: Puts a delivery back on the task queue, due at ``run_after`` (connectors.tasks.enqueue).
Requeue = Callable[..., None]
#: Splits a big parsed delivery into chunk tasks (connectors.chunks.split_delivery); returns the status.
Split = Callable[..., str]


class LostClaim(Exception):
    """Another worker took the delivery over (this one was presumed dead): stop without touching it."""


def dead_workers(now=None):
    """The ids of workers whose heartbeat is older than ``HEARTBEAT_STALE_SECONDS``, as a subquery."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS)
    return WorkerHeartbeat.objects.filter(last_beat__lt=cutoff).values("worker_id")


def abandoned(now) -> Q:
    """A delivery in ``processing`` whose worker is gone: its lease expired, or its claimant's heartbeat is stale.
    A claimant without a heartbeat row (a bare ``db_worker``, a test) keeps the delivery for the whole lease."""
    return Q(status=DeliveryStatus.PROCESSING) & (Q(lease_expires_at__lt=now) | Q(claimed_by__in=dead_workers(now)))


def claim_delivery(delivery_id: int, worker_id: str = WORKER_ID) -> Delivery | None:
    """Take a delivery for processing, or None if a live worker holds it or it is done.

    One conditional UPDATE: atomic on every database, and it also takes over a delivery whose worker died
    (its heartbeat is stale, or its lease expired).
    """
    now = timezone.now()
    ready = Q(status=DeliveryStatus.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    claimed = Delivery.objects.filter(ready | abandoned(now), pk=delivery_id).update(
        status=DeliveryStatus.PROCESSING,
        lease_expires_at=now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
        attempts=F("attempts") + 1,
        claimed_by=worker_id[:100],
        started_at=now,
        next_attempt_at=None,
    )
    if not claimed:
        return None
    return Delivery.objects.select_related("connector").get(pk=delivery_id)


def _renew_lease(delivery: Delivery, result: ProcessResult, total: int) -> None:
    renewed = Delivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PROCESSING, claimed_by=delivery.claimed_by
    ).update(
        lease_expires_at=timezone.now() + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
        **_counters(result, total=total),
    )
    if not renewed:
        raise LostClaim(delivery.pk)


def _counters(result: ProcessResult, *, total: int | None = None) -> dict[str, int]:
    """The row's counters; while processing, ``records_received`` stays the delivery's whole count (``total``,
    as intake stored it) and the outcomes show the progress."""
    counters = {f"records_{name}": getattr(result, name) for name in ProcessResult.COUNTERS}
    if total is not None:
        counters["records_received"] = max(total, result.received)
    return counters


def _fault_hook(delivery: Delivery) -> None:
    """Test-only fault injection: DELIVERY_FAULT_HOOK names a callable run before each attempt (unset in use)."""
    if hook := getattr(settings, "DELIVERY_FAULT_HOOK", ""):
        import_string(hook)(delivery)


def process_delivery(
    delivery_id: int, worker_id: str = WORKER_ID, *, requeue: Requeue | None = None, split: Split | None = None
) -> str:
    """Claim, parse and process one delivery; returns its final (or next) status.

    After a transient failure the delivery is queued again with backoff, and ``requeue(delivery, run_after=…)``
    puts it back on the task queue in the same transaction. Without ``requeue`` (a caller that plays the worker
    itself) nothing is enqueued: the recovery sweep finds the delivery once it is due. A delivery of more than
    ``DELIVERY_SPLIT_RECORDS`` records is handed to ``split(delivery, batch)`` (chunk tasks for many workers)
    when given; without it, this worker processes it whole.
    """
    delivery = claim_delivery(delivery_id, worker_id)
    if delivery is None:
        return "not claimed"
    try:
        return _process(delivery, requeue, split)
    except LostClaim:
        logger.warning("delivery %s was taken over by another worker; this attempt stops", delivery.pk)
        return "lost claim"


def _process(delivery: Delivery, requeue: Requeue | None, split: Split | None = None) -> str:
    connector = delivery.connector
    try:
        _fault_hook(delivery)
        # A mapped delivery is read with the mapping in force when it was received (kept on the row), so a
        # retry or a replay gives the same records however the connector's mapping changed since.
        batch = parse(
            delivery.payload_format,
            decode_json(bytes(delivery.body)),
            mapping=delivery.mapping,
            checks=value_checks(delivery.received_at),
        )
    except PayloadError as exc:
        return _finish(delivery, DeliveryStatus.REJECTED, ProcessResult(), last_error=str(exc))
    except Exception as exc:  # any other failure is retried, then the delivery goes to dead
        return _retry_or_bury(delivery, exc, requeue)

    if split is not None and len(batch.records) > settings.DELIVERY_SPLIT_RECORDS:
        try:
            return split(delivery, batch)
        except LostClaim:
            raise
        except Exception as exc:
            return _retry_or_bury(delivery, exc, requeue)
    result = parse_result(batch)
    total = len(batch.records) + len(batch.errors) + len(batch.deleted)
    try:
        # A previous attempt may have written some chunks; its decisions are replaced by this attempt's.
        Decision.objects.filter(delivery=delivery).delete()
        process_records(
            connector,
            batch.records,
            deleted=batch.deleted,
            delivery=delivery,
            received_at=delivery.received_at,
            result=result,
            after_chunk=lambda so_far: _renew_lease(delivery, so_far, total),
        )
        if delivery.sync_id:  # before the part counts as done (a crash here retries it)
            record_reported(delivery.sync_id, reported_keys(batch))
    except LostClaim:
        raise
    except Exception as exc:
        return _retry_or_bury(delivery, exc, requeue)

    return _finish(delivery, final_status(result), result, warnings=warning_dicts(batch))


def parse_result(batch) -> ProcessResult:
    """The counts of a parsed delivery before any record is processed: the records its parser rejected."""
    parse_errors = [
        {"index": e.index, "field": e.field, "message": e.message, "source_key": e.source_key} for e in batch.errors
    ]
    return ProcessResult(received=len(batch.errors), errors=len(batch.errors), record_errors=parse_errors)


def final_status(result: ProcessResult) -> str:
    """Processed without a record error, partial with some, failed when no record had an outcome."""
    handled = result.created + result.updated + result.merged + result.skipped + result.deleted
    if result.errors == 0:
        return DeliveryStatus.PROCESSED
    return DeliveryStatus.PARTIAL if handled else DeliveryStatus.FAILED


_CONNECTOR_RESULT = {
    DeliveryStatus.PROCESSED: ConnectorStatus.SUCCESS,
    DeliveryStatus.PARTIAL: ConnectorStatus.PARTIAL,
}


def _finish(
    delivery: Delivery, status: str, result: ProcessResult, *, last_error: str = "", warnings: list[dict] | None = None
) -> str:
    """Write the final status and counters; the metrics totals grow in the same transaction."""
    with transaction.atomic():
        delete_now = finish_rows(delivery, status, result, last_error=last_error, warnings=warnings)
    if delete_now:
        try:
            run_deletions(delivery.sync_id)
        except Exception:  # the part is done; the recovery sweep runs the deletions again once the lease expires
            logger.exception("full sync %s: deletions failed; they are retried", delivery.sync_id)
    return status


def finish_rows(
    delivery: Delivery, status: str, result: ProcessResult, *, last_error: str = "", warnings: list[dict] | None = None
) -> bool:
    """The rows :func:`_finish` writes, inside the caller's transaction (a chunked delivery's last chunk finishes
    it this way). Returns whether the delivery's full sync is now complete and its deletions are to run."""
    now = timezone.now()
    counters = _counters(result)
    updated = Delivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PROCESSING, claimed_by=delivery.claimed_by
    ).update(
        status=status,
        finished_at=now,
        lease_expires_at=None,
        last_error=last_error[:5000],
        errors=result.record_errors[:1000],
        warnings=(warnings or [])[:MAX_STORED_WARNINGS],
        warnings_count=len(warnings or []),
        **counters,
    )
    # The last part of a full sync to finish weighs its deletions, in the transaction that finishes it. The
    # sync's row is locked before the connector's, in the order intake takes them (no deadlock).
    delete_now = bool(updated and delivery.sync_id and part_finished(delivery.sync_id))
    if updated:
        # Only the newest finished delivery sets the connector's result: an older one that finishes after a
        # newer one was rejected or processed must not overwrite it (connectors.health reads it the same way).
        newer_finished = Delivery.objects.filter(connector_id=delivery.connector_id, pk__gt=delivery.pk).exclude(
            status__in=DeliveryStatus.pending()
        )
        Connector.objects.filter(pk=delivery.connector_id).exclude(Exists(newer_finished)).update(
            last_result=_CONNECTOR_RESULT.get(status, ConnectorStatus.ERROR)
        )
        started = delivery.started_at
        tally_finished(status, counters, (now - started).total_seconds() if started else None)
    return delete_now


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff between attempts: base * 2^(attempt-1) (2, 4, 8… s by default), at most 10 minutes."""
    return min(settings.DELIVERY_RETRY_BASE_SECONDS * 2.0 ** (attempt - 1), 600.0)


def _retry_or_bury(delivery: Delivery, exc: Exception, requeue: Requeue | None) -> str:
    """Retry later with backoff; after DELIVERY_MAX_ATTEMPTS the delivery is dead (body kept, Replay works)."""
    error = f"{type(exc).__name__}: {exc}"
    if not connection.in_atomic_block and connection.connection is not None and not connection.is_usable():
        connection.close()  # a dropped connection is reopened for the bookkeeping below
    transient = isinstance(exc, DatabaseError)
    logger.warning(
        "delivery %s attempt %s failed (%s): %s",
        delivery.pk,
        delivery.attempts,
        "transient" if transient else "error",
        error,
    )
    if delivery.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
        _finish(
            delivery,
            DeliveryStatus.DEAD,
            ProcessResult(received=delivery.records_received),  # the count intake stored stays on the row
            last_error=f"gave up after {delivery.attempts} attempts: {error}",
        )
        return DeliveryStatus.DEAD
    run_after = timezone.now() + timedelta(seconds=backoff_seconds(delivery.attempts))
    with transaction.atomic():
        Delivery.objects.filter(
            pk=delivery.pk, status=DeliveryStatus.PROCESSING, claimed_by=delivery.claimed_by
        ).update(
            status=DeliveryStatus.QUEUED, next_attempt_at=run_after, lease_expires_at=None, last_error=error[:5000]
        )
        if requeue is not None:
            requeue(delivery, run_after=run_after)
    return DeliveryStatus.QUEUED


def lost_deliveries(*, requeue_after: float | None = None) -> list[int]:
    """Ids of deliveries whose processing was lost, for the recovery sweep to re-enqueue (at most 1000):

    * a delivery in ``processing`` whose lease expired and that was not re-enqueued since;
    * a delivery in ``processing`` whose claimant's heartbeat is stale (its worker died), unless it was re-enqueued
      since that claim (and then again every ``requeue_after`` seconds);
    * a ``queued`` delivery that is due and whose task was enqueued more than ``requeue_after`` seconds ago
      (the task row vanished, or the queue was emptied).
    """
    now = timezone.now()
    if requeue_after is None:
        requeue_after = settings.DELIVERY_REQUEUE_AFTER_SECONDS
    stale_enqueue = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - timedelta(seconds=requeue_after))
    due = Q(status=DeliveryStatus.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    expired = Q(status=DeliveryStatus.PROCESSING, lease_expires_at__lt=now) & (
        Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=F("lease_expires_at"))
    )
    orphaned = Q(status=DeliveryStatus.PROCESSING, claimed_by__in=dead_workers(now)) & (
        stale_enqueue | Q(enqueued_at__lt=F("started_at"))
    )
    return list(Delivery.objects.filter((due & stale_enqueue) | expired | orphaned).values_list("pk", flat=True)[:1000])


#: Statuses a delivery never leaves by itself: retention may delete them. Dead deliveries wait for a person.
FINISHED = (DeliveryStatus.PROCESSED, DeliveryStatus.PARTIAL, DeliveryStatus.FAILED, DeliveryStatus.REJECTED)


def prune_deliveries(*, days: float | None = None, batch: int = 20) -> int:
    """Delete finished deliveries received more than ``days`` ago (default ``DELIVERY_RETENTION_DAYS``; 0 keeps
    everything), with their decisions; source records keep everything but the link to the delivery. A few
    deliveries per transaction, so a big backlog never holds SQLite's write lock for long. Returns how many."""
    days = settings.DELIVERY_RETENTION_DAYS if days is None else days
    if days <= 0:
        return 0
    old = Delivery.objects.filter(status__in=FINISHED, received_at__lt=timezone.now() - timedelta(days=days))
    pruned = 0
    while ids := list(old.values_list("pk", flat=True)[:batch]):
        with transaction.atomic():
            pruned += Delivery.objects.filter(pk__in=ids).only("pk").delete()[1].get(Delivery._meta.label, 0)
    if pruned:
        logger.info("deleted %d deliveries older than %g days", pruned, days)
    return pruned
