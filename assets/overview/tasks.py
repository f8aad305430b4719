"""The Overview's background recount of a large inventory (asked for by the page when its counts are old)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from ..models import InventoryCounts
from .counts import SNAPSHOT_PK, refresh_counts

#: A background recount asked for longer ago than this (and not done) is asked for again.
REFRESH_RETRY_SECONDS = 120


@task()
def refresh_counts_task() -> int:
    """Recount the inventory for the Overview; returns how long the count took, in milliseconds."""
    return refresh_counts().duration_ms


def request_refresh() -> bool:
    """Queue one background recount, unless one was asked for recently and has not run yet. True if queued."""
    now = timezone.now()
    InventoryCounts.objects.get_or_create(pk=SNAPSHOT_PK)
    recent = now - timedelta(seconds=REFRESH_RETRY_SECONDS)
    claimed = (
        InventoryCounts.objects.filter(pk=SNAPSHOT_PK)
        .filter(Q(refresh_requested_at__isnull=True) | Q(refresh_requested_at__lt=recent))
        .update(refresh_requested_at=now)
    )
    if claimed:
        transaction.on_commit(refresh_counts_task.enqueue)
    return bool(claimed)
