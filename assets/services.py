"""Writes to the inventory. The identification engine decides; these functions apply its decisions in bulk.

One chunk of records is one transaction: lock the identities it touches, load the slice of the inventory it can
match (a fixed number of queries whatever the chunk size), run the pure engine, then write assets, source
records, identifiers and decisions in bulk and re-derive the touched assets' reconciled attributes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from connectors_site.common.db import allocate_ids, delete_rows, insert_rows, select_by_keys, update_rows

from . import engine
from .choices import AssetKind, DecisionOutcome
from .engine import Outcome
from .engine.records import LIST_ATTRIBUTES, REPORTED_ATTRIBUTES, AssetRecord
from .models import Asset, Decision, Identifier, SourceRecord

#: Advisory-lock buckets on PostgreSQL. Bounded so a big chunk never exhausts the shared lock table; records that
#: share an identity always hash to the same bucket, so they are serialized.
LOCK_BUCKETS = 512
#: Keeps advisory locks of this product apart from any other user of the same database.
LOCK_NAMESPACE = 0x0A55E7


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
    )


def process_records(
    connector,
    records: Sequence[AssetRecord],
    *,
    deleted: Sequence[str] = (),
    delivery=None,
    chunk_size: int | None = None,
    config: engine.EngineConfig | None = None,
) -> ProcessResult:
    """Identify and write ``records`` (and mark ``deleted`` source keys gone) for one connector.

    Safe to run twice on the same input: the second run matches every record by its source native key and
    leaves the inventory as the first run left it.
    """
    chunk_size = chunk_size or settings.IDENTIFICATION_CHUNK_SIZE
    config = config or engine_config(connector)
    result = ProcessResult()
    for start in range(0, len(records), chunk_size):
        result.add(process_chunk(connector, records[start : start + chunk_size], delivery=delivery, config=config))
    if deleted:
        result.add(process_deletions(connector, deleted, delivery=delivery))
    return result


def _lock_key(*parts: object) -> int:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest) % LOCK_BUCKETS


def _lock_identities(connector_id: int, source_keys: Iterable[str], keys: Iterable[tuple[str, str]]) -> None:
    """Serialize concurrent chunks that could decide about the same machine.

    PostgreSQL: transaction-scoped advisory locks, taken in sorted order in one statement (no deadlock between
    chunks). SQLite: the transaction already holds the database's single write lock (IMMEDIATE mode).
    """
    if connection.vendor != "postgresql":
        return
    buckets = {_lock_key("src", connector_id, key) for key in source_keys}
    buckets.update(_lock_key(kind, value) for kind, value in keys)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, b) FROM unnest(%s::int[]) AS b ORDER BY b",
            [LOCK_NAMESPACE, sorted(buckets)],
        )


def _source_rows(connector, source_keys: set[str]) -> dict[str, tuple]:
    """This connector's existing source records for these keys:
    key -> (id, asset id, first seen, updated at, digest, deleted)."""
    return {
        row[1]: (row[0], *row[2:])
        for row in SourceRecord.objects.filter(connector=connector, source_key__in=source_keys).values_list(
            "pk", "source_key", "asset_id", "first_seen", "source_updated_at", "digest", "deleted"
        )
    }


def _digest(asset_id: int, attributes: dict, extra: dict, keys: set, updated: datetime | None) -> str:
    payload = [asset_id, attributes, extra, sorted(keys), updated.isoformat() if updated else None]
    return hashlib.blake2b(json.dumps(payload, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def load_index(
    connector, normalized: Sequence[engine.NormalizedRecord], source_rows: dict[str, tuple] | None = None
) -> engine.IdentityIndex:
    """The slice of the inventory these records can match: three queries, whatever their number."""
    if source_rows is None:
        source_rows = _source_rows(connector, {item.record.source_key for item in normalized})
    sources = {key: engine.ExistingSource(row[1], row[3]) for key, row in source_rows.items()}
    identifiers: dict[tuple[str, str], set[int]] = defaultdict(set)
    keys = ((value, kind) for kind, value in engine.index_keys(normalized))
    for value, kind, asset_id in select_by_keys(Identifier, ("value", "kind"), keys, ("value", "kind", "asset_id")):
        identifiers[(kind, value)].add(asset_id)
    # Ranks only matter for the default rule's tie-break: where one record's keys reach several assets.
    contested: set[int] = set()
    for item in normalized:
        reached = {
            asset_id
            for kind, values in item.identifiers.items()
            for value in values
            for asset_id in identifiers.get((kind, value), ())
        }
        if len(reached) > 1:
            contested |= reached
    ranks = {}
    if contested:
        for asset_id, best, last in (
            SourceRecord.objects.filter(asset_id__in=contested, deleted=False)
            .values("asset_id")
            .annotate(best=Max("connector__trust_rank"), last=Max("source_updated_at"))
            .values_list("asset_id", "best", "last")
        ):
            ranks[asset_id] = engine.AssetRank(best, last)
    return engine.IdentityIndex(sources=sources, identifiers=dict(identifiers), ranks=ranks)


_COUNTER = {
    Outcome.CREATED: "created",
    Outcome.UPDATED: "updated",
    Outcome.MERGED: "merged",
    Outcome.SKIPPED: "skipped",
    Outcome.UNCHANGED: "skipped",
    Outcome.ERROR: "errors",
}


@transaction.atomic
def process_chunk(
    connector,
    records: Sequence[AssetRecord],
    *,
    delivery=None,
    config: engine.EngineConfig,
    received_at: datetime | None = None,
):
    """Identify and write one chunk in one transaction (see the module docstring).

    A record without its own timestamp is dated ``received_at`` (the delivery's receipt time), so an older
    delivery processed late cannot overwrite what a newer one wrote.
    """
    now = timezone.now()
    if received_at is not None:
        records = [
            record if record.updated_at else replace(record, updated_at=record.last_seen or received_at)
            for record in records
        ]
    normalized = [engine.normalize_record(record) for record in records]
    _lock_identities(connector.pk, (item.record.source_key for item in normalized), engine.index_keys(normalized))
    source_rows = _source_rows(connector, {item.record.source_key for item in normalized})
    index = load_index(connector, normalized, source_rows)
    decisions = engine.identify_records(records, index, config, normalized)

    result = ProcessResult(received=len(records))
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

    if connector.csam_enabled:
        asset_ids = _apply(connector, decisions, index, source_rows, delivery=delivery, now=now)
    else:
        asset_ids = {d.asset_id for d in decisions if d.asset_id}
        asset_ids = {key: key for key in asset_ids}
    _write_decisions(connector, decisions, asset_ids, delivery=delivery, inventory_changed=connector.csam_enabled)
    return result


def _apply(
    connector, decisions, index: engine.IdentityIndex, source_rows: dict, *, delivery, now: datetime
) -> dict[int, int]:
    """Write what the decisions say. Returns a map from engine targets (asset ids, new keys) to asset ids.

    Rows are built as tuples and written with one statement per table (see connectors_site.common.db): ids of new
    assets and source records are reserved first, so a new asset is inserted already reconciled from the sources
    that create it, and only existing assets are re-read to be reconciled.
    """
    # The last word on each source key wins (a key repeated in a chunk is one source record).
    final: dict[str, engine.Decision] = {}
    for decision in decisions:
        if decision.outcome in _WRITES and (decision.asset_id or decision.new_asset_key):
            final[decision.source_key] = decision

    new_keys = sorted({d.new_asset_key for d in final.values() if d.new_asset_key}, reverse=True)
    target_to_asset: dict[int, int] = dict(zip(new_keys, allocate_ids(Asset, len(new_keys)), strict=True))
    new_source_keys = [key for key in final if key not in source_rows]
    new_source_ids = dict(zip(new_source_keys, allocate_ids(SourceRecord, len(new_source_keys)), strict=True))
    delivery_id = delivery.pk if delivery else None

    source_inserts, source_updates, refreshed = [], [], []
    identifier_inserts: list[tuple] = []
    updated_sources: dict[int, tuple[int, set[tuple[str, str]]]] = {}
    born: dict[int, list[tuple]] = defaultdict(list)  # new asset id -> its sources
    duplicates: set[int] = set()
    for key, decision in final.items():
        asset_id = decision.asset_id or target_to_asset[decision.new_asset_key]
        normalized = decision.normalized
        record = normalized.record
        attributes = {name: _jsonable(normalized.attributes.get(name)) for name in REPORTED_ATTRIBUTES}
        extra = normalized.attributes.get("attributes") or {}
        seen = record.last_seen or now
        updated = record.updated_at or record.last_seen
        keys = {(kind, value) for kind, values in normalized.identifiers.items() for value in values}
        digest = _digest(asset_id, attributes, extra, keys, updated)
        if key in source_rows:
            source_id, _, _, _, previous_digest, was_deleted = source_rows[key]
            if digest == previous_digest and not was_deleted:
                # The same report again (a scheduled full sync): nothing to re-derive, only "last seen" moves.
                refreshed.append((source_id, asset_id, seen, delivery_id))
                continue
            source_updates.append(
                (source_id, asset_id, attributes, extra, updated, digest, seen, False, None, delivery_id)
            )
            updated_sources[source_id] = (asset_id, keys)
        else:
            source_id = new_source_ids[key]
            source_inserts.append(
                (
                    source_id,
                    connector.pk,
                    key,
                    asset_id,
                    attributes,
                    extra,
                    updated,
                    digest,
                    seen,
                    seen,
                    False,
                    delivery_id,
                )
            )
            identifier_inserts.extend((kind, value, asset_id, source_id) for kind, value in keys)
        if decision.asset_id is None:
            born[asset_id].append((engine.SourceValues(source_id, connector.trust_rank, updated, attributes), seen))
            if decision.possible_duplicate:
                duplicates.add(asset_id)

    # New assets, inserted already reconciled from the sources that create them.
    asset_rows = []
    for asset_id, sources in born.items():
        shown = engine.reconcile([values for values, _ in sources])
        first_seen, last_seen = min(seen for _, seen in sources), max(seen for _, seen in sources)
        asset_rows.append(
            (
                asset_id,
                uuid.uuid4(),
                AssetKind.UNMANAGED,
                *_shown_values(shown),
                {name: source_id for name, (_, source_id) in shown.items()},
                first_seen,
                last_seen,
                False,
                asset_id in duplicates,
                now,
                now,
            )
        )
    insert_rows(Asset, ASSET_INSERT_COLUMNS, asset_rows)
    insert_rows(SourceRecord, _NEW_SOURCE_COLUMNS, source_inserts)
    update_rows(SourceRecord, _SOURCE_UPDATE_COLUMNS, source_updates)

    # Identifiers of updated sources: write only the difference.
    stale: list[int] = []
    if updated_sources:
        have: dict[int, dict[tuple[str, str], tuple[int, int]]] = defaultdict(dict)
        for pk, source_id, kind, value, asset_id in Identifier.objects.filter(
            source_record_id__in=list(updated_sources)
        ).values_list("pk", "source_record_id", "kind", "value", "asset_id"):
            have[source_id][(kind, value)] = (pk, asset_id)
        for source_id, (asset_id, keys) in updated_sources.items():
            current = have.get(source_id, {})
            stale.extend(pk for key, (pk, owner) in current.items() if key not in keys or owner != asset_id)
            identifier_inserts.extend(
                (kind, value, asset_id, source_id)
                for kind, value in keys
                if (kind, value) not in current or current[(kind, value)][1] != asset_id
            )
    delete_rows(Identifier, stale)
    insert_rows(Identifier, ("kind", "value", "asset_id", "source_record_id"), identifier_inserts)

    # Existing assets whose sources changed are re-derived from all their live sources.
    changed_keys = [key for key in final if key in new_source_ids] + [
        key for key in final if key in source_rows and source_rows[key][0] in updated_sources
    ]
    touched = {final[key].asset_id for key in changed_keys if final[key].asset_id}
    touched |= {index.sources[key].asset_id for key in changed_keys if key in index.sources}
    reconcile_assets(touched)
    _refresh_last_seen(refreshed, skip_assets=touched)
    target_to_asset.update({d.asset_id: d.asset_id for d in decisions if d.asset_id})
    return target_to_asset


_WRITES = frozenset({Outcome.CREATED, Outcome.UPDATED, Outcome.MERGED, Outcome.AMBIGUOUS})
#: Columns of a new asset row, as written by the identification service (the benchmark loads the same way).
ASSET_INSERT_COLUMNS = (
    "id",
    "uuid",
    "kind",
    *REPORTED_ATTRIBUTES,
    "provenance",
    "first_seen",
    "last_seen",
    "retired",
    "possible_duplicate",
    "created_at",
    "updated_at",
)
_NEW_SOURCE_COLUMNS = (
    "id",
    "connector_id",
    "source_key",
    "asset_id",
    "attributes",
    "extra",
    "source_updated_at",
    "digest",
    "first_seen",
    "last_seen",
    "deleted",
    "last_delivery_id",
)
_SOURCE_UPDATE_COLUMNS = (
    "asset_id",
    "attributes",
    "extra",
    "source_updated_at",
    "digest",
    "last_seen",
    "deleted",
    "deleted_at",
    "last_delivery_id",
)


def _refresh_last_seen(refreshed: list[tuple], *, skip_assets: set[int]) -> None:
    """Unchanged reports: move the source's and its asset's "last seen" forward (never back)."""
    if not refreshed:
        return
    update_rows(SourceRecord, ("last_seen", "last_delivery_id"), [(sid, seen, did) for sid, _, seen, did in refreshed])
    latest: dict[int, datetime] = {}
    for _, asset_id, seen, _ in refreshed:
        if asset_id not in skip_assets and (asset_id not in latest or seen > latest[asset_id]):
            latest[asset_id] = seen
    stale = Asset.objects.filter(pk__in=list(latest)).values_list("pk", "last_seen")
    update_rows(
        Asset,
        ("last_seen",),
        [(pk, latest[pk]) for pk, last_seen in stale if last_seen is None or last_seen < latest[pk]],
    )


def _shown_values(shown: dict[str, tuple[object, int]]) -> list:
    """The reconciled value of every reported attribute, in REPORTED_ATTRIBUTES order ("" or [] when unknown)."""
    values = []
    for name in REPORTED_ATTRIBUTES:
        found = shown.get(name)
        if found is None:
            values.append([] if name in LIST_ATTRIBUTES else "")
        else:
            values.append(_jsonable(found[0]))
    return values


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def _write_decisions(connector, decisions, target_to_asset, *, delivery, inventory_changed: bool) -> None:
    candidate_ids = {candidate for d in decisions for candidate in d.candidates if candidate > 0}
    uuids = dict(Asset.objects.filter(pk__in=candidate_ids).values_list("pk", "uuid")) if candidate_ids else {}
    note = () if inventory_changed else ("CSAM module off: decision recorded, inventory not changed",)
    now = timezone.now()
    delivery_id = delivery.pk if delivery else None
    rows = []
    for decision in decisions:
        target = decision.asset_id or decision.new_asset_key
        rule = decision.rule
        rows.append(
            (
                connector.pk,
                delivery_id,
                decision.source_key[:255],
                decision.outcome.value,
                rule.id if rule else None,
                rule.name if rule else "",
                decision.compared,
                [str(uuids[c]) for c in decision.candidates if c in uuids],
                target_to_asset.get(target) if target else None,
                [*decision.reasons, *note],
                now,
            )
        )
    insert_rows(Decision, _DECISION_COLUMNS, rows)


_DECISION_COLUMNS = (
    "connector_id",
    "delivery_id",
    "source_key",
    "outcome",
    "rule_id",
    "rule_name",
    "compared",
    "candidates",
    "asset_id",
    "reasons",
    "created_at",
)


@transaction.atomic
def process_deletions(connector, source_keys: Sequence[str], *, delivery=None) -> ProcessResult:
    """The source says these records are gone: mark their source records deleted, drop their identifiers, and
    retire assets no live source reports any more (re-derive the others)."""
    now = timezone.now()
    keys = list(dict.fromkeys(source_keys))
    result = ProcessResult(received=len(keys))
    _lock_identities(connector.pk, keys, ())
    found = dict(
        SourceRecord.objects.filter(connector=connector, source_key__in=keys, deleted=False).values_list(
            "source_key", "asset_id"
        )
    )
    decisions = []
    for key in keys:
        asset_id = found.get(key)
        if asset_id is None:
            result.skipped += 1
            reason = "deletion ignored: this connector has no live record with that source key"
            outcome = DecisionOutcome.SKIPPED
        else:
            result.deleted += 1
            reason = "the source reported the record deleted"
            outcome = DecisionOutcome.DELETED
        if not connector.csam_enabled and asset_id:
            reason += " (CSAM module off: inventory not changed)"
        decisions.append(
            Decision(
                connector=connector,
                delivery=delivery,
                source_key=key[:255],
                outcome=outcome,
                asset_id=asset_id,
                reasons=[reason],
            )
        )
    if found and connector.csam_enabled:
        sources = SourceRecord.objects.filter(connector=connector, source_key__in=list(found))
        Identifier.objects.filter(source_record__in=sources).delete()
        sources.update(deleted=True, deleted_at=now)
        reconcile_assets(set(found.values()))
    Decision.objects.bulk_create(decisions)
    return result


@transaction.atomic
def reconcile_assets(asset_ids: Iterable[int]) -> None:
    """Re-derive each asset's shown attributes, provenance, first/last seen and retired flag from its live
    sources (most trusted first, then most recent). An asset left with no live source is retired, not erased."""
    asset_ids = set(asset_ids)
    if not asset_ids:
        return
    # Row locks in id order: two chunks reconciling the same asset take turns and read each other's sources.
    locked = list(
        Asset.objects.filter(pk__in=asset_ids).select_for_update().order_by("pk").values_list("pk", flat=True)
    )
    by_asset: dict[int, list] = defaultdict(list)
    for row in SourceRecord.objects.filter(asset_id__in=locked, deleted=False).values_list(
        "id", "asset_id", "attributes", "source_updated_at", "first_seen", "last_seen", "connector__trust_rank"
    ):
        by_asset[row[1]].append(row)
    now = timezone.now()
    rows = []
    for asset_id, sources in by_asset.items():
        shown = engine.reconcile(
            [engine.SourceValues(pk, rank, updated, attributes) for pk, _, attributes, updated, _, _, rank in sources]
        )
        rows.append(
            (
                asset_id,
                *_shown_values(shown),
                {name: source_id for name, (_, source_id) in shown.items()},
                min(row[4] for row in sources),
                max(row[5] for row in sources),
                False,
                None,
                now,
            )
        )
    update_rows(
        Asset,
        (*REPORTED_ATTRIBUTES, "provenance", "first_seen", "last_seen", "retired", "retired_at", "updated_at"),
        rows,
    )
    # Assets no live source reports keep their last known values, retired.
    retire_assets_without_live_sources(set(locked) - set(by_asset))


def retire_assets_without_live_sources(asset_ids: Iterable[int]) -> int:
    """Retire (never erase) the given assets that no live source reports any more. Returns how many."""
    live_source = SourceRecord.objects.filter(asset=OuterRef("pk"), deleted=False)
    return (
        Asset.objects.filter(pk__in=list(asset_ids), retired=False)
        .exclude(Exists(live_source))
        .update(retired=True, retired_at=timezone.now())
    )
