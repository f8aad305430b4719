"""Identification: the connector's rules applied to each record of a chunk, in order, against the index."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from .decisions import Decision, Outcome
from .identifiers import CLOUD_INSTANCE, HARDWARE_UUID, HOSTNAME, IDENTIFIER_KINDS, IP, MAC, SERIAL, SOURCE_NATIVE_KEY
from .inputs import (
    HELD_KINDS,
    NATIVE_KEY_RULE,
    STRONG_KINDS,
    AssetRank,
    EngineConfig,
    ExistingSource,
    IdentityIndex,
    RuleSpec,
    is_shared,
)
from .junk import STRONG_JUNK
from .normalize import NormalizedRecord, normalize_record
from .recency import is_older, iso, later, time_key
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


@dataclass(frozen=True, slots=True)
class _Match:
    """A rule that settled, with what the record is matched on and the rules after it (for :meth:`_Chunk.links`)."""

    rule: RuleSpec
    ordered: tuple[int, ...]
    keys: list[str]
    identifiers: dict[str, tuple[str, ...]]
    unions: dict[str, set[int] | frozenset[int]]
    later: tuple[RuleSpec, ...]


class _Chunk:
    """Working state of one :func:`identify_records` call.

    Overlays (never writes to) the caller's index with what the chunk has decided so far, so a later record
    sees earlier ones exactly as it would have if they had been written to the database first: the answer does
    not depend on how a delivery is cut into chunks.
    """

    __slots__ = (
        "chunk_assets",
        "chunk_sources",
        "config",
        "extra_held",
        "extra_identifiers",
        "extra_ranks",
        "index",
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
        return found

    def holders(self, kind: str, value: str) -> set[int] | frozenset[int]:
        """Assets holding one value, in the index and in what this chunk wrote. Read-only result."""
        key = (kind, value)
        base, extra = self.index.identifiers.get(key), self.extra_identifiers.get(key)
        if base and extra:
            return base | extra
        return base or extra or frozenset()

    def held(self, target: int, kind: str) -> set[str] | frozenset[str]:
        """The values of one of :data:`HELD_KINDS` an asset holds (index and this chunk). Read-only result."""
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
                f"source key {record.source_key!r} {where} matched {_describe(target)}, but the record's "
                f"updated_at {iso(record.updated_at)} is older than the stored "
                f"{iso(existing.updated_at)}: nothing changed (out-of-order protection)"
            )
            outcome = Outcome.UNCHANGED
        else:
            reasons.append(
                f"source key {record.source_key!r} {where} matched {_describe(target)}: source record updated in place"
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
                match = _Match(rule, ordered, keys, identifiers, unions, self.rules[position + 1 :])
                return self.rule_match(normalized, match, reasons, compared)
            reasons.append(
                f"rule {rule.name!r} saw {len(ordered)} candidates; Apply default rule is off, trying the next rule"
            )
            ambiguous = (rule, ordered)
        return self.nothing_decided(normalized, applied, not_applicable, ambiguous, doubts, reasons, compared)

    def usable_identifiers(self, normalized: NormalizedRecord, reasons: list[str]) -> dict[str, tuple[str, ...]]:
        """The record's identifiers without the values held by more than ``shared_limit`` assets (a Docker or
        hypervisor MAC missing from the junk lists, a NAT address): those identify none of them."""
        limit = self.config.shared_limit
        identifiers = normalized.identifiers
        if limit <= 0:
            return identifiers
        dropped: set[tuple[str, str]] = set()
        for kind, values in identifiers.items():
            for value in values:
                count = len(self.holders(kind, value))
                if is_shared(count, limit):
                    dropped.add((kind, value))
                    reasons.append(
                        f"{kind} {value} ignored: shared by {count} assets (more than {limit}, the shared-value limit)"
                    )
        if not dropped:
            return identifiers
        return {
            kind: tuple(value for value in values if (kind, value) not in dropped)
            for kind, values in identifiers.items()
        }

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

    def screen(
        self,
        rule: RuleSpec,
        ordered: tuple[int, ...],
        identifiers: dict[str, tuple[str, ...]],
        unions: dict[str, set[int] | frozenset[int]],
        reasons: list[str],
        doubts: list[str],
    ) -> tuple[int, ...]:
        """The candidates that may be the record's machine: a strong identifier conflict vetoes a candidate
        (:meth:`veto`), and a hardware-UUID match the rest of the record contradicts is set aside
        (:meth:`cloned_vm`; ``doubts`` keeps why, so a new asset made instead is flagged)."""
        kept = []
        for target in ordered:
            why = self.veto(target, identifiers)
            if why is not None:
                reasons.append(f"candidate {self.label(target)} vetoed: {why}")
                continue
            why = self.same_source(target, identifiers, unions)
            if why is not None:
                reasons.append(f"rule {rule.name!r}: candidate {self.label(target)} set aside: {why}")
                continue
            if HARDWARE_UUID in rule.attributes:
                why = self.cloned_vm(target, identifiers, unions)
                if why is not None:
                    reasons.append(f"rule {rule.name!r}: candidate {self.label(target)} set aside: {why}")
                    doubts.append(why)
                    continue
            kept.append(target)
        return tuple(kept)

    def veto(self, target: int, identifiers: dict[str, tuple[str, ...]]) -> str | None:
        """Why ``target`` cannot be the record's machine: it holds a real serial number, hardware UUID or cloud
        instance ID and none equals the record's (a machine has one of each). ``None`` when nothing conflicts.
        A kind the record or the candidate lacks never vetoes."""
        for kind in STRONG_KINDS:
            mine = identifiers[kind]
            if not mine:
                continue
            theirs = [value for value in self.held(target, kind) if not STRONG_JUNK[kind](value)]
            if theirs and not any(value in mine for value in theirs):
                return f"{kind} {min(theirs)} differs from the record's {mine[0]}"
        return None

    def same_source(
        self, target: int, identifiers: dict[str, tuple[str, ...]], unions: dict[str, set[int] | frozenset[int]]
    ) -> str | None:
        """Why a candidate this connector already reports (under another source key) is not the record's
        machine, or ``None``.

        A source that keeps two records says it sees two machines. Names and addresses get reused (a
        replacement machine takes the retired one's host name, FQDN and IP while both are still listed), so a
        match on those alone does not overrule the source; a shared MAC or strong identifier does (an agent
        reinstall leaves a stale record of the same machine behind, with the same MACs).
        """
        if target not in self.chunk_assets and target not in self.index.connector_assets:
            return None
        for kind in (*STRONG_KINDS, MAC):
            if identifiers[kind] and target in self.union(kind, identifiers, unions):
                return None
        return (
            "this connector already reports it under another source key and the record shares only names or "
            "addresses with it (no MAC, serial, hardware UUID or cloud ID)"
        )

    def cloned_vm(
        self, target: int, identifiers: dict[str, tuple[str, ...]], unions: dict[str, set[int] | frozenset[int]]
    ) -> str | None:
        """Why a hardware-UUID match is not trusted alone, or ``None``.

        A cloned VM keeps its source's SMBIOS UUID, so one UUID can stand for two machines. When the candidate
        holds a host name and the record's differs, AND the candidate shares no other identifier with the
        record (MAC, IP, serial, cloud ID), everything but the UUID says "another machine": the UUID alone is
        not enough, a second identifier is required. A machine that was renamed, moved and re-NICed at once is
        split rather than risk a false merge; the new asset is flagged as a possible duplicate so an admin sees
        the pair.
        """
        host = identifiers[HOSTNAME]
        if not host:
            return None
        theirs = self.held(target, HOSTNAME)
        if not theirs or host[0] in theirs:
            return None
        for kind in (MAC, IP, SERIAL, CLOUD_INSTANCE):
            if identifiers[kind] and target in self.union(kind, identifiers, unions):
                return None
        return (
            f"hardware_uuid {identifiers[HARDWARE_UUID][0]} matches but its hostname {min(theirs)} differs from "
            f"the record's {host[0]} and it shares no MAC, IP, serial or cloud ID with the record "
            "(cloned VMs keep their SMBIOS UUID: the UUID alone is not trusted)"
        )

    def label(self, target: int) -> str:
        """A candidate as a person reads it: its host name when known (database ids mean nothing to people)."""
        hosts = self.held(target, HOSTNAME)
        name = repr(min(hosts)) if hosts else "without host name"
        return f"{_describe(target)} {name}"

    def rule_match(
        self, normalized: NormalizedRecord, match: _Match, reasons: list[str], compared: dict[str, list[str]]
    ) -> Decision:
        """A rule settled: the record merges into its one candidate, or into the default rule's choice, which
        flags the chosen asset as a possible duplicate (several candidates survived the vetoes: the inventory
        may hold one machine twice, an admin should look). Later rules that match another asset alone flag
        that one too (:meth:`links`)."""
        rule, ordered = match.rule, match.ordered
        flagged = len(ordered) > 1
        if not flagged:
            target = ordered[0]
            reasons.append(f"rule {rule.name!r} matched {_describe(target)} on {', '.join(match.keys)}")
        else:
            target, why = self.tie_break(ordered, match.identifiers, match.unions, normalized.record.updated_at)
            reasons.append(
                f"rule {rule.name!r} saw {len(ordered)} candidates; Apply default rule chose {_describe(target)}: {why}"
            )
            reasons.append(
                f"the chosen asset is flagged as a possible duplicate: {len(ordered)} candidates remained after "
                "vetoes and shared values"
            )
        linked = self.links(match, target)
        for by_rule, other in linked:
            reasons.append(
                f"rule {by_rule.name!r} alone matches {self.label(other)}: the record ties it to the chosen asset, "
                "both are flagged as possible duplicates (not merged)"
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
        )

    def links(self, match: _Match, target: int) -> list[tuple[RuleSpec, int]]:
        """Assets a later applicable rule matches alone (one candidate, not the target) that pass the same
        screen as candidates and hold no strong identifier conflicting with the target's: the record says they
        may be one machine. Only flagged, never merged: two assets are one machine only by an admin's merge."""
        found: list[tuple[RuleSpec, int]] = []
        identifiers, unions = match.identifiers, match.unions
        for rule in match.later:
            if not rule.attributes or any(not identifiers.get(attribute) for attribute in rule.attributes):
                continue
            matched = self.matching_assets(rule, identifiers, unions)
            if len(matched) != 1 or target in matched:
                continue
            (other,) = matched
            if any(other == seen for _, seen in found) or self.conflicting(other, target):
                continue
            if self.veto(other, identifiers) is not None or self.same_source(other, identifiers, unions) is not None:
                continue
            if HARDWARE_UUID in rule.attributes and self.cloned_vm(other, identifiers, unions) is not None:
                continue
            found.append((rule, other))
        return found

    def conflicting(self, first: int, second: int) -> bool:
        """Whether two assets hold different real values of a strong identifier kind (two machines)."""
        for kind in STRONG_KINDS:
            junk = STRONG_JUNK[kind]
            mine = {value for value in self.held(first, kind) if not junk(value)}
            theirs = {value for value in self.held(second, kind) if not junk(value)}
            if mine and theirs and not mine & theirs:
                return True
        return False

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
            rule, ordered = ambiguous
            if not create:
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
                normalized,
                compared,
                reasons,
                Outcome.AMBIGUOUS,
                rule,
                ordered,
                new_asset_key=key,
                possible_duplicate=True,
            )
        if not self.rules:
            reasons.append("no identification rule is enabled for this connector besides the source native key")
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

    def agreement(
        self, target: int, identifiers: dict[str, tuple[str, ...]], unions: dict[str, set[int] | frozenset[int]]
    ) -> list[str]:
        """The identifier kinds on which the candidate shares a (usable) value with the record."""
        return [
            kind for kind in IDENTIFIER_KINDS if identifiers[kind] and target in self.union(kind, identifiers, unions)
        ]

    def tie_break(
        self,
        ordered: tuple[int, ...],
        identifiers: dict[str, tuple[str, ...]],
        unions: dict[str, set[int] | frozenset[int]],
        updated_at: datetime | None,
    ) -> tuple[int, str]:
        """The default rule: the candidate the record's other identifiers agree with (most identifier kinds
        shared), then the best trust rank, then the last update nearest the record's own time (for a current
        record, the most recent; for a stale one, the asset that was current when it was written; None
        oldest), then the lowest asset id (existing assets before this chunk's new ones) so the same input
        always gives the same answer."""
        agree = {target: self.agreement(target, identifiers, unions) for target in ordered}
        when = {target: _nearness(self.rank(target).last_updated, updated_at) for target in ordered}

        def key(target: int) -> tuple:
            rank = self.rank(target)
            return (len(agree[target]), rank.best_trust_rank, when[target], target > 0, -abs(target))

        ranked = sorted(ordered, key=key, reverse=True)
        winner, runner_up = ranked[0], ranked[1]
        best, second = self.rank(winner), self.rank(runner_up)
        if len(agree[winner]) > len(agree[runner_up]):
            return winner, (
                f"the record's identifiers agree with it most ({', '.join(agree[winner])}; the next candidate "
                f"shares {len(agree[runner_up])} kind(s))"
            )
        if best.best_trust_rank > second.best_trust_rank:
            return winner, f"highest trust rank ({best.best_trust_rank})"
        if when[winner] > when[runner_up]:
            if updated_at is None or time_key(best.last_updated) > time_key(second.last_updated):
                return (
                    winner,
                    f"same trust rank ({best.best_trust_rank}), most recent update ({iso(best.last_updated)})",
                )
            return winner, (
                f"same trust rank ({best.best_trust_rank}), last update ({iso(best.last_updated)}) nearest the "
                f"record's own ({iso(updated_at)})"
            )
        return winner, "same trust rank and last update; lowest asset id chosen for determinism"


