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
    return process_delivery(delivery_id, requeue=enqueue)


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
