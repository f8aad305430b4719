"""Screening and choosing candidates: what identification does between "these assets match a rule" and "this
one is the record's machine". Vetoes (a strong identifier that differs), a source's own second record, the
cloned-VM check, values shared by too many assets, the assets a record ties together, and the default rule's
tie-break. :class:`CandidateChecks` is mixed into :class:`.identify._Chunk`, whose lookups it uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .identifiers import CLOUD_INSTANCE, HARDWARE_UUID, HOSTNAME, IDENTIFIER_KINDS, IP, MAC, SERIAL
from .inputs import STRONG_KINDS, AssetRank, EngineConfig, IdentityIndex, RuleSpec, is_shared
from .junk import STRONG_JUNK
from .normalize import NormalizedRecord
from .recency import iso, time_key


@dataclass(frozen=True, slots=True)
class Match:
    """A rule that settled, what the record is matched on, and the rules after it (:meth:`CandidateChecks.links`)."""

    rule: RuleSpec
    ordered: tuple[int, ...]
    keys: list[str]
    identifiers: dict[str, tuple[str, ...]]
    unions: dict[str, set[int] | frozenset[int]]
    later: tuple[RuleSpec, ...]


class CandidateChecks:
    """The candidate checks of one chunk. Expects, from the class it is mixed into: ``config``, ``index``,
    ``chunk_assets``, ``holder_count``, ``held``, ``union``, ``rank`` and ``matching_assets``."""

    __slots__ = ()
    config: EngineConfig
    index: IdentityIndex
    chunk_assets: set[int]

    def holder_count(self, kind: str, value: str) -> int:  # pragma: no cover - provided by _Chunk
        raise NotImplementedError

    def held(self, target: int, kind: str) -> set[str] | frozenset[str]:  # pragma: no cover - provided by _Chunk
        raise NotImplementedError

    def union(
        self, kind: str, identifiers: dict[str, tuple[str, ...]], unions: dict[str, set[int] | frozenset[int]]
    ) -> set[int] | frozenset[int]:  # pragma: no cover - provided by _Chunk
        raise NotImplementedError

    def rank(self, target: int) -> AssetRank:  # pragma: no cover - provided by _Chunk
        raise NotImplementedError

    def matching_assets(
        self, rule: RuleSpec, identifiers: dict[str, tuple[str, ...]], unions: dict[str, set[int] | frozenset[int]]
    ) -> set[int] | frozenset[int]:  # pragma: no cover - provided by _Chunk
        raise NotImplementedError

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
                count = self.holder_count(kind, value)
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
        return f"{describe(target)} {name}"

    def links(self, match: Match, target: int) -> list[tuple[RuleSpec, int]]:
        """Assets a later applicable rule matches alone (one candidate, not the target) that pass the same
        screen as candidates and hold no strong identifier conflicting with the target's: the record says they
        may be one machine. :meth:`.joins.JoinChecks.joinable` decides which are joined; the rest are flagged."""
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
        when = {target: nearness(self.rank(target).last_updated, updated_at) for target in ordered}

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


def nearness(last_updated: datetime | None, updated_at: datetime | None) -> tuple:
    """Sort key (higher is better) of a candidate's last update for a record written at ``updated_at``: the
    nearest wins; an unknown time on the record's side means "most recent wins", on the candidate's "last"."""
    if last_updated is None:
        return (0, 0.0)
    if updated_at is None:
        return (1, time_key(last_updated))
    return (1, -abs((time_key(last_updated)[1] - time_key(updated_at)[1]).total_seconds()))


def describe(target: int) -> str:
    # Reasons are read by people: database ids and provisional keys mean nothing to them (the decision row
    # carries the candidates' public ids).
    return "an existing asset" if target > 0 else "a new asset created earlier in this delivery"
