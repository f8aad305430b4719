"""What identification is given: the connector's rules and settings, and the slice of the inventory a chunk
is matched against (loaded in bulk by the service; :func:`index_keys` says what to load)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .identifiers import SOURCE_NATIVE_KEY
from .normalize import NormalizedRecord


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One identification rule as the engine sees it: every attribute must match (an AND)."""

    id: int | None
    name: str
    attributes: tuple[str, ...]


#: The system rule, always applied first and not part of ``EngineConfig.rules``.
NATIVE_KEY_RULE = RuleSpec(None, "Source native key", (SOURCE_NATIVE_KEY,))


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """The connector settings that change decisions.

    ``rules`` are the connector's enabled rules in order, without the source-native-key rule (always applied
    first; a rule naming :data:`SOURCE_NATIVE_KEY` found in ``rules`` is ignored rather than applied twice).
    """

    trust_rank: int
    rules: tuple[RuleSpec, ...]
    create_unmanaged: bool
    apply_default_rule: bool


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


@dataclass
class IdentityIndex:
    """The slice of the inventory a chunk can match against, loaded in bulk by the service.

    ``identifiers`` needs every (kind, value) of :func:`index_keys`; ``ranks`` every asset id appearing in it
    or in ``sources`` (a missing rank counts as trust 0, never updated). The engine never mutates it.
    """

    sources: dict[str, ExistingSource]
    identifiers: dict[tuple[str, str], set[int]]
    ranks: dict[int, AssetRank]


def index_keys(records: Iterable[NormalizedRecord]) -> set[tuple[str, str]]:
    """The (kind, value) pairs whose assets the service must load to build the index for these records."""
    return {(kind, value) for record in records for kind, values in record.identifiers.items() for value in values}
