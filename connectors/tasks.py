"""Background tasks, and the one way a delivery gets onto the task queue (``enqueue``).

The task queue only triggers work: the Delivery row is the durable record of it. Imports run one way, inbox ->
tasks -> worker: the worker never enqueues anything itself. It is handed ``enqueue`` to schedule a retry (inside
the transaction that puts the delivery back in the queue, as intake does) and reports the deliveries whose
processing was lost, which ``recover_deliveries`` puts back on the queue.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.tasks import task
from django.utils import timezone

from .chunk_models import DeliveryChunk
from .chunks import finish_chunked, lost_chunks, process_delivery_chunk, split_delivery
from .models import Delivery
from .syncs import lost_syncs, run_deletions
from .worker import lost_deliveries, process_delivery

logger = logging.getLogger(__name__)


def enqueue(delivery: Delivery, *, run_after=None, stamped: bool = False) -> None:
    """Schedule processing once the current transaction commits (a rolled-back delivery is never processed).

    ``enqueued_at`` records when, for the sweep; ``stamped`` says the caller already wrote it.
    """
    if not stamped:
        Delivery.objects.filter(pk=delivery.pk).update(enqueued_at=timezone.now())
    task = process_delivery_task
    if run_after and task.get_backend().supports_defer:
        task = task.using(run_after=run_after)  # otherwise the sweep picks it up once it is due
    delivery_id = delivery.pk
    transaction.on_commit(lambda: task.enqueue(delivery_id))


@task()
def process_delivery_task(delivery_id: int) -> str:
    """Process one delivery; a transient failure is enqueued again for after its backoff."""
    return process_delivery(delivery_id, requeue=enqueue, split=_split)


def _split(delivery: Delivery, batch) -> str:
    return split_delivery(delivery, batch, enqueue_chunk=enqueue_chunk)


def enqueue_chunk(chunk: DeliveryChunk, *, run_after=None, stamped: bool = False) -> None:
    """Schedule one chunk of a big delivery once the current transaction commits (as ``enqueue`` does)."""
    if not stamped:
        DeliveryChunk.objects.filter(pk=chunk.pk).update(enqueued_at=timezone.now())
    task = process_chunk_task
    if run_after and task.get_backend().supports_defer:
        task = task.using(run_after=run_after)
    chunk_id = chunk.pk
    transaction.on_commit(lambda: task.enqueue(chunk_id))


@task()
def process_chunk_task(chunk_id: int) -> str:
    """Process one chunk of a big delivery (connectors.chunks); the last chunk finalizes the delivery."""
    return process_delivery_chunk(chunk_id, enqueue_chunk=enqueue_chunk)


@task()
def finish_chunked_task(delivery_id: int) -> str | None:
    """Finalize a chunked delivery whose chunks are all finished (its last chunk's worker died before)."""
    return finish_chunked(delivery_id)


def recover_chunks(*, requeue_after: float | None = None) -> int:
    """The recovery sweep for chunks: re-enqueue lost chunks and finalize chunked deliveries nobody finalized.
    Twice is harmless: one claim succeeds, and finalizing is done once. Returns how many were restarted."""
    chunk_ids, delivery_ids = lost_chunks(requeue_after=requeue_after)
    for chunk_id in chunk_ids:
        with transaction.atomic():
            enqueue_chunk(DeliveryChunk(pk=chunk_id))
    for delivery_id in delivery_ids:
        finish_chunked_task.enqueue(delivery_id)
    if chunk_ids or delivery_ids:
        logger.info("re-enqueued %d chunks and %d chunked deliveries to finalize", len(chunk_ids), len(delivery_ids))
    return len(chunk_ids) + len(delivery_ids)


def recover_deliveries(*, requeue_after: float | None = None) -> int:
    """The recovery sweep: re-enqueue the deliveries whose processing was lost (see ``lost_deliveries``).
    Enqueuing twice is harmless: only one claim succeeds. Returns how many deliveries were re-enqueued."""
    ids = lost_deliveries(requeue_after=requeue_after)
    for delivery_id in ids:
        with transaction.atomic():
            enqueue(Delivery(pk=delivery_id))
    if ids:
        logger.info("re-enqueued %d deliveries whose processing was lost", len(ids))
    return len(ids)


@task()
def run_sync_deletions_task(sync_id: int) -> int:
    """Delete what a confirmed (or interrupted) full sync no longer reports (connectors.syncs.run_deletions)."""
    return run_deletions(sync_id)


def start_sync_deletions(sync_id: int) -> None:
    """Run a sync's deletions in the background once the current transaction commits."""
    transaction.on_commit(lambda: run_sync_deletions_task.enqueue(sync_id))


def recover_syncs() -> int:
    """The recovery sweep for full syncs: start again the deletions nobody runs (a runner died, a task was lost).
    Starting twice is harmless: only one runner holds a sync's lease. Returns how many were started."""
    ids = lost_syncs()
    for sync_id in ids:
        run_sync_deletions_task.enqueue(sync_id)
    if ids:
        logger.info("restarted the deletions of %d full syncs", len(ids))
    return len(ids)


@task()
def reconcile_connector_assets_task(connector_id: int) -> int:
    """Re-derive every asset a connector reports (after its trust rank changed). Returns how many."""
    from assets.models import SourceRecord
    from assets.services import reconcile_assets

    asset_ids = list(
        SourceRecord.objects.filter(connector_id=connector_id, deleted=False)
        .values_list("asset_id", flat=True)
        .distinct()
    )
    for start in range(0, len(asset_ids), 1000):
        reconcile_assets(asset_ids[start : start + 1000])
    return len(asset_ids)
