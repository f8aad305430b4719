"""The stale and purge rules, applied by the workers' periodic lifecycle pass.

Per connector: a live source record it has not reported for ``stale_after_days`` (measured on ``reported_at``,
our clock) is **stale**; an asset whose live sources are all stale is stale. A stale record not reported for
``purge_after_days`` is **purged**: deleted exactly as a source-side delete does it
(:func:`assets.services.delete_source_records`: identifiers dropped, an asset with no live source retired), with a
``deleted`` decision row in the asset's history saying why. A report, changed or not, makes a record fresh again on
the write path (assets.writes), which also clears its asset's flag.

The pass takes the time (``now``) and a batch size: each batch is its own short transaction over at most
``batch_size`` records, found by a range of ``source_lifecycle_idx``; a pass stops after ``max_batches`` and says
whether work is left, so a worker's other housekeeping is never held up for long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from connectors.models import Connector

from .models import Asset, SourceRecord
from .services import delete_source_records


@dataclass
class LifecycleResult:
    """What one pass did: records marked stale, made fresh again (a rule relaxed), purged; assets whose flag
    changed; and whether batches were left for the next pass."""

    marked_stale: int = 0
    refreshed: int = 0
    purged: int = 0
    assets_changed: int = 0
    batches: int = 0
    more: bool = False


def stale_cutoff(connector: Connector, now: datetime) -> datetime | None:
    """Records reported before this are stale (None: this connector's records never go stale)."""
    return now - timedelta(days=connector.stale_after_days) if connector.stale_after_days else None


def purge_cutoff(connector: Connector, now: datetime) -> datetime | None:
    """Stale records reported before this are purged (None: never). Purging needs the stale rule on, and never
    comes before it: a record is purged only once it is stale."""
    if not connector.purge_after_days or not connector.stale_after_days:
        return None
    return now - timedelta(days=max(connector.purge_after_days, connector.stale_after_days))


def apply_lifecycle(now: datetime, *, batch_size: int | None = None, max_batches: int | None = None) -> LifecycleResult:
    """One lifecycle pass over every connector at time ``now`` (see the module docstring).

    Per connector, in bounded batches: mark stale the live records not reported since the stale cutoff, make
    fresh the stale ones a relaxed rule no longer covers, then purge the stale ones past the purge cutoff."""
    batch_size = batch_size or settings.LIFECYCLE_BATCH_SIZE
    max_batches = max_batches or settings.LIFECYCLE_MAX_BATCHES
    result = LifecycleResult()
    for connector in Connector.objects.order_by("pk"):
        steps = (_mark_stale, _make_fresh, _purge)
        for step in steps:
            while True:
                if result.batches >= max_batches:
                    result.more = True
                    return result
                done = step(connector, now, batch_size, result)
                if done is None:
                    break
                result.batches += 1
                if done < batch_size:
                    break
    return result


def _live(connector: Connector):
    return SourceRecord.objects.filter(connector=connector, deleted=False)


def _mark_stale(connector: Connector, now: datetime, batch_size: int, result: LifecycleResult) -> int | None:
    """One batch of live fresh records past the stale cutoff marked stale. None: nothing to do."""
    cutoff = stale_cutoff(connector, now)
    if cutoff is None:
        return None
    due = _live(connector).filter(stale=False, reported_at__lt=cutoff)
    return _flip(due, stale=True, batch_size=batch_size, result=result, counter="marked_stale")


def _make_fresh(connector: Connector, now: datetime, batch_size: int, result: LifecycleResult) -> int | None:
    """One batch of stale records the connector's rule no longer calls stale (it was relaxed or turned off)."""
    cutoff = stale_cutoff(connector, now)
    due = _live(connector).filter(stale=True)
    if cutoff is not None:
        due = due.filter(reported_at__gte=cutoff)
    return _flip(due, stale=False, batch_size=batch_size, result=result, counter="refreshed")


def _flip(due, *, stale: bool, batch_size: int, result: LifecycleResult, counter: str) -> int | None:
    """Set ``stale`` on one batch of ``due`` records and re-derive their assets' flags, in one transaction. The
    update re-applies ``due``'s conditions, so a record reported meanwhile keeps what its report wrote."""
    batch = list(due.order_by("reported_at").values_list("pk", "asset_id")[:batch_size])
    if not batch:
        return None
    with transaction.atomic():
        changed = due.filter(pk__in=[pk for pk, _ in batch]).update(stale=stale)
        result.assets_changed += refresh_asset_stale({asset_id for _, asset_id in batch})
    setattr(result, counter, getattr(result, counter) + changed)
    return len(batch)


def refresh_asset_stale(asset_ids: set[int]) -> int:
    """Re-derive the ``stale`` flag of these assets from their live sources: stale when every live source is
    stale; a retired asset (no live source) is not. Returns how many flags changed.

    The assets are locked first, in id order (as ``reconcile_assets`` does), so a chunk writing a fresh report of
    one of them is waited for, and seen."""
    if not asset_ids:
        return 0
    locked = list(
        Asset.objects.filter(pk__in=asset_ids).select_for_update().order_by("pk").values_list("pk", flat=True)
    )
    fresh_source = SourceRecord.objects.filter(asset=OuterRef("pk"), deleted=False, stale=False)
    assets = Asset.objects.filter(pk__in=locked)
    became_stale = assets.filter(stale=False, retired=False).exclude(Exists(fresh_source)).update(stale=True)
    became_fresh = assets.filter(stale=True).filter(Q(retired=True) | Exists(fresh_source)).update(stale=False)
    return became_stale + became_fresh


def _purge(connector: Connector, now: datetime, batch_size: int, result: LifecycleResult) -> int | None:
    """One batch of stale records past the purge cutoff deleted as by the source, in one transaction. Skipped
    for a connector whose CSAM module is off: its deliveries do not change the inventory, nor does its purge."""
    cutoff = purge_cutoff(connector, now)
    if cutoff is None or not connector.csam_enabled:
        return None
    condition = Q(stale=True, reported_at__lt=cutoff)
    keys = list(
        _live(connector).filter(condition).order_by("reported_at").values_list("source_key", flat=True)[:batch_size]
    )
    if not keys:
        return None
    days = connector.purge_after_days
    done = delete_source_records(
        connector,
        keys,
        only=condition,
        now=now,
        why=lambda record: (
            f"purged: not reported since {record.reported_at:%Y-%m-%d %H:%M} UTC "
            f"(this connector purges records not reported for {days} days)"
        ),
    )
    result.purged += done.deleted
    return len(keys)
