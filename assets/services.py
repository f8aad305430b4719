"""Writes to the inventory. The identification engine decides; these functions apply its decisions in bulk.

One chunk of records is one transaction: lock the identities it touches, load the slice of the inventory it can
match (a fixed number of queries whatever the chunk size), run the pure engine, then write assets, source
records, identifiers and decisions in bulk (assets.writes) and re-derive the touched assets' reconciled attributes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone

from connectors_site.common.db import indexed_fields, select_by_keys, update_rows_sparing_indexes
from connectors_site.common.gc_pause import collect_between_chunks

from . import engine
from .deletions import plan_deletions
from .duplicates import dismissed_sets, known_distinct
from .engine import Outcome
from .engine.inputs import HELD_KINDS, fold_rank, reached_assets
from .engine.records import REPORTED_ATTRIBUTES, AssetRecord
from .identity_locks import lock_identities as _lock_identities
from .joins import write_joins
from .models import Asset, Decision, Identifier, SourceRecord
from .writes import apply_decisions, conflict_values, refresh_last_seen, shown_values, write_decisions


@dataclass
class ProcessResult:
    """What processing a batch did, counted the way the delivery log shows it."""

    received: int = 0
    created: int = 0
    updated: int = 0
    merged: int = 0
    skipped: int = 0
    deleted: int = 0
    errors: int = 0
    record_errors: list[dict] = field(default_factory=list)

    COUNTERS = ("received", "created", "updated", "merged", "skipped", "deleted", "errors")

    def add(self, other: ProcessResult) -> None:
        for name in self.COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.record_errors.extend(other.record_errors)


def engine_config(connector) -> engine.EngineConfig:
    """The connector's enabled rules in order (the native-key rule is the engine's own first step)."""
    rules = tuple(
        engine.RuleSpec(item.rule_id, item.rule.name, tuple(item.rule.attributes))
        for item in connector.rule_selection.filter(enabled=True, rule__is_system=False).select_related("rule")
    )
    return engine.EngineConfig(
        trust_rank=connector.trust_rank,
        rules=rules,
        create_unmanaged=connector.create_unmanaged,
        apply_default_rule=connector.apply_default_rule,
        shared_limit=settings.IDENTIFIER_SHARED_LIMIT,
    )


def process_records(
    connector,
    records: Sequence[AssetRecord],
    *,
    deleted: Sequence[str] = (),
    delivery=None,
    chunk_size: int | None = None,
    config: engine.EngineConfig | None = None,
    received_at: datetime | None = None,
    result: ProcessResult | None = None,
    after_chunk: Callable[[ProcessResult], None] | None = None,
) -> ProcessResult:
    """Identify and write ``records`` (and mark ``deleted`` source keys gone) for one connector: the one chunk
    loop, run by the delivery worker, the tests and the benchmark alike.

    Each chunk of ``chunk_size`` records (default ``IDENTIFICATION_CHUNK_SIZE``) is one transaction
    (``process_chunk``); ``received_at`` dates the records that carry no timestamp of their own. Counts are added
    to ``result`` (a fresh one by default; the worker's already counts the records its parser rejected), and
    ``after_chunk(result)`` runs after each committed chunk (the worker renews its lease and stores the counts).

    Safe to run twice on the same input: the second run matches every record by its source native key and
    leaves the inventory as the first run left it.
    """
    chunk_size = chunk_size or settings.IDENTIFICATION_CHUNK_SIZE
    config = config or engine_config(connector)
    result = ProcessResult() if result is None else result
    for start in range(0, len(records), chunk_size):
        chunk = records[start : start + chunk_size]
        with collect_between_chunks():
            result.add(process_chunk(connector, chunk, delivery=delivery, config=config, received_at=received_at))
        if after_chunk is not None:
            after_chunk(result)
    if deleted:
        result.add(process_deletions(connector, deleted, delivery=delivery))
    return result


def _source_rows(connector, source_keys: set[str]) -> dict[str, tuple]:
    """This connector's existing source records for these keys:
    key -> (id, asset id, first seen, updated at, digest, deleted, last seen)."""
    return {
        row[1]: (row[0], *row[2:])
        for row in SourceRecord.objects.filter(connector=connector, source_key__in=source_keys).values_list(
            "pk", "source_key", "asset_id", "first_seen", "source_updated_at", "digest", "deleted", "last_seen"
        )
    }


def load_index(
    connector,
    normalized: Sequence[engine.NormalizedRecord],
    source_rows: dict[str, tuple] | None = None,
    shared_limit: int | None = None,
    keys: set[tuple[str, str]] | None = None,
) -> engine.IdentityIndex:
    """The slice of the inventory these records can match, in four queries whatever their number: this
    connector's source records, the assets holding each (kind, value) of the records, and for every asset those
    reach (:func:`engine.inputs.reached_assets`) its best live trust rank and last update (the default rule) and
    its strong identifiers and host names (vetoes). Ranks are loaded for every reached asset, not only those one
    record sees together: an asset can become a candidate later in the same chunk. ``keys``: the records'
    :func:`engine.index_keys`, when the caller has them already."""
    if source_rows is None:
        source_rows = _source_rows(connector, {item.record.source_key for item in normalized})
    if shared_limit is None:
        shared_limit = settings.IDENTIFIER_SHARED_LIMIT
    sources = {key: engine.ExistingSource(row[1], row[3]) for key, row in source_rows.items()}
    identifiers: dict[tuple[str, str], set[int]] = defaultdict(set)
    if keys is None:
        keys = engine.index_keys(normalized)
    by_value = ((value, kind) for kind, value in keys)
    for value, kind, asset_id in select_by_keys(Identifier, ("value", "kind"), by_value, ("value", "kind", "asset_id")):
        identifiers[(kind, value)].add(asset_id)
    reached = sorted(reached_assets(identifiers, sources.values(), shared_limit))
    ranks: dict[int, engine.AssetRank] = {}
    held: dict[int, dict[str, frozenset[str]]] = {}
    connector_assets: set[int] = set()
    connectors: dict[int, set[int]] = defaultdict(set)
    if reached:
        # Per (asset, connector): one row each, folded here into the asset's rank and the connectors holding it.
        for asset_id, connector_id, best, last in (
            SourceRecord.objects.filter(asset_id__in=reached, deleted=False)
            .values("asset_id", "connector_id")
            .annotate(best=Max("connector__trust_rank"), last=Max("source_updated_at"))
            .values_list("asset_id", "connector_id", "best", "last")
        ):
            ranks[asset_id] = fold_rank(ranks.get(asset_id), best, last)
            if connector_id == connector.pk:
                connector_assets.add(asset_id)
            else:
                connectors[asset_id].add(connector_id)
        values: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for asset_id, kind, value in Identifier.objects.filter(asset_id__in=reached, kind__in=HELD_KINDS).values_list(
            "asset_id", "kind", "value"
        ):
            values[asset_id][kind].add(value)
        held = {
            asset_id: {kind: frozenset(found) for kind, found in kinds.items()} for asset_id, kinds in values.items()
        }
    return engine.IdentityIndex(
        sources=sources,
        identifiers=dict(identifiers),
        ranks=ranks,
        held=held,
        connector_assets=connector_assets,
        connectors={asset_id: frozenset(found) for asset_id, found in connectors.items()},
    )


_COUNTER = {
    Outcome.CREATED: "created",
    Outcome.UPDATED: "updated",
    Outcome.MERGED: "merged",
    Outcome.SKIPPED: "skipped",
    Outcome.UNCHANGED: "skipped",
    Outcome.ERROR: "errors",
}


@dataclass
class Identified:
    """One chunk identified against the inventory, nothing written yet: what :func:`process_chunk` writes, and
    what a dry run or an impact preview shows."""

    records: list[AssetRecord]
    normalized: list[engine.NormalizedRecord]
    source_rows: dict[str, tuple]
    index: engine.IdentityIndex
    decisions: list


def identify_chunk(
    connector,
    records: Sequence[AssetRecord],
    *,
    config: engine.EngineConfig,
    received_at: datetime | None = None,
    lock: bool = False,
) -> Identified:
    """Run the engine on one chunk against the current inventory without writing anything.

    A record without its own timestamp is dated ``received_at`` (the delivery's receipt time), so an older
    delivery processed late cannot overwrite what a newer one wrote. ``lock`` takes the identities'
    locks first (the write path, inside its transaction); read-only callers leave it off.
    """
    if received_at is not None:
        records = [
            record if record.updated_at else replace(record, updated_at=record.last_seen or received_at)
            for record in records
        ]
    records = list(records)
    normalized = [engine.normalize_record(record) for record in records]
    keys = engine.index_keys(normalized)
    source_keys = {item.record.source_key for item in normalized}
    if lock:
        _lock_identities(connector.pk, source_keys, keys)
    source_rows = _source_rows(connector, source_keys)
    index = load_index(connector, normalized, source_rows, keys=keys)
    decisions = engine.identify_records(records, index, config, normalized)
    return Identified(records, normalized, source_rows, index, decisions)


@transaction.atomic
def process_chunk(
    connector,
    records: Sequence[AssetRecord],
    *,
    delivery=None,
    config: engine.EngineConfig,
    received_at: datetime | None = None,
):
    """Identify (:func:`identify_chunk`) and write one chunk in one transaction (see the module docstring)."""
    now = timezone.now()
    identified = identify_chunk(connector, records, config=config, received_at=received_at, lock=True)
    decisions, index, source_rows = identified.decisions, identified.index, identified.source_rows
    result = _count_outcomes(decisions, received=len(records))

    if connector.csam_enabled:
        written = apply_decisions(connector, decisions, index, source_rows, delivery=delivery, now=now)
        # Assets a record tied together are merged (assets.joins); each survivor is re-derived, no loser is.
        joined = write_joins(connector, decisions, written.target_to_asset, delivery=delivery)
        touched = (written.touched | set(joined.values())) - set(joined)
        _flag_possible_duplicates(decisions, written.target_to_asset, joined)
        # Existing assets whose sources changed are re-derived from all their live sources.
        reconcile_assets(touched)
        refreshed = [(source, joined.get(asset, asset), seen, did) for source, asset, seen, did in written.refreshed]
        refresh_last_seen(refreshed, skip_assets=touched, now=now)
        asset_ids = written.target_to_asset
    else:
        asset_ids = {d.asset_id: d.asset_id for d in decisions if d.asset_id}
    write_decisions(connector, decisions, asset_ids, delivery=delivery, inventory_changed=connector.csam_enabled)
    return result


def _flag_possible_duplicates(decisions, target_to_asset: dict[int, int], joined: dict[int, int]) -> None:
    """Flag, for the Duplicates view, the existing assets the engine chose among several candidates or found tied
    to another asset by a record (new assets are inserted already flagged; tied ones may be new; a joined asset
    is flagged on its survivor). One query, only when there is something to flag."""
    flagged: set[int] = set()
    # Candidates an admin declared distinct ("Not a duplicate") are not flagged again by the same evidence.
    distinct = dismissed_sets() if any(d.possible_duplicate or d.linked for d in decisions) else []
    for decision in decisions:
        if distinct and known_distinct({*decision.candidates, *decision.linked, decision.asset_id}, distinct):
            continue
        if decision.possible_duplicate and decision.asset_id:
            flagged.add(decision.asset_id)
        for target in decision.linked:
            flagged.add(target_to_asset.get(target, target) if target < 0 else target)
    flagged.discard(None)
    flagged = {joined.get(asset_id, asset_id) for asset_id in flagged}
    if flagged:
        Asset.objects.filter(pk__in=sorted(flagged), possible_duplicate=False).update(possible_duplicate=True)


def _count_outcomes(decisions, *, received: int) -> ProcessResult:
    """The delivery log's counters for one chunk's decisions; an engine error is also a per-record error."""
    result = ProcessResult(received=received)
    for decision in decisions:
        if decision.outcome == Outcome.AMBIGUOUS:
            result.created += decision.new_asset_key is not None
            result.skipped += decision.new_asset_key is None
        else:
            setattr(result, _COUNTER[decision.outcome], getattr(result, _COUNTER[decision.outcome]) + 1)
        if decision.outcome == Outcome.ERROR:
            result.record_errors.append(
                {
                    "index": None,
                    "field": "",
                    "message": "; ".join(decision.reasons),
                    "source_key": decision.source_key,
                }
            )
    return result


def process_deletions(
    connector, source_keys: Sequence[str], *, delivery=None, reason: str = "the source reported the record deleted"
) -> ProcessResult:
    """The source says these records are gone: mark their source records deleted, drop their identifiers, and
    retire assets no live source reports any more (re-derive the others). ``reason`` is what each decision says
    (a full sync's deletions name the sync)."""
    return delete_source_records(connector, source_keys, delivery=delivery, why=lambda _record: reason)


@transaction.atomic
def delete_source_records(
    connector,
    source_keys: Sequence[str],
    *,
    delivery=None,
    only: Q | None = None,
    why: Callable[[SourceRecord], str] | None = None,
    now: datetime | None = None,
) -> ProcessResult:
    """Mark these live source records of ``connector`` deleted (a source-side delete, or a purge), under the
    identities' locks, with one decision row each for the assets' history.

    ``only`` narrows, inside the lock, which records go (the purge re-checks that a record is still stale and
    unreported, so a report that arrived meanwhile wins); ``why(record)`` words the reason of each deletion."""
    now = now or timezone.now()
    keys = list(dict.fromkeys(source_keys))
    result = ProcessResult(received=len(keys))
    _lock_identities(connector.pk, keys, ())
    planned = plan_deletions(connector, keys, only=only, why=why)
    found = {item.source_key: item.asset_id for item in planned if item.asset_id is not None}
    result.deleted = len(found)
    result.skipped = len(keys) - len(found)
    decisions = [
        Decision(
            connector=connector,
            delivery=delivery,
            source_key=item.source_key[:255],
            outcome=item.outcome,
            asset_id=item.asset_id,
            reasons=[item.reason],
        )
        for item in planned
    ]
    if found and connector.csam_enabled:
        sources = SourceRecord.objects.filter(connector=connector, source_key__in=list(found))
        Identifier.objects.filter(source_record__in=sources).delete()
        sources.update(deleted=True, deleted_at=now)
        reconcile_assets(set(found.values()))
    Decision.objects.bulk_create(decisions)
    return result


#: The asset columns ``reconcile_assets`` derives, and those of them an index covers.
_RECONCILED_COLUMNS = (
    *REPORTED_ATTRIBUTES,
    "provenance",
    "first_seen",
    "last_seen",
    "retired",
    "retired_at",
    "updated_at",
    "identifier_conflict",
    "identifier_conflicts",
    "stale",
)
_RECONCILED_INDEXED = tuple(name for name in _RECONCILED_COLUMNS if name in indexed_fields(Asset))


@transaction.atomic
def reconcile_assets(asset_ids: Iterable[int]) -> None:
    """Re-derive each asset's shown attributes, provenance, first/last seen, retired and stale flags and identifier
    conflicts (live sources disagreeing on a strong identifier) from its live sources (most trusted first, then
    most recent). An asset left with no live source is retired, not erased."""
    asset_ids = set(asset_ids)
    if not asset_ids:
        return
    # Row locks in id order: two chunks reconciling the same asset take turns and read each other's sources.
    # Read with them: the stored values of the indexed columns, so rows that keep them do not rewrite the indexes.
    locked = {
        pk: tuple(stored)
        for pk, *stored in Asset.objects.filter(pk__in=asset_ids)
        .select_for_update()
        .order_by("pk")
        .values_list("pk", *_RECONCILED_INDEXED)
    }
    by_asset: dict[int, list] = defaultdict(list)
    for row in SourceRecord.objects.filter(asset_id__in=list(locked), deleted=False).values_list(
        "id", "asset_id", "attributes", "source_updated_at", "first_seen", "last_seen", "connector__trust_rank", "stale"
    ):
        by_asset[row[1]].append(row)
    now = timezone.now()
    rows = []
    for asset_id, sources in by_asset.items():
        reported = [
            engine.SourceValues(pk, rank, updated, attributes) for pk, _, attributes, updated, _, _, rank, _ in sources
        ]
        shown = engine.reconcile(reported)
        rows.append(
            (
                asset_id,
                *shown_values(shown),
                {name: source_id for name, (_, source_id) in shown.items()},
                min(row[4] for row in sources),
                max(row[5] for row in sources),
                False,
                None,
                now,
                *conflict_values(reported),
                all(row[7] for row in sources),
            )
        )
    update_rows_sparing_indexes(Asset, _RECONCILED_COLUMNS, rows, locked)
    # Assets no live source reports keep their last known values, retired.
    retire_assets_without_live_sources(set(locked) - set(by_asset))


def retire_assets_without_live_sources(asset_ids: Iterable[int]) -> int:
    """Retire (never erase) the given assets that no live source reports any more. Returns how many.

    No live source disagrees with another on a retired asset, so its conflict goes too; nor is it stale (it is
    retired, which says more)."""
    live_source = SourceRecord.objects.filter(asset=OuterRef("pk"), deleted=False)
    return (
        Asset.objects.filter(pk__in=list(asset_ids), retired=False)
        .exclude(Exists(live_source))
        .update(
            retired=True, retired_at=timezone.now(), identifier_conflict=False, identifier_conflicts={}, stale=False
        )
    )
