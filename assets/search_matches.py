"""Which value made each listed asset match a search: the asset list shows "MAC address 00:1a:2b…" under the
name, so a search for a MAC, an IP or a serial says where it was found (the name column rarely shows it)."""

from __future__ import annotations

from dataclasses import dataclass

from .choices import IdentifierKind
from .filtersets import _any_prefix, search_prefixes
from .models import Asset, Identifier

#: At most this many matched values per asset.
MATCHES_SHOWN = 3


@dataclass(frozen=True)
class Match:
    label: str
    #: The matched start of the value, and the rest of it.
    head: str
    tail: str


def _split(value: str, prefixes: set[str]) -> tuple[str, str]:
    longest = max((p for p in prefixes if value.startswith(p)), key=len, default="")
    return value[: len(longest)], value[len(longest) :]


def attach_matches(assets: list[Asset], text: str) -> None:
    """Set ``search_matches`` (a list of :class:`Match`) on each of ``assets``: one query for the whole page."""
    prefixes = search_prefixes(text or "")
    for asset in assets:
        asset.search_matches = []
    if not prefixes or not assets:
        return
    by_id = {asset.pk: asset for asset in assets}
    rows = (
        Identifier.objects.filter(asset_id__in=by_id)
        .filter(_any_prefix("value", prefixes))
        .order_by("asset_id", "kind", "value")
        .values_list("asset_id", "kind", "value")
        .distinct()
    )
    labels = dict(IdentifierKind.choices)
    for asset_id, kind, value in rows:
        matches = by_id[asset_id].search_matches
        if len(matches) < MATCHES_SHOWN:
            matches.append(Match(labels.get(kind, kind), *_split(value, prefixes)))
    for asset in assets:
        if asset.search_matches:
            continue
        # A retired asset has no identifiers left: its last known host name or serial matched.
        for label, value in (("Hostname", asset.hostname), ("Serial number", asset.serial_number)):
            head, tail = _split(value or "", prefixes)
            if head:
                asset.search_matches.append(Match(label, head, tail))
