"""Identification: the connector's rules applied to each record of a chunk, in order, against the index."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from .candidates import CandidateChecks, Match, describe
from .decisions import Decision, Outcome
from .identifiers import IDENTIFIER_KINDS, SOURCE_NATIVE_KEY
from .inputs import (
    HELD_KINDS,
    NATIVE_KEY_RULE,
    AssetRank,
    EngineConfig,
    ExistingSource,
    IdentityIndex,
    RuleSpec,
)
from .joins import JoinChecks
from .normalize import NormalizedRecord, junk_only, normalize_record
from .recency import is_older, iso, later
from .records import AssetRecord

#: How many "kind=value" keys a decision lists per rule before summarising the rest (keeps decision rows
#: small).
MAX_COMPARED_KEYS = 8


def identify_records(
    records: Sequence[AssetRecord],
    index: IdentityIndex,
    config: EngineConfig,
    normalized: Sequence[NormalizedRecord] | None = None,
) -> list[Decision]:
    """Decide every record of a chunk, in order, against the index (which is not modified).

    Records of the same chunk see each other: a repeated source key is the native-key match of its first
    occurrence, and records that describe the same new machine share one ``new_asset_key``. A record that
    makes the engine fail gets an ``ERROR`` decision instead of failing the chunk. ``normalized`` may carry the
    records already normalized (the service needs them first to load the index) so the work is not repeated.
    """
    chunk = _Chunk(index, config)
    decisions: list[Decision] = []
    for position, record in enumerate(records):
        prepared = normalized[position] if normalized is not None else None
        try:
            if prepared is None:
                prepared = normalize_record(record)
            decisions.append(chunk.decide(prepared))
        except Exception as exc:
            # One bad record must not lose the chunk; its decision says what happened.
            decisions.append(_error_decision(record, prepared, exc))
    return decisions


class _Chunk(CandidateChecks, JoinChecks):
    """Working state of one :func:`identify_records` call.

    Overlays (never writes to) the caller's index with what the chunk has decided so far, so a later record
    sees earlier ones exactly as it would have if they had been written to the database first: the answer does
    not depend on how a delivery is cut into chunks.
    """

    __slots__ = (
        "aliases",
        "chunk_assets",
        "chunk_sources",
        "config",
        "extra_connectors",
        "extra_held",
        "extra_identifiers",
        "extra_ranks",
        "index",
        "members",
        "next_new_key",
        "rules",
    )

    def __init__(self, index: IdentityIndex, config: EngineConfig) -> None:
        self.index = index
        self.config = config
        self.rules = tuple(rule for rule in config.rules if SOURCE_NATIVE_KEY not in rule.attributes)
        self.extra_identifiers: dict[tuple[str, str], set[int]] = {}
        self.extra_ranks: dict[int, AssetRank] = {}
        self.extra_held: dict[int, dict[str, set[str]]] = {}
        self.chunk_sources: dict[str, ExistingSource] = {}
        self.chunk_assets: set[int] = set()  # targets this chunk wrote a source record of this connector to
        self.next_new_key = -1
        self.aliases: dict[int, int] = {}  # asset joined in this chunk -> its survivor
        self.members: dict[int, list[int]] = {}  # survivor -> itself and the assets joined into it
        self.extra_connectors: dict[int, set[int]] = {}

    # -- lookups

    def assets_with(self, kind: str, values: tuple[str, ...]) -> set[int] | frozenset[int]:
        """Assets carrying any of the values (list attributes match on any shared value). Read-only result."""
        found: set[int] | frozenset[int] = frozenset()
        base = self.index.identifiers
        extra = self.extra_identifiers
        for value in values:
            key = (kind, value)
            for hits in (base.get(key), extra.get(key)):
                if hits:
                    found = hits if not found else found | hits
        if self.aliases and found:
            return {self.aliases.get(target, target) for target in found}
        return found

    def holder_count(self, kind: str, value: str) -> int:
        """How many distinct assets hold one value (no set is built: this runs for every value of every record)."""
        key = (kind, value)
        base, extra = self.index.identifiers.get(key), self.extra_identifiers.get(key)
        if self.aliases:
            return len(self.assets_with(kind, (value,)))
        if not extra:
            return len(base) if base else 0
        if not base:
            return len(extra)
        return len(base) + sum(1 for asset in extra if asset not in base)

    def held(self, target: int, kind: str) -> set[str] | frozenset[str]:
        """The values of one of :data:`HELD_KINDS` an asset holds (index and this chunk, with the assets joined
        into it). Read-only result."""
        if target in self.members:
            found: set[str] = set()
            for member in self.members[target]:
                found |= self._held(member, kind)
            return found
        return self._held(target, kind)

    def _held(self, target: int, kind: str) -> set[str] | frozenset[str]:
        base = self.index.held.get(target, {}).get(kind)
        extra = self.extra_held.get(target, {}).get(kind)
        if base and extra:
            return base | extra
        return base or extra or frozenset()

    def rank(self, target: int) -> AssetRank:
        """What the default rule compares for a candidate: what this chunk wrote first, then the index."""
        return self.extra_ranks.get(target) or self.index.ranks.get(target) or AssetRank(0, None)

    # -- bookkeeping after a write decision

    def record_write(self, normalized: NormalizedRecord, target: int, stored_updated_at: datetime | None) -> None:
        """Let later records of the chunk see this one as the database will: its identifiers (and, for vetoes,
        its strong values and host name on the target), its source key, and the target's rank, which is the
        best of what the target already had and this connector's (never this connector's alone)."""
        extra = self.extra_identifiers
        for kind, values in normalized.identifiers.items():
            for value in values:
                hits = extra.get((kind, value))
                if hits is None:
                    extra[kind, value] = {target}
                else:
                    hits.add(target)
        for kind in HELD_KINDS:
            values = normalized.identifiers[kind]
            if values:
                self.extra_held.setdefault(target, {}).setdefault(kind, set()).update(values)
        rank = self.rank(target)
        self.extra_ranks[target] = AssetRank(
            max(rank.best_trust_rank, self.config.trust_rank),
            later(rank.last_updated, normalized.record.updated_at),
        )
        self.chunk_sources[normalized.record.source_key] = ExistingSource(target, stored_updated_at)
        self.chunk_assets.add(target)

    def new_key(self) -> int:
        key = self.next_new_key
        self.next_new_key -= 1
        return key

    # -- the decision: native key, then the rules in order, then "nothing decided"

    def decide(self, normalized: NormalizedRecord) -> Decision:
        """What one record becomes. ``reasons`` starts with the values normalization ignored; each step adds
        why it went on or what it settled, and ``compared`` collects the keys each applied rule compared."""
        reasons: list[str] = list(normalized.ignored)
        compared: dict[str, list[str]] = {}
        source_key = normalized.record.source_key
        existing = self.chunk_sources.get(source_key)
        in_chunk = existing is not None
        if existing is None:
            existing = self.index.sources.get(source_key)
        if existing is not None and existing.asset_id in self.aliases:
            existing = ExistingSource(self.resolve(existing.asset_id), existing.updated_at)
        if existing is not None:
            return self.native_key_match(normalized, existing, in_chunk, reasons, compared)
        return self.apply_rules(normalized, reasons, compared)

    def native_key_match(
        self,
        normalized: NormalizedRecord,
        existing: ExistingSource,
        in_chunk: bool,
        reasons: list[str],
        compared: dict[str, list[str]],
    ) -> Decision:
        """Step 1: this connector already knows the record (from the index or earlier in this chunk), so its
        source record is updated in place, unless the record is older than what is stored."""
        record = normalized.record
        target = existing.asset_id
        asset_id, new_asset_key = _targets(target)
        compared[NATIVE_KEY_RULE.name] = [f"{SOURCE_NATIVE_KEY}={record.source_key}"]
        where = "earlier in this chunk" if in_chunk else "already"
        if is_older(record.updated_at, existing.updated_at):
            reasons.append(
                f"source key {record.source_key!r} {where} matched {describe(target)}, but the record's "
                f"updated_at {iso(record.updated_at)} is older than the stored "
                f"{iso(existing.updated_at)}: nothing changed (out-of-order protection)"
            )
            outcome = Outcome.UNCHANGED
        else:
            reasons.append(
                f"source key {record.source_key!r} {where} matched {describe(target)}: source record updated in place"
            )
            self.record_write(normalized, target, later(record.updated_at, existing.updated_at))
            outcome = Outcome.UPDATED
        return _decision(
            normalized,
            compared,
            reasons,
            outcome,
            NATIVE_KEY_RULE,
            (target,),
            asset_id=asset_id,
            new_asset_key=new_asset_key,
        )

    def apply_rules(self, normalized: NormalizedRecord, reasons: list[str], compared: dict[str, list[str]]) -> Decision:
        """Step 2: the connector's rules in order. A rule applies when the record has every attribute it names
        (values shared by too many assets do not count, :meth:`usable_identifiers`); its candidates are screened
        (:meth:`screen`: vetoes, the cloned-VM check); the first rule whose candidates settle on one asset
        decides, else :meth:`nothing_decided` does."""
        identifiers = self.usable_identifiers(normalized, reasons)
        unions: dict[str, set[int] | frozenset[int]] = {}  # per attribute: rules naming the same one share it
        applied: list[str] = []
        not_applicable: list[str] = []
        doubts: list[str] = []
        ambiguous: tuple[RuleSpec, tuple[int, ...]] | None = None
        for position, rule in enumerate(self.rules):
            missing = [attribute for attribute in rule.attributes if not identifiers.get(attribute)]
            if missing or not rule.attributes:
                not_applicable.append(rule.name)
                what = ", ".join(missing) if missing else "attributes (the rule names none)"
                reasons.append(f"rule {rule.name!r} not applicable: the record has no usable {what}")
                continue
            applied.append(rule.name)
            keys = compared[rule.name] = _compared_keys(rule, identifiers)
            # Candidates are matched, then screened, then ordered, then one is picked: a step that drops
            # candidates belongs between matching and ordering, so the reasons and the candidate list agree.
            matched = self.matching_assets(rule, identifiers, unions)
            if not matched:
                reasons.append(f"rule {rule.name!r} found no matching asset")
                continue
            ordered = self.screen(rule, _candidate_order(matched), identifiers, unions, reasons, doubts)
            if not ordered:
                reasons.append(f"rule {rule.name!r}: no candidate left after vetoes, trying the next rule")
                continue
            if len(ordered) == 1 or self.config.apply_default_rule:
                match = Match(rule, ordered, keys, identifiers, unions, self.rules[position + 1 :])
                return self.rule_match(normalized, match, reasons, compared)
            reasons.append(
                f"rule {rule.name!r} saw {len(ordered)} candidates; Apply default rule is off, trying the next rule"
            )
            ambiguous = (rule, ordered)
        return self.nothing_decided(normalized, applied, not_applicable, ambiguous, doubts, reasons, compared)

    def union(
        self, kind: str, identifiers: dict[str, tuple[str, ...]], unions: dict[str, set[int] | frozenset[int]]
    ) -> set[int] | frozenset[int]:
        """Assets sharing a value of ``kind`` with the record, cached per record in ``unions``. Read-only."""
        hits = unions.get(kind)
        if hits is None:
            hits = unions[kind] = self.assets_with(kind, identifiers[kind])
        return hits

    def matching_assets(
        self,
        rule: RuleSpec,
        identifiers: dict[str, tuple[str, ...]],
        unions: dict[str, set[int] | frozenset[int]],
    ) -> set[int] | frozenset[int]:
        """Assets that carry every attribute of an applicable rule (list attributes: any shared value).
        Read-only result."""
        candidates: set[int] | frozenset[int] = frozenset()
        for position, attribute in enumerate(rule.attributes):
            hits = self.union(attribute, identifiers, unions)
            candidates = hits if position == 0 else candidates & hits
            if not candidates:
                break
        return candidates

    def rule_match(
        self, normalized: NormalizedRecord, match: Match, reasons: list[str], compared: dict[str, list[str]]
    ) -> Decision:
        """A rule settled: the record merges into its one candidate, or into the default rule's choice, which
        flags the chosen asset as a possible duplicate (several candidates survived the vetoes: the inventory
        may hold one machine twice, an admin should look). Later rules that match another asset alone flag
        that one too (:meth:`links`)."""
        rule, ordered = match.rule, match.ordered
        flagged = len(ordered) > 1
        if not flagged:
            target = ordered[0]
            reasons.append(f"rule {rule.name!r} matched {describe(target)} on {', '.join(match.keys)}")
        else:
            target, why = self.tie_break(ordered, match.identifiers, match.unions, normalized.record.updated_at)
            reasons.append(
                f"rule {rule.name!r} saw {len(ordered)} candidates; Apply default rule chose {describe(target)}: {why}"
            )
            reasons.append(
                f"the chosen asset is flagged as a possible duplicate: {len(ordered)} candidates remained after "
                "vetoes and shared values"
            )
        linked = self.links(match, target)
        joined, linked = self.joinable(match, target, linked, reasons)
        joins: tuple[tuple[int, int], ...] = ()
        if joined:
            target, joins = self.apply_join(match, target, joined, reasons)
        for by_rule, other in linked:
            reasons.append(
                f"rule {by_rule.name!r} alone matches {self.label(other)}: the record ties it to the chosen asset, "
                "both are flagged as possible duplicates (not joined)"
            )
        self.record_write(normalized, target, normalized.record.updated_at)
        asset_id, new_asset_key = _targets(target)
        return _decision(
            normalized,
            compared,
            reasons,
            Outcome.MERGED,
            rule,
            ordered,
            asset_id=asset_id,
            new_asset_key=new_asset_key,
            possible_duplicate=flagged or bool(linked),
            linked=tuple(other for _, other in linked),
            joins=joins,
        )

    def apply_join(
        self, match: Match, target: int, joined: list[int], reasons: list[str]
    ) -> tuple[int, tuple[tuple[int, int], ...]]:
        """Join ``target`` and ``joined`` (one machine): the survivor, and the (loser, survivor) pairs."""
        group = [target, *joined]
        survivor = self.survivor(group)
        losers = [member for member in group if member != survivor]
        names = ", ".join(self.label(member) for member in group)
        reasons.append(
            f"the record ties {names} together (rule {match.rule.name!r} and later rules each matched one alone, "
            "with a strong identifier or a MAC one asset alone holds, no conflicting serial, hardware UUID or cloud "
            f"ID, no connector reporting two of them): joined into {self.label(survivor)}, trust rank "
            f"{self.rank(survivor).best_trust_rank}"
        )
        self.join(survivor, losers)
        return survivor, tuple((loser, survivor) for loser in losers)

    def ambiguous(
        self,
        normalized: NormalizedRecord,
        ambiguous: tuple[RuleSpec, tuple[int, ...]],
        summary: str,
        reasons: list[str],
        compared: dict[str, list[str]],
    ) -> Decision:
        """Step 3 when a rule saw several candidates and none was chosen: a new flagged asset, or nothing."""
        rule, ordered = ambiguous
        if not self.config.create_unmanaged:
            reasons.append(
                f"no rule decided and rule {rule.name!r} saw {len(ordered)} candidates; "
                "Create unmanaged asset is off, nothing written"
            )
            reasons.append(summary)
            return _decision(normalized, compared, reasons, Outcome.AMBIGUOUS, rule, ordered)
        key = self.new_key()
        reasons.append(
            f"no rule decided and rule {rule.name!r} saw {len(ordered)} candidates: created a new "
            "unmanaged asset flagged as a possible duplicate"
        )
        reasons.append(summary)
        self.record_write(normalized, key, normalized.record.updated_at)
        return _decision(
            normalized, compared, reasons, Outcome.AMBIGUOUS, rule, ordered, new_asset_key=key, possible_duplicate=True
        )

    def nothing_decided(
        self,
        normalized: NormalizedRecord,
        applied: list[str],
        not_applicable: list[str],
        ambiguous: tuple[RuleSpec, tuple[int, ...]] | None,
        doubts: list[str],
        reasons: list[str],
        compared: dict[str, list[str]],
    ) -> Decision:
        """Step 3: no rule decided. The record is ``AMBIGUOUS`` if a rule saw several candidates; a new
        unmanaged asset is created when the connector allows it (flagged as a possible duplicate when ambiguous
        or when a cloned-VM check set a candidate aside), else nothing is written. Either way the reasons end
        with which rules applied."""
        summary = (
            f"rules applied: {', '.join(applied) or 'none'}; not applicable: {', '.join(not_applicable) or 'none'}"
        )
        create = self.config.create_unmanaged
        if ambiguous is not None:
            return self.ambiguous(normalized, ambiguous, summary, reasons, compared)
        if not self.rules:
            reasons.append("no identification rule is enabled for this connector besides the source native key")
        if (junk := junk_only(normalized)) is not None:
            reasons.extend((junk, summary))
            return _decision(normalized, compared, reasons, Outcome.SKIPPED, None)
        if not create:
            reasons.append("no rule matched and Create unmanaged asset is off")
            reasons.append(summary)
            return _decision(normalized, compared, reasons, Outcome.SKIPPED, None)
        key = self.new_key()
        if doubts:
            reasons.append(
                "no rule matched: created a new unmanaged asset, flagged as a possible duplicate of the asset "
                "whose hardware UUID it shares"
            )
        else:
            reasons.append("no rule matched: created a new unmanaged asset")
        reasons.append(summary)
        self.record_write(normalized, key, normalized.record.updated_at)
        return _decision(
            normalized, compared, reasons, Outcome.CREATED, None, new_asset_key=key, possible_duplicate=bool(doubts)
        )


def _compared_keys(rule: RuleSpec, identifiers: dict[str, tuple[str, ...]]) -> list[str]:
    """The "kind=value" keys an applicable rule compares, at most :data:`MAX_COMPARED_KEYS` of them listed."""
    keys = [f"{attribute}={value}" for attribute in rule.attributes for value in identifiers[attribute]]
    if len(keys) > MAX_COMPARED_KEYS:
        keys = [*keys[:MAX_COMPARED_KEYS], f"... (+{len(keys) - MAX_COMPARED_KEYS} more)"]
    return keys


def _candidate_order(candidates: Iterable[int]) -> tuple[int, ...]:
    """Existing assets by id, then this chunk's new assets in creation order (-1, -2, ...)."""
    return tuple(sorted(candidates, key=lambda target: (target < 0, abs(target))))


