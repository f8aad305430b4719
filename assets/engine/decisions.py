"""What identification returns: one :class:`Decision` per record, saying what it became and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .inputs import RuleSpec
from .normalize import NormalizedRecord


class Outcome(StrEnum):
    """What a record became.

    ``UPDATED``: the source native key matched, the existing source record is updated in place. ``MERGED``: a
    rule matched, a new source record is attached to that asset. ``UNCHANGED``: the native key matched but the
    record is strictly older than the stored one (out-of-order delivery), nothing is written. ``AMBIGUOUS``:
    no rule decided and some rule saw several candidates; a new asset flagged as a possible duplicate is
    created only when *Create unmanaged asset* is on.
    """

    CREATED = "created"
    UPDATED = "updated"
    MERGED = "merged"
    SKIPPED = "skipped"
    AMBIGUOUS = "ambiguous"
    UNCHANGED = "unchanged"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's verdict on one record, with everything the decision log needs to explain it.

    ``rule`` is the rule that decided (:data:`NATIVE_KEY_RULE` for ``UPDATED``/``UNCHANGED``); for
    ``AMBIGUOUS`` it is the last rule that saw several candidates; ``None`` for
    ``CREATED``/``SKIPPED``/``ERROR``. ``compared`` maps each rule that applied to the "kind=value" keys it
    compared. Target: ``asset_id`` for an existing asset, or ``new_asset_key`` (negative) for an asset this
    chunk creates; both ``None`` when nothing is written (``SKIPPED``, ``AMBIGUOUS`` without creation,
    ``ERROR``). ``possible_duplicate``: the target is to be flagged (an ambiguous record's new asset, the
    default rule's choice among several candidates, a record that ties its target to ``linked`` assets, a new
    asset made because a cloned-VM check set a UUID match aside).
    """

    source_key: str
    outcome: Outcome
    rule: RuleSpec | None
    compared: dict[str, list[str]]
    candidates: tuple[int, ...]
    asset_id: int | None
    new_asset_key: int | None
    possible_duplicate: bool
    reasons: tuple[str, ...]
    normalized: NormalizedRecord
    #: Other assets (ids or this chunk's new-asset keys) a later rule matched alone, not vetoed: the record ties
    #: them to its target but the join rule (:mod:`.joins`) refused, so the target and they are flagged as
    #: possible duplicates.
    linked: tuple[int, ...] = ()
    #: Assets this record joined (one machine, :mod:`.joins`): (loser, survivor) pairs of ids or this chunk's
    #: new-asset keys, in order; the record's target is the survivor. The service merges each loser into its
    #: survivor like a manual merge, with an audit row.
    joins: tuple[tuple[int, int], ...] = ()
