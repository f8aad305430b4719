"""Joining assets a record ties together: when one record is matched to two (or more) existing assets by the
connector's rules, and the evidence is strong and nothing says "two machines", the assets are one machine and are
merged (the most trusted one survives). :class:`JoinChecks` is mixed into :class:`.identify._Chunk`, whose lookups
and overlay it uses; within a chunk a joined asset is seen as its survivor from then on.

The join rule, in full (every condition must hold, else the assets are only flagged as possible duplicates):

- the record matched its target alone (one candidate, not the default rule's pick among several), and each other
  asset alone by a later rule the connector has enabled, after the same screening as any candidate (vetoes, a
  source's own second record, the cloned-VM check);
- at least one of the two links is by a strong identifier (serial number, hardware UUID, cloud instance ID) or by
  a MAC address the matched asset alone holds;
- no strong identifier conflicts between the assets (real values that differ veto the join);
- no connector holds live records on both assets (two records of one source say two machines);
- every asset has a live source (a retired asset is never joined).
"""

from __future__ import annotations

from .candidates import Match
from .identifiers import MAC
from .inputs import STRONG_KINDS, AssetRank, IdentityIndex, RuleSpec
from .recency import later


class JoinChecks:
    """Join conditions and the overlay bookkeeping of a join. Expects, from the class it is mixed into:
    ``index``, ``chunk_assets``, ``extra_ranks``, ``aliases``, ``members``, ``extra_connectors``, and the
    lookups ``assets_with``, ``rank``, ``conflicting``, ``label``."""

    __slots__ = ()
    index: IdentityIndex
    chunk_assets: set[int]
    extra_ranks: dict[int, AssetRank]
    aliases: dict[int, int]
    members: dict[int, list[int]]
    extra_connectors: dict[int, set[int]]

    def assets_with(self, kind: str, values: tuple[str, ...]):  # pragma: no cover - provided by _Chunk
        raise NotImplementedError

    def rank(self, target: int) -> AssetRank:  # pragma: no cover - provided by _Chunk
        raise NotImplementedError

    def conflicting(self, first: int, second: int) -> bool:  # pragma: no cover - provided by CandidateChecks
        raise NotImplementedError

    def label(self, target: int) -> str:  # pragma: no cover - provided by CandidateChecks
        raise NotImplementedError

    def resolve(self, target: int) -> int:
        """The asset ``target`` now is: its survivor when a join of this chunk merged it, else itself."""
        return self.aliases.get(target, target)

    def group(self, target: int) -> list[int]:
        """``target`` and the assets joined into it in this chunk."""
        return self.members.get(target) or [target]

    def connectors(self, target: int) -> set[int]:
        """Other connectors with a live record on the asset (index, and joins of this chunk)."""
        found: set[int] = set()
        for member in self.group(target):
            found |= self.index.connectors.get(member, frozenset())
        return found | self.extra_connectors.get(target, set())

    def is_mine(self, target: int) -> bool:
        """Whether this connector already holds a record on the asset (before the record being decided)."""
        return any(m in self.chunk_assets or m in self.index.connector_assets for m in self.group(target))

    def is_live(self, target: int) -> bool:
        """A new asset of this chunk, or an asset with a live source: never a retired one."""
        return target < 0 or target in self.extra_ranks or target in self.index.ranks

    def strong_link(self, rule: RuleSpec, target: int, identifiers: dict[str, tuple[str, ...]]) -> str | None:
        """What makes a rule's match of ``target`` strong evidence: a strong identifier kind, or one of the
        record's MACs that only this asset holds. ``None`` when the rule links on names or addresses only."""
        strong = [kind for kind in rule.attributes if kind in STRONG_KINDS]
        if strong:
            return strong[0]
        if MAC in rule.attributes:
            for value in identifiers[MAC]:
                if set(self.assets_with(MAC, (value,))) == {target}:
                    return f"{MAC} {value} (held by this asset alone)"
        return None

    def joinable(
        self, match: Match, target: int, linked: list[tuple[RuleSpec, int]], reasons: list[str]
    ) -> tuple[list[int], list[tuple[RuleSpec, int]]]:
        """Split ``linked`` into the assets to join with ``target`` and those only to flag (see the module
        docstring); ``reasons`` says why each link was or was not joined."""
        if not linked:
            return [], linked
        if len(match.ordered) > 1:
            for _, other in linked:
                reasons.append(
                    f"{self.label(other)} not joined: the record's own asset was the default rule's pick among "
                    "several candidates"
                )
            return [], linked
        first = self.strong_link(match.rule, target, match.identifiers)
        group, kept = [target], []
        for rule, other in linked:
            why = self.join_refusal(group, rule, other, first, match.identifiers)
            if why is None:
                group.append(other)
            else:
                reasons.append(f"{self.label(other)} not joined: {why}")
                kept.append((rule, other))
        return group[1:], kept

    def join_refusal(
        self, group: list[int], rule: RuleSpec, other: int, first: str | None, identifiers: dict[str, tuple[str, ...]]
    ) -> str | None:
        """Why ``other`` may not join ``group`` (the record's target and the assets joined so far), or ``None``."""
        if first is None and self.strong_link(rule, other, identifiers) is None:
            return "neither link is by a strong identifier or a MAC address one asset alone holds"
        if not all(self.is_live(member) for member in (*group, other)):
            return "a retired asset is never joined"
        if any(self.conflicting(member, other) for member in group):
            return "the assets hold different serial numbers, hardware UUIDs or cloud instance IDs"
        theirs = self.connectors(other)
        if any(self.connectors(member) & theirs for member in group):
            return "a connector reports both under different source keys (two records, two machines)"
        if self.is_mine(other) and any(self.is_mine(member) for member in group):
            return "this connector reports both under different source keys (two records, two machines)"
        return None

    def survivor(self, group: list[int]) -> int:
        """The asset the others join: the best trust rank, then the oldest (existing before this chunk's new)."""
        return max(group, key=lambda t: (self.rank(t).best_trust_rank, t > 0, -abs(t)))

    def join(self, survivor: int, losers: list[int]) -> None:
        """Let the rest of the chunk see ``losers`` as ``survivor``: ids resolve to it, its held values, rank,
        connectors and "this connector holds it" are the union of the group's."""
        ranks = [self.rank(member) for member in (survivor, *losers)]
        best, last = max(r.best_trust_rank for r in ranks), None
        for rank in ranks:
            last = later(last, rank.last_updated)
        connectors = self.connectors(survivor)
        mine = self.is_mine(survivor)
        group = list(self.group(survivor))
        for loser in losers:
            connectors |= self.connectors(loser)
            mine = mine or self.is_mine(loser)
            group.extend(self.members.pop(loser, [loser]))
            self.extra_connectors.pop(loser, None)
        for alias, current in list(self.aliases.items()):
            if current in losers:
                self.aliases[alias] = survivor
        for loser in losers:
            self.aliases[loser] = survivor
        self.members[survivor] = group
        self.extra_connectors[survivor] = connectors
        self.extra_ranks[survivor] = AssetRank(best, last)
        if mine:
            self.chunk_assets.add(survivor)
