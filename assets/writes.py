"""The bulk writes of one chunk: what the engine decided becomes asset, source record, identifier and decision rows.

Rows are built as plain tuples and written with one statement per table (see connectors_site.common.db): ids of new
assets and source records are reserved first, so a new asset is inserted already reconciled from the sources
that create it, and only existing assets are re-read to be reconciled. Re-deriving those is the caller's step
(``assets.services.reconcile_assets``), so this module depends on the engine and the models, never back on the
services.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from connectors_site.common.db import allocate_ids, delete_rows, insert_rows, update_rows

from . import engine
from .choices import AssetKind
from .engine import Outcome
from .engine.reconcile import strong_conflicts
from .engine.records import LIST_ATTRIBUTES, REPORTED_ATTRIBUTES
from .models import Asset, Decision, Identifier, SourceRecord

#: The last reason of every decision made while the connector's CSAM module was off (nothing was written).
CSAM_OFF_NOTE = "CSAM module off: decision recorded, inventory not changed"

_WRITES = frozenset({Outcome.CREATED, Outcome.UPDATED, Outcome.MERGED, Outcome.AMBIGUOUS})
#: The reason added to every decision of a connector whose CSAM module is off.
CSAM_OFF_NOTE = "CSAM module off: decision recorded, inventory not changed"


def writes_source_record(decision) -> bool:
    """Whether applying ``decision`` writes (creates or updates) a live source record for its record."""
    return decision.outcome in _WRITES and bool(decision.asset_id or decision.new_asset_key)


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
#: A new asset row as the service writes it: the columns above (the benchmark's loader fills the rest with the
#: model's defaults) and what reconciliation found about conflicting strong identifiers.
_NEW_ASSET_COLUMNS = (*ASSET_INSERT_COLUMNS, "identifier_conflict", "identifier_conflicts")
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
    "reported_at",
    "stale",
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
    "reported_at",
    "stale",
    "deleted",
    "deleted_at",
    "last_delivery_id",
)
_IDENTIFIER_COLUMNS = ("kind", "value", "asset_id", "source_record_id")
#: The columns of a decision row, in the order every bulk writer of decisions gives them.
DECISION_COLUMNS = (
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
    "warnings",
    "created_at",
)


@dataclass
class Written:
    """What ``apply_decisions`` wrote, and what is left for the caller to do."""

    #: Engine targets (existing asset ids, new-asset keys) -> asset ids, for the decision rows.
    target_to_asset: dict[int, int]
    #: Existing assets whose sources changed: to be re-derived from all their live sources.
    touched: set[int]
    #: Unchanged reports, (source id, asset id, seen, delivery id): only "last seen" and "reported at" move
    #: (``refresh_last_seen``). Out-of-order reports (older than stored) are among them with their stored "seen".
    refreshed: list[tuple]


@dataclass
class _SourcePlan:
    """The rows one chunk writes for its source records, built in memory before one statement per table."""

    inserts: list[tuple] = field(default_factory=list)
    updates: list[tuple] = field(default_factory=list)
    refreshed: list[tuple] = field(default_factory=list)
    #: Identifiers of the new source records (those of updated ones are diffed against the table).
    identifier_inserts: list[tuple] = field(default_factory=list)
    #: Updated source id -> (its asset id, the identifier keys it reports now).
    updated: dict[int, tuple[int, set[tuple[str, str]]]] = field(default_factory=dict)
    #: New asset id -> the sources that create it, as (SourceValues, seen).
    born: dict[int, list[tuple]] = field(default_factory=lambda: defaultdict(list))
    duplicates: set[int] = field(default_factory=set)


def apply_decisions(
    connector, decisions, index: engine.IdentityIndex, source_rows: dict, *, delivery, now: datetime
) -> Written:
    """Write what the decisions say, step by step: keep the last word per source key, reserve ids, plan the
    source rows, insert the new assets already reconciled, upsert the source records, write the identifiers'
    difference, and name the existing assets to re-derive."""
    final = _last_word_per_source(decisions)
    new_keys = sorted({d.new_asset_key for d in final.values() if d.new_asset_key}, reverse=True)
    target_to_asset: dict[int, int] = dict(zip(new_keys, allocate_ids(Asset, len(new_keys)), strict=True))
    new_source_keys = [key for key in final if key not in source_rows]
    new_source_ids = dict(zip(new_source_keys, allocate_ids(SourceRecord, len(new_source_keys)), strict=True))

    delivery_id = delivery.pk if delivery else None
    plan = _plan_source_rows(connector, final, source_rows, target_to_asset, new_source_ids, delivery_id, now)
    plan.refreshed.extend(_out_of_order_reports(decisions, final, source_rows, delivery_id))
    _insert_new_assets(plan.born, plan.duplicates, now=now)
    insert_rows(SourceRecord, _NEW_SOURCE_COLUMNS, plan.inserts)
    update_rows(SourceRecord, _SOURCE_UPDATE_COLUMNS, plan.updates)
    stale, added = _diff_identifiers(plan.updated)
    delete_rows(Identifier, stale)
    insert_rows(Identifier, _IDENTIFIER_COLUMNS, plan.identifier_inserts + added)

    touched = _touched_assets(final, source_rows, new_source_ids, plan.updated, index)
    target_to_asset.update({d.asset_id: d.asset_id for d in decisions if d.asset_id})
    return Written(target_to_asset, touched, plan.refreshed)


def _last_word_per_source(decisions) -> dict[str, engine.Decision]:
    """The decisions that write, the last one per source key (a key repeated in a chunk is one source record)."""
    final: dict[str, engine.Decision] = {}
    for decision in decisions:
        if writes_source_record(decision):
            final[decision.source_key] = decision
    return final


def _out_of_order_reports(decisions, final: dict, source_rows: dict, delivery_id: int | None) -> list[tuple]:
    """Records older than what their source record holds change nothing, but the connector did report them: they
    count as reports for the stale rules (their stored "last seen" is kept)."""
    reported = []
    for decision in decisions:
        key = decision.source_key
        if decision.outcome == Outcome.UNCHANGED and key not in final and key in source_rows:
            source_id, asset_id, *_, was_deleted, last_seen = source_rows[key]
            if not was_deleted:
                reported.append((source_id, asset_id, last_seen, delivery_id))
    return reported


def _plan_source_rows(
    connector,
    final: dict[str, engine.Decision],
    source_rows: dict,
    target_to_asset: dict[int, int],
    new_source_ids: dict[str, int],
    delivery_id: int | None,
    now: datetime,
) -> _SourcePlan:
    """Sort each source key into: a new source record, an updated one, or the same report again (only its
    "last seen" moves); and collect the sources that create each new asset."""
    plan = _SourcePlan()
    for key, decision in final.items():
        asset_id = decision.asset_id or target_to_asset[decision.new_asset_key]
        normalized = decision.normalized
        record = normalized.record
        attributes = {name: jsonable(normalized.attributes.get(name)) for name in REPORTED_ATTRIBUTES}
        extra = normalized.attributes.get("attributes") or {}
        seen = record.last_seen or now
        updated = record.updated_at or record.last_seen
        keys = {(kind, value) for kind, values in normalized.identifiers.items() for value in values}
        digest = _digest(asset_id, attributes, extra, keys, updated)
        if key in source_rows:
            source_id, _, _, _, previous_digest, was_deleted, _ = source_rows[key]
            if digest == previous_digest and not was_deleted:
                # The same report again (a scheduled full sync): nothing to re-derive, only "last seen" moves.
                plan.refreshed.append((source_id, asset_id, seen, delivery_id))
                continue
            plan.updates.append(
                (source_id, asset_id, attributes, extra, updated, digest, seen, now, False, False, None, delivery_id)
            )
            plan.updated[source_id] = (asset_id, keys)
        else:
            source_id = new_source_ids[key]
            plan.inserts.append(
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
                    now,
                    False,
                    False,
                    delivery_id,
                )
            )
            plan.identifier_inserts.extend((kind, value, asset_id, source_id) for kind, value in keys)
        if decision.asset_id is None:
            values = engine.SourceValues(source_id, connector.trust_rank, updated, attributes)
            plan.born[asset_id].append((values, seen))
            if decision.possible_duplicate:
                plan.duplicates.add(asset_id)
    return plan


#: ``json.dumps(payload, sort_keys=True, default=str)`` built once (``json.dumps`` with options builds a new
#: encoder per call, which costs more than encoding one record).
_DIGEST_ENCODER = json.JSONEncoder(sort_keys=True, default=str)
_digest_chunks = (
    json.encoder.c_make_encoder(None, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", True, False, True)
    if json.encoder.c_make_encoder is not None
    else lambda value, _level: _DIGEST_ENCODER.iterencode(value)
)


def _digest(asset_id: int, attributes: dict, extra: dict, keys: set, updated: datetime | None) -> str:
    payload = [asset_id, attributes, extra, sorted(keys), updated.isoformat() if updated else None]
    return hashlib.blake2b("".join(_digest_chunks(payload, 0)).encode(), digest_size=16).hexdigest()


def _insert_new_assets(born: dict[int, list[tuple]], duplicates: set[int], *, now: datetime) -> None:
    """New assets, inserted already reconciled from the sources that create them."""
    rows = []
    for asset_id, sources in born.items():
        reported = [values for values, _ in sources]
        shown = engine.reconcile(reported)
        first_seen, last_seen = min(seen for _, seen in sources), max(seen for _, seen in sources)
        rows.append(
            (
                asset_id,
                uuid.uuid4(),
                AssetKind.UNMANAGED,
                *shown_values(shown),
                {name: source_id for name, (_, source_id) in shown.items()},
                first_seen,
                last_seen,
                False,
                asset_id in duplicates,
                now,
                now,
                *conflict_values(reported),
            )
        )
    insert_rows(Asset, _NEW_ASSET_COLUMNS, rows)


def _diff_identifiers(updated: dict[int, tuple[int, set[tuple[str, str]]]]) -> tuple[list[int], list[tuple]]:
    """Identifiers of updated sources: only the difference is written. Returns (ids to delete, rows to insert)."""
    stale: list[int] = []
    added: list[tuple] = []
    if not updated:
        return stale, added
    have: dict[int, dict[tuple[str, str], tuple[int, int]]] = defaultdict(dict)
    for pk, source_id, kind, value, asset_id in Identifier.objects.filter(
        source_record_id__in=list(updated)
    ).values_list("pk", "source_record_id", "kind", "value", "asset_id"):
        have[source_id][(kind, value)] = (pk, asset_id)
    for source_id, (asset_id, keys) in updated.items():
        current = have.get(source_id, {})
        stale.extend(pk for key, (pk, owner) in current.items() if key not in keys or owner != asset_id)
        added.extend(
            (kind, value, asset_id, source_id)
            for kind, value in keys
            if (kind, value) not in current or current[(kind, value)][1] != asset_id
        )
    return stale, added


def _touched_assets(final, source_rows: dict, new_source_ids: dict, updated: dict, index) -> set[int]:
    """Existing assets whose sources changed (new or updated source records): the chosen asset, and the one the
    source record pointed at before (it may have lost a source)."""
    changed_keys = [key for key in final if key in new_source_ids] + [
        key for key in final if key in source_rows and source_rows[key][0] in updated
    ]
    touched = {final[key].asset_id for key in changed_keys if final[key].asset_id}
    touched |= {index.sources[key].asset_id for key in changed_keys if key in index.sources}
    return touched


def refresh_last_seen(refreshed: list[tuple], *, skip_assets: set[int], now: datetime) -> None:
    """Unchanged reports: the source was reported ``now`` (fresh again); the source's and its asset's "last seen"
    move forward (never back), and a stale asset is fresh again. Three statements whatever the number."""
    if not refreshed:
        return
    update_rows(
        SourceRecord,
        ("last_seen", "last_delivery_id", "reported_at", "stale"),
        [(sid, seen, did, now, False) for sid, _, seen, did in refreshed],
    )
    latest: dict[int, datetime] = {}
    for _, asset_id, seen, _ in refreshed:
        if asset_id not in skip_assets and (asset_id not in latest or seen > latest[asset_id]):
            latest[asset_id] = seen
    current = Asset.objects.filter(pk__in=list(latest)).values_list("pk", "last_seen", "stale")
    update_rows(
        Asset,
        ("last_seen", "stale"),
        [
            (pk, latest[pk] if last_seen is None or last_seen < latest[pk] else last_seen, False)
            for pk, last_seen, stale in current
            if stale or last_seen is None or last_seen < latest[pk]
        ],
    )


def shown_values(shown: dict[str, tuple[object, int]]) -> list:
    """The reconciled value of every reported attribute, in REPORTED_ATTRIBUTES order ("" or [] when unknown)."""
    values = []
    for name in REPORTED_ATTRIBUTES:
        found = shown.get(name)
        if found is None:
            values.append([] if name in LIST_ATTRIBUTES else "")
        else:
            values.append(jsonable(found[0]))
    return values


def conflict_values(sources) -> tuple[bool, dict]:
    """``identifier_conflict`` and ``identifier_conflicts`` of an asset with these live sources
    (:func:`assets.engine.reconcile.strong_conflicts`, stored as ``kind -> [{"value", "source"}]``)."""
    conflicts = strong_conflicts(sources)
    return bool(conflicts), {
        kind: [{"value": value, "source": source_id} for value, source_id in pairs] for kind, pairs in conflicts.items()
    }


def jsonable(value):
    """A normalized value as its JSON column holds it: the engine's tuples become lists."""
    return list(value) if isinstance(value, tuple) else value


def write_decisions(connector, decisions, target_to_asset, *, delivery, inventory_changed: bool) -> None:
    """One decision row per record, in one statement: outcome, rule, compared keys, candidates and chosen asset."""
    candidate_ids = {candidate for d in decisions for candidate in d.candidates if candidate > 0}
    uuids = dict(Asset.objects.filter(pk__in=candidate_ids).values_list("pk", "uuid")) if candidate_ids else {}
    note = () if inventory_changed else (CSAM_OFF_NOTE,)
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
                [
                    {"field": warning.field, "value": warning.value, "message": warning.message}
                    for warning in decision.normalized.record.warnings
                ],
                now,
            )
        )
    insert_rows(Decision, DECISION_COLUMNS, rows)
