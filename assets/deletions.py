"""Deleting source records, planned: what each deletion of a source key does against the current inventory.

:func:`plan_deletions` is the one check behind a source's ``deleted`` list, a full sync's deletions, a purge
(``assets.services.delete_source_records`` writes what it plans) and a dry run (which only shows it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db.models import Q

from .choices import DecisionOutcome
from .models import SourceRecord


@dataclass(frozen=True)
class PlannedDeletion:
    """What a deletion of one source key does: ``asset_id`` is the asset of the live source record it marks
    deleted (``None``: there is none, the deletion is skipped)."""

    source_key: str
    asset_id: int | None
    outcome: str
    reason: str


def plan_deletions(
    connector,
    source_keys: Sequence[str],
    *,
    only: Q | None = None,
    why: Callable[[SourceRecord], str] | None = None,
) -> list[PlannedDeletion]:
    """What deleting these source keys would do against the current inventory, one query, nothing written: the
    decisions :func:`delete_source_records` records, and what a dry run shows.

    ``only`` narrows which live records go (a purge re-checks that a record is still stale; one reported again
    meanwhile is left out, with nothing to tell); ``why(record)`` words the reason of each deletion."""
    keys = list(dict.fromkeys(source_keys))
    live = SourceRecord.objects.filter(connector=connector, source_key__in=keys, deleted=False)
    if only is not None:
        live = live.filter(only)
    records = {record.source_key: record for record in live.only("source_key", "asset_id", "reported_at")}
    planned = []
    for key in keys:
        record = records.get(key)
        if record is None:
            if only is not None:
                continue
            asset_id = None
            reason = "deletion ignored: this connector has no live record with that source key"
            outcome = DecisionOutcome.SKIPPED
        else:
            asset_id = record.asset_id
            reason = why(record) if why else "the source reported the record deleted"
            outcome = DecisionOutcome.DELETED
        if not connector.csam_enabled and asset_id:
            reason += " (CSAM module off: inventory not changed)"
        planned.append(PlannedDeletion(key, asset_id, outcome, reason))
    return planned
