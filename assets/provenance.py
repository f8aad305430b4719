"""The asset page's attributes grouped by the source each value came from, with what other sources say.

Each source is named once, above the values it gave (not on every row). Under a value, every other live source
that reports something else for that attribute is listed ("MDM mdm-web: Windows"), so disagreements are in plain
view rather than only in the Sources section. A list attribute (IPs, MACs, tags) counts as a disagreement when a
source reports a value the shown list lacks; reporting fewer is not one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .engine.records import LIST_ATTRIBUTES
from .models import SourceRecord


@dataclass
class Differs:
    source: SourceRecord
    text: str


@dataclass
class SourceGroup:
    #: The source the values came from (None: the asset does not know, e.g. an old merge).
    source: SourceRecord | None
    rows: list = field(default_factory=list)


def _as_set(value: object) -> set[str]:
    return {str(item).lower() for item in (value if isinstance(value, list | tuple) else [value])}


def _same(name: str, shown: object, reported: object) -> bool:
    if name in LIST_ATTRIBUTES:
        return _as_set(reported) <= _as_set(shown)
    return str(reported).strip().lower() == str(shown).strip().lower()


def _text(value: object) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def group_by_source(asset, rows: list, sources: list[SourceRecord]) -> tuple[list[SourceGroup], int]:
    """``rows`` (the page's ``Shown`` attributes) grouped by source, most trusted first, each row given
    ``differs`` (a list of :class:`Differs`); and how many attributes the sources disagree on."""
    live = [source for source in sources if not source.deleted]
    groups: dict[int | None, SourceGroup] = {}
    disagreements = 0
    for row in rows:
        shown = getattr(asset, row.name)
        row.differs = [
            Differs(source, _text(source.attributes[row.name]))
            for source in live
            if source is not row.source
            and (source.attributes or {}).get(row.name) not in (None, "", [], {})
            and not _same(row.name, shown, source.attributes[row.name])
        ]
        disagreements += bool(row.differs)
        key = row.source.pk if row.source else None
        groups.setdefault(key, SourceGroup(row.source)).rows.append(row)
    order = {source.pk: position for position, source in enumerate(sources)}
    ordered = sorted(
        groups.values(), key=lambda group: order.get(group.source.pk, len(order)) if group.source else len(order)
    )
    return ordered, disagreements
