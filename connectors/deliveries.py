"""The delivery inbox: storing what senders push, processing it in the background, and recovering from crashes.

Every accepted body is stored verbatim as a Delivery in the same transaction that schedules its processing, so
an acknowledged delivery is never lost: if the task vanishes or the worker dies, the sweep finds the row again.
Processing is idempotent (upserts keyed by connector + source key), so doing a delivery twice is harmless.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from assets.models import Decision
from assets.services import ProcessResult, engine_config, process_chunk, process_deletions

from .choices import ConnectorAction, ConnectorStatus, DeliveryStatus, PayloadFormat
from .formats import PARSERS, PayloadError, decode_json
from .formats.samples import EXAMPLE_FIELDS, csam_body, native_body, sample_record
from .models import Connector, ConnectorEvent, Delivery
from .tasks import process_delivery_task

logger = logging.getLogger(__name__)

#: Request headers kept with a delivery (never credentials).
KEPT_HEADERS = ("content-type", "user-agent", "webhook-id", "webhook-timestamp", "idempotency-key", "x-request-id")
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Received:
    """What storing a delivery did: the delivery, and whether it already existed (an idempotent repeat)."""

    delivery: Delivery
    created: bool


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


def store_delivery(
    connector: Connector,
    body: bytes,
    *,
    content_type: str = "application/json",
    payload_format: str | None = None,
    headers: dict[str, str] | None = None,
    idempotency_key: str = "",
    authenticated_by: str = "",
    rejected_reason: str = "",
    errors: list[dict] | None = None,
    is_test: bool = False,
) -> Received:
    """Store a delivery verbatim and enqueue it; a rejected one is stored for the admin but not processed.

    A repeated idempotency key returns the first delivery (``created`` False) and changes nothing, even when
    the repeats race each other: the unique constraint decides.
    """
    idempotency_key = idempotency_key[:255]
    now = timezone.now()
    try:
        with transaction.atomic():
            delivery = Delivery.objects.create(
                connector=connector,
                idempotency_key=idempotency_key,
                body=body,
                size=len(body),
                content_type=content_type[:255],
                payload_format=payload_format or connector.payload_format,
                headers={key: value[:500] for key, value in (headers or {}).items() if key in KEPT_HEADERS},
                authenticated_by=authenticated_by,
                status=DeliveryStatus.REJECTED if rejected_reason else DeliveryStatus.QUEUED,
                last_error=rejected_reason,
                errors=errors or [],
                records_errors=len(errors or []),
                finished_at=now if rejected_reason else None,
                enqueued_at=None if rejected_reason else now,
                is_test=is_test,
            )
            connector_row = Connector.objects.filter(pk=connector.pk)
            if rejected_reason:
                connector_row.update(last_delivery_at=now, last_result=ConnectorStatus.ERROR)
            else:
                # At most one write a second per connector: concurrent senders don't queue on its row lock.
                if connector.last_delivery_at is None or connector.last_delivery_at < now - timedelta(seconds=1):
                    connector_row.update(last_delivery_at=now)
                enqueue(delivery, stamped=True)
    except IntegrityError:
        # The idempotency key was seen before (perhaps by a concurrent request): the unique constraint decides,
        # so the common case costs no extra lookup.
        found = (
            Delivery.objects.defer("body").filter(connector=connector, idempotency_key=idempotency_key).first()
            if idempotency_key
            else None
        )
        if found is None:
            raise
        return Received(found, created=False)
    return Received(delivery, created=True)


def send_test_delivery(connector: Connector, *, actor=None) -> Delivery:
    """One sample asset through the real path: stored, queued and processed by the worker like any push."""
    now = timezone.now().isoformat()
    if connector.payload_format == PayloadFormat.CSAM:
        meta = {"requestId": str(uuid.uuid4()), "connectorUuid": str(connector.uuid), "assetCount": 1}
        body = csam_body(sample_record(*EXAMPLE_FIELDS), meta, sourceLastUpdatedDate=now)
    else:
        body = native_body(sample_record(), updated_at=now)
    with transaction.atomic():
        received = store_delivery(
            connector,
            json.dumps(body, indent=2).encode(),
            headers={"user-agent": "connector hub test delivery"},
            authenticated_by="test",
            is_test=True,
        )
        ConnectorEvent.record(connector, ConnectorAction.TEST_SENT, actor, delivery=str(received.delivery.uuid))
    return received.delivery


@transaction.atomic
def replay_delivery(delivery: Delivery, *, actor=None) -> Delivery:
    """Process a stored delivery again from its verbatim body (also for dead, failed and rejected ones)."""
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.QUEUED,
        attempts=0,
        next_attempt_at=None,
        lease_expires_at=None,
        finished_at=None,
        last_error="",
    )
    enqueue(delivery)
    ConnectorEvent.record(delivery.connector, ConnectorAction.REPLAYED, actor, delivery=str(delivery.uuid))
    delivery.refresh_from_db()
    return delivery


# --- processing ---------------------------------------------------------------------------------------------


def claim_delivery(delivery_id: int, worker_id: str = WORKER_ID) -> Delivery | None:
    """Take a delivery for processing, or None if another worker holds a live lease on it or it is done.

    One conditional UPDATE: atomic on every database, and it also takes over a delivery whose worker died
    (its lease expired).
    """
    now = timezone.now()
    ready = Q(status=DeliveryStatus.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    abandoned = Q(status=DeliveryStatus.PROCESSING, lease_expires_at__lt=now)
    claimed = Delivery.objects.filter(ready | abandoned, pk=delivery_id).update(
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


def _renew_lease(delivery: Delivery, result: ProcessResult) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(
        lease_expires_at=timezone.now() + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS), **_counters(result)
    )


def _counters(result: ProcessResult) -> dict[str, int]:
    return {f"records_{name}": getattr(result, name) for name in ProcessResult.COUNTERS}


def _fault_hook(delivery: Delivery) -> None:
    """Test-only fault injection: DELIVERY_FAULT_HOOK names a callable run before each attempt (unset in use)."""
    if hook := getattr(settings, "DELIVERY_FAULT_HOOK", ""):
        import_string(hook)(delivery)


def process_delivery(delivery_id: int, worker_id: str = WORKER_ID) -> str:
    """Claim, parse and process one delivery; returns its final (or next) status."""
    delivery = claim_delivery(delivery_id, worker_id)
    if delivery is None:
        return "not claimed"
    connector = delivery.connector
    try:
        _fault_hook(delivery)
        batch = PARSERS[delivery.payload_format](decode_json(bytes(delivery.body)))
    except PayloadError as exc:
        return _finish(delivery, DeliveryStatus.REJECTED, ProcessResult(), last_error=str(exc))
    except Exception as exc:  # any other failure is retried, then the delivery goes to dead
        return _retry_or_bury(delivery, exc)

    parse_errors = [
        {"index": e.index, "field": e.field, "message": e.message, "source_key": e.source_key} for e in batch.errors
    ]
    result = ProcessResult(received=len(batch.errors), errors=len(batch.errors), record_errors=parse_errors)
    try:
        # A previous attempt may have written some chunks; its decisions are replaced by this attempt's.
        Decision.objects.filter(delivery=delivery).delete()
        config = engine_config(connector)
        chunk_size = settings.IDENTIFICATION_CHUNK_SIZE
        for start in range(0, len(batch.records), chunk_size):
            chunk = batch.records[start : start + chunk_size]
            result.add(
                process_chunk(connector, chunk, delivery=delivery, config=config, received_at=delivery.received_at)
            )
            _renew_lease(delivery, result)
        if batch.deleted:
            result.add(process_deletions(connector, batch.deleted, delivery=delivery))
    except Exception as exc:
        return _retry_or_bury(delivery, exc)

    handled = result.created + result.updated + result.merged + result.skipped + result.deleted
    if result.errors == 0:
        status = DeliveryStatus.PROCESSED
    elif handled:
        status = DeliveryStatus.PARTIAL
    else:
        status = DeliveryStatus.FAILED
    return _finish(delivery, status, result)


_CONNECTOR_RESULT = {
    DeliveryStatus.PROCESSED: ConnectorStatus.SUCCESS,
    DeliveryStatus.PARTIAL: ConnectorStatus.PARTIAL,
}


def _finish(delivery: Delivery, status: str, result: ProcessResult, *, last_error: str = "") -> str:
    with transaction.atomic():
        updated = Delivery.objects.filter(
            pk=delivery.pk, status=DeliveryStatus.PROCESSING, claimed_by=delivery.claimed_by
        ).update(
            status=status,
            finished_at=timezone.now(),
            lease_expires_at=None,
            last_error=last_error[:5000],
            errors=result.record_errors[:1000],
            **_counters(result),
        )
        if updated:
            Connector.objects.filter(pk=delivery.connector_id).update(
                last_result=_CONNECTOR_RESULT.get(status, ConnectorStatus.ERROR)
            )
    return status


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff between attempts: base * 2^(attempt-1) (2, 4, 8… s by default), at most 10 minutes."""
    return min(settings.DELIVERY_RETRY_BASE_SECONDS * 2.0 ** (attempt - 1), 600.0)


