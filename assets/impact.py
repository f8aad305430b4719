"""Rule-change impact: what re-identifying a connector's existing source records under proposed rules would change.

Today a rule change only affects future deliveries. Re-identification applies it to what the connector already
reported: every live source record of the connector is rebuilt as the record it was (its stored attributes, free
attributes and times) and identified again, all of them in one engine run in the order they were first stored,
against the inventory **without this connector's own source records and identifiers** (otherwise every record
would trivially match itself by its own identifiers). It is the same answer the engine would give if the
connector's records arrived fresh, in one delivery, under the proposed rules.

:func:`plan_reidentification` computes that plan and writes nothing. The Preview shows it; Apply
(:mod:`assets.impact_apply`) computes it again inside its transaction and executes exactly it, so the two cannot
disagree. Each record lands in one of these categories (:data:`CATEGORIES`): ``unchanged`` (same asset),
``moved`` (into another existing asset: a merge), ``created`` (split off into a new asset), ``skipped`` (the
proposed rules would not write it: its source record leaves the inventory), ``errors`` (the engine failed on
it: left where it is) or ``kept``: records on an asset an admin merged or split by hand stay there, as a delivery
would leave them (:func:`manually_placed_assets`); they count as this connector's records on those assets.
A new asset whose records all used to make up one asset of this connector alone is that asset, kept
(:func:`_reuse_assets`), so an unchanged grouping is not churned into new ids.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Max, Q

from connectors_site.common.db import select_by_keys

from . import engine
from .choices import AssetAction
from .engine import Outcome
from .engine.inputs import HELD_KINDS, fold_rank, reached_assets
from .engine.records import LIST_ATTRIBUTES, REPORTED_ATTRIBUTES, AssetRecord
from .models import Asset, AssetEvent, Identifier, SourceRecord

CATEGORIES = ("unchanged", "moved", "created", "skipped", "errors", "kept")
#: Ids per ``IN (...)`` list when loading by asset or source ids (well under SQLite's parameter limit).
ID_BATCH = 5000
_WRITES = frozenset({Outcome.CREATED, Outcome.MERGED, Outcome.AMBIGUOUS, Outcome.UPDATED})

Progress = Callable[[int, int], None]


@dataclass
class Item:
    """One live source record of the connector and what re-identification makes of it.

    ``target``: an existing asset id (positive), a new asset (a negative key of the plan), or ``None`` (skipped);
    for ``errors`` and ``kept`` it is the current asset (the record stays; a kept record has no decision)."""

    source_id: int
    source_key: str
    current: int
    target: int | None
    category: str
    decision: engine.Decision | None


@dataclass
class Plan:
    """What re-identifying one connector's records under ``config`` would do. Nothing of it is written."""

    connector_id: int
    config: engine.EngineConfig
    items: list[Item] = field(default_factory=list)
    #: New-asset keys that become new assets (each has at least one record).
    new_assets: list[int] = field(default_factory=list)
    #: Assets of this connector alone left without a live source -> the one asset all their records went to
    #: (merged into it), or ``None`` (retired).
    emptied: dict[int, int | None] = field(default_factory=dict)
    #: Other sources' assets a record ties to its target (engine joins): loser -> (final target, source key).
    joined: dict[int, tuple[int, str]] = field(default_factory=dict)
    #: Existing assets to flag as possible duplicates (the engine's default-rule choices and refused joins), not
    #: flagged yet.
    flagged: set[int] = field(default_factory=set)
    #: New assets that start flagged (an ambiguous record's, a cloned-VM doubt's).
    flagged_new: set[int] = field(default_factory=set)

    def counts(self) -> dict[str, dict[str, int]]:
        """Records per category and assets per fate: what the preview shows and Apply reports."""
        records = Counter(item.category for item in self.items)
        return {
            "records": {"total": len(self.items), **{name: records.get(name, 0) for name in CATEGORIES}},
            "assets": {
                "created": len(self.new_assets),
                "merged_away": sum(1 for dest in self.emptied.values() if dest is not None),
                "retired": sum(1 for dest in self.emptied.values() if dest is None),
                "joined": len(self.joined),
                "flagged": len(self.flagged) + len(self.flagged_new),
            },
        }

    @property
    def changes(self) -> list[Item]:
        return [item for item in self.items if item.category in ("moved", "created", "skipped")]


