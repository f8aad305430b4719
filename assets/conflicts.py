"""Reading an asset's identifier conflicts for a page: which values disagree, and which live source reports each.

The conflicts themselves are found by :func:`assets.engine.reconcile.strong_conflicts` when the asset is reconciled
and stored on it (``Asset.identifier_conflicts``: kind -> [{"value", "source"}]); here they meet the source records
a page has loaded already, so showing them costs no query.
"""

from __future__ import annotations

from dataclasses import dataclass

from .choices import IdentifierKind
from .models import Asset, SourceRecord

#: Kinds a conflict can be about, in the order pages show them.
CONFLICT_KINDS = (IdentifierKind.SERIAL, IdentifierKind.HARDWARE_UUID, IdentifierKind.CLOUD_INSTANCE)
_LABELS = dict(IdentifierKind.choices)
#: The same kinds inside a sentence.
_IN_A_SENTENCE = {
    IdentifierKind.SERIAL: "serial number",
    IdentifierKind.HARDWARE_UUID: "hardware UUID",
    IdentifierKind.CLOUD_INSTANCE: "cloud instance ID",
}


@dataclass
class SourceRow:
    """One live source of a conflicting asset: the value it reports for each conflicting kind ("" if none)."""

    source: SourceRecord
    values: list[str]
    #: Whether its value on some kind differs from the most trusted source's value there.
    odd: bool


@dataclass
class ConflictingAsset:
    asset: Asset
    kinds: list[tuple[str, str]]  # (kind, label)
    #: Per kind: the distinct values, each with the sources that report it (for the summary line).
    summary: list[tuple[str, list[tuple[str, list[SourceRecord]]]]]
    rows: list[SourceRow]

    @property
    def about(self) -> str:
        """The kinds in conflict, in a sentence: "serial number and hardware UUID"."""
        words = [_IN_A_SENTENCE[kind] for kind, _ in self.kinds]
        return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 2 else words)


def conflicting_asset(asset: Asset, sources: list[SourceRecord]) -> ConflictingAsset:
    """What the page and the asset page show about one flagged asset, from its stored conflicts and its live
    sources (a source the stored conflict names but that left the asset since is skipped)."""
    by_id = {source.pk: source for source in sources}
    conflicts = asset.identifier_conflicts or {}
    kinds = [kind for kind in CONFLICT_KINDS if kind in conflicts]
    value_of: dict[tuple[str, int], str] = {}
    summary = []
    for kind in kinds:
        grouped: dict[str, list[SourceRecord]] = {}
        for item in conflicts[kind]:
            source = by_id.get(item.get("source"))
            if source is not None:
                value_of[(kind, source.pk)] = item["value"]
                grouped.setdefault(item["value"], []).append(source)
        summary.append((_LABELS[kind], list(grouped.items())))
    rows = []
    reference = {
        kind: next((value_of[(kind, s.pk)] for s in sources if (kind, s.pk) in value_of), "") for kind in kinds
    }
    for source in sources:
        values = [value_of.get((kind, source.pk), "") for kind in kinds]
        odd = any(value and value != reference[kind] for kind, value in zip(kinds, values, strict=True))
        rows.append(SourceRow(source, values, odd))
    return ConflictingAsset(asset, [(kind, _LABELS[kind]) for kind in kinds], summary, rows)
