"""Full syncs: a sender's complete list of records, in parts; what no part reported is deleted at the end.

The walk of one sync (statuses in ``connectors.choices.SyncStatus``):

1. **Intake** (:func:`open_part`, inside ``store_delivery``'s transaction): a body whose ``sync`` marker is valid
   joins the connector's *open* sync with that id, or opens one. The sync's row is locked meanwhile, so a part
   never joins a sync that is being weighed at that moment. A body refused at intake (400) is no part.
2. **Each part** is processed like any delivery; then (:func:`record_reported`) the source keys it reported are
   added to ``SyncKey`` in bulk. Keys of records with errors count too: the sender says they exist. Idempotent,
   so a part retried after a crash adds nothing twice.
3. **Weighing** (:func:`part_finished`, inside the worker's ``_finish`` transaction): when the final part has
   arrived and no part is outstanding (every part ``processed``, ``partial`` or ``failed``), whichever part
   finishes last counts what would be deleted (:func:`deletion_candidates`). More than the connector's
   ``sync_delete_limit`` percent of its live records: ``held`` (nothing deleted; a Connector admin confirms or
   discards it, ``connectors.sync_actions``). Otherwise ``deleting`` (or ``completed`` when nothing is to go). A
   ``dead`` or ``rejected`` part keeps the sync open until it is replayed or the sync discarded.
4. **Deleting** (:func:`run_deletions`): bounded batches through ``assets.services.process_deletions``, the path
   of a body's ``deleted`` list (assets with no live source left are retired). A runner holds a lease renewed per
   batch; one that died is replaced by the recovery sweep once the lease expires, and carries on where it stopped.

What is never deleted: keys any part reported, and records that other deliveries received since the sync's first
part reported (their decisions, or the source record's last delivery, say so).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from assets.models import Decision, SourceRecord
from assets.services import process_deletions

from .choices import DeliveryStatus, SyncStatus
from .formats.sync import SyncMark
from .models import Connector, Delivery, Sync, SyncKey

logger = logging.getLogger(__name__)

#: Part statuses after which a part's reported keys are all recorded.
DONE = (DeliveryStatus.PROCESSED, DeliveryStatus.PARTIAL, DeliveryStatus.FAILED)
#: Rows per bulk insert of reported keys, and source records per deletion transaction.
KEY_BATCH = 1000
DELETE_BATCH = 500
#: Records shown as examples of what a held sync would delete.
EXAMPLES = 10


def open_part(connector: Connector, mark: SyncMark, *, now: datetime) -> Sync:
    """The open sync a new part marked ``mark`` joins, opened if there is none; its row stays locked until the
    caller's transaction ends. Run inside that transaction (``store_delivery``)."""
    wanted = Sync.objects.select_for_update().filter(connector=connector, sync_id=mark.sync_id, status=SyncStatus.OPEN)
    sync = wanted.first()
    if sync is None:
        try:
            with transaction.atomic():
                sync = Sync.objects.create(connector=connector, sync_id=mark.sync_id, started_at=now)
        except IntegrityError:  # a concurrent first part opened it: join that one
            sync = wanted.get()
    if mark.final and sync.final_received_at is None:
        sync.final_received_at = now
        Sync.objects.filter(pk=sync.pk).update(final_received_at=now)
    return sync


def reported_keys(batch) -> set[str]:
    """The source keys a parsed part reports: its records' and those of its records with errors."""
    keys = {record.source_key for record in batch.records}
    keys.update(error.source_key for error in batch.errors if error.source_key)
    return keys


def record_reported(sync_pk: int, keys: Iterable[str]) -> int:
    """Add the source keys a processed part reported (:func:`reported_keys`) to its sync, while it is open (a part
    replayed after its sync is over adds nothing)."""
    if not Sync.objects.filter(pk=sync_pk, status=SyncStatus.OPEN).exists():
        return 0
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), KEY_BATCH):
        SyncKey.objects.bulk_create(
            [SyncKey(sync_id=sync_pk, source_key=key[:255]) for key in ordered[start : start + KEY_BATCH]],
            ignore_conflicts=True,
        )
    return len(ordered)


def deletion_candidates(sync: Sync) -> QuerySet[SourceRecord]:
    """The connector's live source records the sync would delete: not reported by any of its parts (nor already
    deleted by it), and not reported by another delivery received since the sync started."""
    since = sync.started_at
    key = OuterRef("source_key")
    listed = SyncKey.objects.filter(sync_id=sync.pk, source_key=key)  # served by unique_sync_key
    recent = Decision.objects.filter(  # served by decision_source_idx
        connector_id=sync.connector_id, source_key=key, delivery__received_at__gte=since
    ).exclude(delivery__sync_id=sync.pk)
    # Anti-joins (NOT EXISTS), never NOT IN: a large sync's key list must not turn into a nested loop.
    return (
        SourceRecord.objects.filter(connector_id=sync.connector_id, deleted=False)
        .exclude(Exists(listed))
        .exclude(Exists(recent))
        .exclude(last_delivery__received_at__gte=since)
    )


def drop_reported_keys(sync_pk: int) -> None:
    """A sync that is over needs its reported keys no more (the count stays on the sync); the keys it deleted
    stay, for its page."""
    SyncKey.objects.filter(sync_id=sync_pk, deleted=False).delete()


def examples(sync: Sync, limit: int = EXAMPLES) -> list[dict]:
    """A few records the sync would delete, as the confirmation shows them."""
    rows = (
        deletion_candidates(sync)
        .order_by("source_key")
        .values_list("source_key", "asset__uuid", "asset__hostname", "asset__fqdn")[:limit]
    )
    return [
        {"source_key": key, "asset": str(asset_uuid), "hostname": hostname or fqdn or ""}
        for key, asset_uuid, hostname, fqdn in rows
    ]