def plan_reidentification(
    connector, config: engine.EngineConfig, *, progress: Progress | None = None, batch_size: int | None = None
) -> Plan:
    """Re-identify the connector's live source records under ``config`` and compare each outcome with where the
    record is now (see the module docstring). Reads in batches of ``batch_size`` records (default
    ``IDENTIFICATION_CHUNK_SIZE``) and reports ``progress(read, total)`` after each; writes nothing.

    A connector without the CSAM module changes no inventory: its plan is empty."""
    plan = Plan(connector.pk, config)
    if not connector.csam_enabled:
        return plan
    pinned = manually_placed_assets(connector)
    rows, normalized, index = _load(
        connector, config, pinned, batch_size or settings.IDENTIFICATION_CHUNK_SIZE, progress
    )
    kept = [row for row in rows if row[2] in pinned]
    rows = [row for row in rows if row[2] not in pinned]
    decisions = engine.identify_records([item.record for item in normalized], index, config, normalized)
    aliases = _join_aliases(decisions)
    targets = [_target(decision, aliases) for decision in decisions]
    alone = _assets_of_connector_alone(connector, {row[2] for row in rows}) - pinned
    reused = _reuse_assets(rows, targets, alone)
    for row, decision, target in zip(rows, decisions, targets, strict=True):
        plan.items.append(_item(row, decision, reused.get(target, target) if target is not None else None))
    plan.items.extend(Item(row[0], row[1], row[2], row[2], "kept", None) for row in kept)
    plan.new_assets = sorted({item.target for item in plan.items if item.target is not None and item.target < 0})
    _assets_fates(plan, decisions, aliases, reused, alone)
    return plan


def _item(row: tuple, decision: engine.Decision, target: int | None) -> Item:
    """A re-identified record, sorted into its category by where it ends compared with where it is."""
    source_id, key, current = row[0], row[1], row[2]
    if decision.outcome == Outcome.ERROR:
        return Item(source_id, key, current, current, "errors", decision)
    if target is None:
        category = "skipped"
    elif target == current:
        category = "unchanged"
    else:
        category = "moved" if target > 0 else "created"
    return Item(source_id, key, current, target, category, decision)


# -- reading the connector's records and the rest of the inventory


def manually_placed_assets(connector) -> set[int]:
    """The assets holding this connector's live records that an admin merged or split by hand (a merge or split
    not undone; automatic joins do not count): re-identification leaves this connector's records on them, as
    the source native key does for every delivery."""
    current = set(live_sources(connector).values_list("asset_id", flat=True).distinct())
    placed: set[int] = set()
    for asset_id, action, details in AssetEvent.objects.filter(
        action__in=[AssetAction.MERGED, AssetAction.SPLIT], undone=False
    ).values_list("asset_id", "action", "details"):
        if action == AssetAction.MERGED and (details or {}).get("automatic"):
            continue
        placed.add(asset_id)
        if action == AssetAction.SPLIT and (details or {}).get("new_asset_id"):
            placed.add(details["new_asset_id"])
    return placed & current


def _record(row: tuple) -> AssetRecord:
    """A stored source record as the record its source sent (attributes are stored normalized, which normalizes
    to the same values again)."""
    _, key, _, attributes, extra, updated, seen = row
    values = {}
    for name in REPORTED_ATTRIBUTES:
        value = attributes.get(name)
        if name in LIST_ATTRIBUTES:
            values[name] = tuple(str(item) for item in value or ())
        else:
            values[name] = "" if value is None else str(value)
    return AssetRecord(source_key=key, **values, attributes=dict(extra or {}), updated_at=updated, last_seen=seen)