def _retry_or_bury(delivery: Delivery, exc: Exception) -> str:
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
            ProcessResult(),
            last_error=f"gave up after {delivery.attempts} attempts: {error}",
        )
        return DeliveryStatus.DEAD
    run_after = timezone.now() + timedelta(seconds=backoff_seconds(delivery.attempts))
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PROCESSING).update(
            status=DeliveryStatus.QUEUED, next_attempt_at=run_after, lease_expires_at=None, last_error=error[:5000]
        )
        enqueue(delivery, run_after=run_after)
    return DeliveryStatus.QUEUED


def recover_deliveries(*, requeue_after: float | None = None) -> int:
    """Re-enqueue work whose task was lost. Enqueuing twice is harmless: only one claim succeeds.

    * a delivery in ``processing`` whose lease expired (its worker died) and that was not re-enqueued since;
    * a ``queued`` delivery that is due and whose task was enqueued more than ``requeue_after`` seconds ago
      (the task row vanished, or the queue was emptied).

    Returns how many deliveries were re-enqueued.
    """
    now = timezone.now()
    if requeue_after is None:
        requeue_after = settings.DELIVERY_REQUEUE_AFTER_SECONDS
    stale_enqueue = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - timedelta(seconds=requeue_after))
    due = Q(status=DeliveryStatus.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    abandoned = Q(status=DeliveryStatus.PROCESSING, lease_expires_at__lt=now) & (
        Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=F("lease_expires_at"))
    )
    ids = list(Delivery.objects.filter((due & stale_enqueue) | abandoned).values_list("pk", flat=True)[:1000])
    for delivery_id in ids:
        with transaction.atomic():
            enqueue(Delivery(pk=delivery_id))
    if ids:
        logger.info("re-enqueued %d deliveries whose processing was lost", len(ids))
    return len(ids)


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
