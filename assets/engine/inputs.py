"""What identification is given: the connector's rules and settings, and the slice of the inventory a chunk
is matched against (loaded in bulk by the service; :func:`index_keys` says what to load)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from .identifiers import CLOUD_INSTANCE, HARDWARE_UUID, HOSTNAME, SERIAL, SOURCE_NATIVE_KEY
from .normalize import NormalizedRecord
from .recency import later


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One identification rule as the engine sees it: every attribute must match (an AND)."""

    id: int | None
    name: str
    attributes: tuple[str, ...]


#: The system rule, always applied first and not part of ``EngineConfig.rules``.
NATIVE_KEY_RULE = RuleSpec(None, "Source native key", (SOURCE_NATIVE_KEY,))

#: Identifiers one machine has exactly one real value of: a real value that differs vetoes a merge.
STRONG_KINDS: tuple[str, ...] = (SERIAL, HARDWARE_UUID, CLOUD_INSTANCE)
#: What the index holds per candidate asset (``IdentityIndex.held``): the strong kinds for vetoes, the host name
#: for the cloned-VM check.
HELD_KINDS: tuple[str, ...] = (*STRONG_KINDS, HOSTNAME)
#: Default of ``EngineConfig.shared_limit`` (the ``IDENTIFIER_SHARED_LIMIT`` setting).
DEFAULT_SHARED_LIMIT = 5


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """The connector settings that change decisions.

    ``rules`` are the connector's enabled rules in order, without the source-native-key rule (always applied
    first; a rule naming :data:`SOURCE_NATIVE_KEY` found in ``rules`` is ignored rather than applied twice).
    ``shared_limit``: a (kind, value) held by more than this many distinct assets identifies none of them and is
    not matched on (0 turns the limit off).
    """

    trust_rank: int
    rules: tuple[RuleSpec, ...]
    create_unmanaged: bool
    apply_default_rule: bool
    shared_limit: int = DEFAULT_SHARED_LIMIT


@dataclass(frozen=True, slots=True)
class ExistingSource:
    """An existing source record of the connector being processed (keyed by source key in the index)."""

    asset_id: int
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class AssetRank:
    """What the default rule compares between candidates: best live source trust rank, then latest update."""

    best_trust_rank: int
    last_updated: datetime | None


def fold_rank(rank: AssetRank | None, best: int, last: datetime | None) -> AssetRank:
    """An asset's rank with one more group of its live sources (one connector's) folded in."""
    if rank is None:
        return AssetRank(best, last)
    return AssetRank(max(rank.best_trust_rank, best), later(rank.last_updated, last))


@dataclass
class IdentityIndex:
    """The slice of the inventory a chunk can match against, loaded in bulk by the service.

    ``identifiers`` needs every (kind, value) of :func:`index_keys`. ``ranks`` (best live source trust rank and
    last update) and ``held`` (each asset's values of :data:`HELD_KINDS`, for vetoes) need every asset
    :func:`reached_assets` names, and so does ``connector_assets``; a missing rank counts as trust 0, never
    updated, and missing held values as none. The engine never mutates it.
    """

    sources: dict[str, ExistingSource]
    identifiers: dict[tuple[str, str], set[int]]
    ranks: dict[int, AssetRank]
    held: dict[int, dict[str, frozenset[str]]] = field(default_factory=dict)
    #: The reached assets that already hold a live source record of the connector being processed.
    connector_assets: set[int] = field(default_factory=set)
    #: Per reached asset, the other connectors (not the one being processed) holding a live source record on it:
    #: a connector on both sides of a join says "two machines" (:mod:`.joins`).
    connectors: dict[int, frozenset[int]] = field(default_factory=dict)


def index_keys(records: Iterable[NormalizedRecord]) -> set[tuple[str, str]]:
    """The (kind, value) pairs whose assets the service must load to build the index for these records."""
    return {(kind, value) for record in records for kind, values in record.identifiers.items() for value in values}


def is_shared(count: int, shared_limit: int) -> bool:
    """Whether a value held by ``count`` distinct assets is too common to identify any of them."""
    return 0 < shared_limit < count


def reached_assets(
    identifiers: Mapping[tuple[str, str], Iterable[int]], sources: Iterable[ExistingSource], shared_limit: int
) -> set[int]:
    """The assets a chunk can decide about: those its (not shared) keys reach and its source records point at.

    The service loads ``ranks`` and ``held`` for exactly these. A value shared beyond the limit is left out: a
    chunk only adds holders, so it stays shared for the whole chunk and never makes a candidate.
    """
    reached = {source.asset_id for source in sources}
    for hits in identifiers.values():
        hits = hits if isinstance(hits, (set, frozenset)) else set(hits)
        if not is_shared(len(hits), shared_limit):
            reached |= hits
    return reached