def live_sources(connector):
    """The connector's live source records, in the order they were first stored."""
    return SourceRecord.objects.filter(connector=connector, deleted=False).order_by("pk")


def _load(connector, config: engine.EngineConfig, pinned: set[int], batch_size: int, progress: Progress | None):
    """The connector's live records (all rows; the normalized ones of those to re-identify, not on ``pinned``
    assets) and the index of everything else they can match, read in batches (a fixed number of queries per
    batch, plus a few per :data:`ID_BATCH` reached assets). Records on pinned assets stay, so their identifiers
    count like any other source's."""
    total = live_sources(connector).count()
    if progress:
        progress(0, total)
    own = {
        pk
        for pk, asset_id in SourceRecord.objects.filter(connector=connector).values_list("pk", "asset_id")
        if asset_id not in pinned
    }
    rows: list[tuple] = []
    normalized: list[engine.NormalizedRecord] = []
    identifiers: dict[tuple[str, str], set[int]] = defaultdict(set)
    last = 0
    while True:
        batch = list(
            live_sources(connector)
            .filter(pk__gt=last)
            .values_list("pk", "source_key", "asset_id", "attributes", "extra", "source_updated_at", "last_seen")[
                :batch_size
            ]
        )
        if not batch:
            break
        last = batch[-1][0]
        rows.extend(row[:3] for row in batch)  # (id, source key, asset id): the attributes live on in the records
        prepared = [engine.normalize_record(_record(row)) for row in batch if row[2] not in pinned]
        keys = ((value, kind) for kind, value in engine.index_keys(prepared))
        for value, kind, asset_id, source_id in select_by_keys(
            Identifier, ("value", "kind"), keys, ("value", "kind", "asset_id", "source_record_id")
        ):
            if source_id not in own:
                identifiers[(kind, value)].add(asset_id)
        normalized.extend(prepared)
        if progress:
            progress(len(rows), max(total, len(rows)))
    reached = sorted(reached_assets(identifiers, (), config.shared_limit))
    return rows, normalized, _index(connector, dict(identifiers), reached, pinned)


def _index(connector, identifiers: dict, reached: Sequence[int], pinned: set[int]) -> engine.IdentityIndex:
    """The engine's index without the connector's own sources (but with those on ``pinned`` assets, which
    stay): ranks, held values and connectors of the reached assets come from the other sources only."""
    ranks: dict[int, engine.AssetRank] = {}
    connectors: dict[int, set[int]] = defaultdict(set)
    own_assets: set[int] = set()
    values: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for start in range(0, len(reached), ID_BATCH):
        ids = reached[start : start + ID_BATCH]
        staying = [asset_id for asset_id in ids if asset_id in pinned]
        for asset_id, connector_id, best, last in (
            SourceRecord.objects.filter(asset_id__in=ids, deleted=False)
            .exclude(Q(connector=connector) & ~Q(asset_id__in=staying))
            .values("asset_id", "connector_id")
            .annotate(best=Max("connector__trust_rank"), last=Max("source_updated_at"))
            .values_list("asset_id", "connector_id", "best", "last")
        ):
            ranks[asset_id] = fold_rank(ranks.get(asset_id), best, last)
            (own_assets.add(asset_id) if connector_id == connector.pk else connectors[asset_id].add(connector_id))
        for asset_id, kind, value in (
            Identifier.objects.filter(asset_id__in=ids, kind__in=HELD_KINDS)
            .exclude(Q(source_record__connector=connector) & ~Q(asset_id__in=staying))
            .values_list("asset_id", "kind", "value")
        ):
            values[asset_id][kind].add(value)
    return engine.IdentityIndex(
        sources={},
        identifiers=identifiers,
        ranks=ranks,
        held={asset: {kind: frozenset(found) for kind, found in kinds.items()} for asset, kinds in values.items()},
        connector_assets=own_assets,
        connectors={asset_id: frozenset(found) for asset_id, found in connectors.items()},
    )