def _targets(target: int) -> tuple[int | None, int | None]:
    return (target, None) if target > 0 else (None, target)


def _decision(
    normalized: NormalizedRecord,
    compared: dict[str, list[str]],
    reasons: list[str],
    outcome: Outcome,
    rule: RuleSpec | None,
    candidates: Iterable[int] = (),
    *,
    asset_id: int | None = None,
    new_asset_key: int | None = None,
    possible_duplicate: bool = False,
    linked: tuple[int, ...] = (),
    joins: tuple[tuple[int, int], ...] = (),
) -> Decision:
    return Decision(
        source_key=normalized.record.source_key,
        outcome=outcome,
        rule=rule,
        compared=compared,
        candidates=_candidate_order(candidates),
        asset_id=asset_id,
        new_asset_key=new_asset_key,
        possible_duplicate=possible_duplicate,
        reasons=tuple(reasons),
        normalized=normalized,
        linked=linked,
        joins=joins,
    )


def _error_decision(record: AssetRecord, normalized: NormalizedRecord | None, exc: Exception) -> Decision:
    if normalized is None:
        normalized = NormalizedRecord(record, {}, {kind: () for kind in IDENTIFIER_KINDS}, ())
    return Decision(
        source_key=str(getattr(record, "source_key", "")),
        outcome=Outcome.ERROR,
        rule=None,
        compared={},
        candidates=(),
        asset_id=None,
        new_asset_key=None,
        possible_duplicate=False,
        reasons=(f"internal error while identifying the record: {type(exc).__name__}: {exc}",),
        normalized=normalized,
    )
