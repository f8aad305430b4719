"""What a Connector admin does to a full sync: confirm a held one's deletions, or discard a sync.

Each owns its transaction and writes the connector's audit row next to the change, so the UI and the API behave the
same. Confirming hands the deletions to a background task (a held sync is a large one); the recovery sweep starts
them again if that task is lost.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .choices import ConnectorAction, SyncStatus
from .models import ConnectorEvent, Sync
from .syncs import drop_reported_keys
from .tasks import start_sync_deletions


class SyncStateError(Exception):
    """The sync is not in a state that allows this (already confirmed, completed or discarded)."""


def _locked(sync: Sync) -> Sync:
    return Sync.objects.select_for_update(of=("self",)).select_related("connector").get(pk=sync.pk)


@transaction.atomic
def confirm_sync(sync: Sync, *, actor=None) -> Sync:
    """Let a held sync delete what it no longer reports (in the background). Records reported by other deliveries
    since it started are still spared, so the count deleted may be lower than the one confirmed."""
    sync = _locked(sync)
    if sync.status != SyncStatus.HELD:
        raise SyncStateError(f"Only a held sync can be confirmed; this one is {sync.get_status_display().lower()}.")
    now = timezone.now()
    Sync.objects.filter(pk=sync.pk).update(
        status=SyncStatus.DELETING, decided_by=actor if _is_user(actor) else None, decided_at=now, lease_expires_at=None
    )
    ConnectorEvent.record(
        sync.connector,
        ConnectorAction.SYNC_CONFIRMED,
        actor,
        sync=sync.sync_id,
        would_delete=sync.would_delete,
        live_records=sync.live_records,
    )
    start_sync_deletions(sync.pk)
    sync.refresh_from_db()
    return sync


@transaction.atomic
def discard_sync(sync: Sync, *, actor=None) -> Sync:
    """Drop an open or held sync: nothing is deleted. Its parts stay processed (their records were written); a
    later part with the same id starts a new sync."""
    sync = _locked(sync)
    if sync.status not in (SyncStatus.OPEN, SyncStatus.HELD):
        raise SyncStateError(
            f"Only an open or held sync can be discarded; this one is {sync.get_status_display().lower()}."
        )
    now = timezone.now()
    Sync.objects.filter(pk=sync.pk).update(
        status=SyncStatus.DISCARDED, decided_by=actor if _is_user(actor) else None, decided_at=now, finished_at=now
    )
    drop_reported_keys(sync.pk)
    ConnectorEvent.record(sync.connector, ConnectorAction.SYNC_DISCARDED, actor, sync=sync.sync_id, was=sync.status)
    sync.refresh_from_db()
    return sync


def _is_user(actor) -> bool:
    return actor is not None and getattr(actor, "is_authenticated", False)