def _assets_of_connector_alone(connector, asset_ids: set[int]) -> set[int]:
    """Of these assets, those no other connector reports (no live source record of another connector)."""
    ids = sorted(asset_ids)
    shared: set[int] = set()
    for start in range(0, len(ids), ID_BATCH):
        shared.update(
            SourceRecord.objects.filter(asset_id__in=ids[start : start + ID_BATCH], deleted=False)
            .exclude(connector=connector)
            .values_list("asset_id", flat=True)
        )
    return set(ids) - shared


# -- comparing the outcome with the inventory


def _join_aliases(decisions) -> dict[int, int]:
    """Target -> the target it was joined into, in the engine's target space (existing ids, new keys)."""
    aliases: dict[int, int] = {}
    for decision in decisions:
        for loser, survivor in decision.joins:
            aliases[loser] = survivor
    return aliases


def _resolve(target: int, aliases: dict[int, int]) -> int:
    seen = {target}
    while target in aliases and aliases[target] not in seen:
        target = aliases[target]
        seen.add(target)
    return target


def _target(decision: engine.Decision, aliases: dict[int, int]) -> int | None:
    """Where a record ends: its target after every join of the run, or ``None`` when nothing would be written."""
    if decision.outcome not in _WRITES:
        return None
    target = decision.asset_id or decision.new_asset_key
    return None if target is None else _resolve(target, aliases)


def _reuse_assets(rows: list[tuple], targets: list[int | None], alone: set[int]) -> dict[int, int]:
    """New-asset key -> the existing asset it is: among the assets of this connector alone that its records are
    on now, the one holding most of them (then the lowest id), each asset used once, largest groups first."""
    groups: dict[int, list[int]] = defaultdict(list)
    for row, target in zip(rows, targets, strict=True):
        if target is not None and target < 0:
            groups[target].append(row[2])
    reused: dict[int, int] = {}
    taken: set[int] = set()
    for key, currents in sorted(groups.items(), key=lambda group: (-len(group[1]), -group[0])):
        counts = Counter(asset_id for asset_id in currents if asset_id in alone)
        for asset_id, _ in sorted(counts.items(), key=lambda pair: (-pair[1], pair[0])):
            if asset_id not in taken:
                reused[key] = asset_id
                taken.add(asset_id)
                break
    return reused


def _assets_fates(plan: Plan, decisions, aliases: dict[int, int], reused: dict[int, int], alone: set[int]) -> None:
    """Fill the plan's asset-level effects: emptied assets (merged away or retired), joins, flags."""

    def final(target: int) -> int:
        target = _resolve(target, aliases)
        return reused.get(target, target)

    destinations: dict[int, set[int | None]] = defaultdict(set)
    for item in plan.items:
        destinations[item.current].add(item.target)
    for asset_id in sorted(alone):
        if asset_id not in destinations[asset_id]:
            goes = destinations[asset_id]
            plan.emptied[asset_id] = next(iter(goes)) if len(goes) == 1 else None
    by_key = {item.source_key: item for item in plan.items if item.decision is not None}
    for decision in decisions:
        item = by_key[decision.source_key]
        if item.target is None or item.category == "errors":
            continue
        for loser, _ in decision.joins:
            if loser > 0 and loser not in alone:
                plan.joined[loser] = (item.target, decision.source_key)
        flagged = {final(other) for other in decision.linked}
        if decision.possible_duplicate:
            flagged.add(item.target)
        for target in flagged:
            (plan.flagged_new if target < 0 else plan.flagged).add(target)
    ids = sorted(plan.flagged)
    for start in range(0, len(ids), ID_BATCH):
        plan.flagged -= set(
            Asset.objects.filter(pk__in=ids[start : start + ID_BATCH], possible_duplicate=True).values_list(
                "pk", flat=True
            )
        )