def _nearness(last_updated: datetime | None, updated_at: datetime | None) -> tuple:
    """Sort key (higher is better) of a candidate's last update for a record written at ``updated_at``: the
    nearest wins; an unknown time on the record's side means "most recent wins", on the candidate's "last"."""
    if last_updated is None:
        return (0, 0.0)
    if updated_at is None:
        return (1, time_key(last_updated))
    return (1, -abs((time_key(last_updated)[1] - time_key(updated_at)[1]).total_seconds()))


def _compared_keys(rule: RuleSpec, identifiers: dict[str, tuple[str, ...]]) -> list[str]:
    """The "kind=value" keys an applicable rule compares, at most :data:`MAX_COMPARED_KEYS` of them listed."""
    keys = [f"{attribute}={value}" for attribute in rule.attributes for value in identifiers[attribute]]
    if len(keys) > MAX_COMPARED_KEYS:
        keys = [*keys[:MAX_COMPARED_KEYS], f"... (+{len(keys) - MAX_COMPARED_KEYS} more)"]
    return keys


def _describe(target: int) -> str:
    # Reasons are read by people: database ids and provisional keys mean nothing to them (the decision row
    # carries the candidates' public ids).
    return "an existing asset" if target > 0 else "a new asset created earlier in this delivery"


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