def outstanding_parts(sync: Sync) -> QuerySet[Delivery]:
    """Parts not processed yet (queued, processing), or stopped (dead, rejected): the sync waits for them."""
    return Delivery.objects.filter(sync_id=sync.pk).exclude(status__in=DONE)


def part_finished(sync_pk: int) -> bool:
    """A part of this sync just finished (called in the transaction that records it). Weigh the deletions if it
    was the last part outstanding; True when :func:`run_deletions` should run once the transaction commits."""
    sync = (
        Sync.objects.select_for_update(of=("self",))  # the sync's row only, not its connector's
        .select_related("connector")
        .filter(pk=sync_pk, status=SyncStatus.OPEN, final_received_at__isnull=False)
        .first()
    )
    if sync is None or outstanding_parts(sync).exists():
        return False
    return weigh(sync)


def weigh(sync: Sync) -> bool:
    """Count what the sync would delete and decide: held (over the limit), deleting, or completed (nothing to
    delete, or the CSAM module is off: the inventory is not changed). True when deletions are to run."""
    now = timezone.now()
    connector = sync.connector
    live = SourceRecord.objects.filter(connector_id=connector.pk, deleted=False).count()
    would = deletion_candidates(sync).count() if connector.csam_enabled else 0
    sync.reported = SyncKey.objects.filter(sync_id=sync.pk, deleted=False).count()
    sync.live_records, sync.would_delete, sync.delete_limit = live, would, connector.sync_delete_limit
    sync.evaluated_at = now
    if would * 100 > live * connector.sync_delete_limit:
        sync.status = SyncStatus.HELD
        sync.examples = examples(sync)
        logger.warning("full sync %s of connector %s held: it would delete %d of %d", sync.pk, connector, would, live)
    elif would:
        sync.status = SyncStatus.DELETING
    else:
        sync.status, sync.finished_at = SyncStatus.COMPLETED, now
        drop_reported_keys(sync.pk)
    sync.save(
        update_fields=[
            "reported",
            "live_records",
            "would_delete",
            "delete_limit",
            "evaluated_at",
            "status",
            "examples",
            "finished_at",
        ]
    )
    return sync.status == SyncStatus.DELETING


def _claim(sync_pk: int) -> datetime | None:
    """Take the deletion run of a ``deleting`` sync nobody runs (no lease, or an expired one); its lease, or None."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    claimed = (
        Sync.objects.filter(pk=sync_pk, status=SyncStatus.DELETING)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(lease_expires_at=lease)
    )
    return lease if claimed else None


def run_deletions(sync_pk: int) -> int:
    """Delete, in bounded batches, what a ``deleting`` sync no longer reports; then it is ``completed``.

    Each batch is one transaction: the source records marked deleted (their assets retired when no live source is
    left), the keys noted as deleted by the sync, the lease renewed. A runner that finds its lease taken stops.
    Returns how many records this run deleted (0 when another runner holds the sync).
    """
    lease = _claim(sync_pk)
    if lease is None:
        return 0
    sync = Sync.objects.select_related("connector").get(pk=sync_pk)
    reason = f"not reported by full sync {sync.sync_id!r}"
    done = 0
    candidates = deletion_candidates(sync).order_by("source_key").values_list("source_key", flat=True)
    while keys := list(candidates[:DELETE_BATCH]):
        with transaction.atomic():
            renewed = timezone.now() + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
            if not Sync.objects.filter(pk=sync_pk, status=SyncStatus.DELETING, lease_expires_at=lease).update(
                lease_expires_at=renewed
            ):
                logger.warning("full sync %s: another runner took its deletions over; this one stops", sync_pk)
                return done
            lease = renewed
            result = process_deletions(sync.connector, keys, reason=reason)
            SyncKey.objects.bulk_create(
                [SyncKey(sync_id=sync_pk, source_key=key, deleted=True) for key in keys], ignore_conflicts=True
            )
            deleted = SyncKey.objects.filter(sync_id=sync_pk, deleted=True).count()
            Sync.objects.filter(pk=sync_pk).update(deleted=deleted)
            done += result.deleted
    with transaction.atomic():
        if Sync.objects.filter(pk=sync_pk, status=SyncStatus.DELETING, lease_expires_at=lease).update(
            status=SyncStatus.COMPLETED,
            finished_at=timezone.now(),
            lease_expires_at=None,
            deleted=SyncKey.objects.filter(sync_id=sync_pk, deleted=True).count(),
        ):
            drop_reported_keys(sync_pk)
    return done


def lost_syncs() -> list[int]:
    """Ids of ``deleting`` syncs nobody is running (never claimed, or the runner's lease expired): the recovery
    sweep starts them again."""
    now = timezone.now()
    return list(
        Sync.objects.filter(status=SyncStatus.DELETING)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .values_list("pk", flat=True)[:100]
    )


def sync_summary(sync: Sync, request=None, *, final: bool | None = None) -> dict:
    """A sync in a few words, for the intake reply and a delivery's status: its id, status and API URL."""
    url = reverse("connectors-api:sync-detail", args=[sync.uuid])
    summary = {
        "id": sync.sync_id,
        "sync_uuid": str(sync.uuid),
        "status": sync.status,
        "url": request.build_absolute_uri(url) if request is not None else url,
    }
    if final is not None:
        summary["final"] = final
    return summary
