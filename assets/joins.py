"""Writing the joins of one chunk: assets a record tied together (``Decision.joins``, decided by
:mod:`assets.engine.joins`) are merged the way a manual merge does it (``assets.inventory.merge_assets``), in bulk.

Each loser's source records and identifiers move to its survivor, the loser points to it (``merged_into``), the
survivor becomes managed if a loser was, and one ``merged`` audit row per survivor holds what the existing Undo
needs (the same details as a manual merge, plus which record joined them). A constant number of queries per chunk,
whatever the number of joins (none when there is no join); re-deriving the survivors is the caller's step.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Case, IntegerField, Value, When

from .choices import AssetAction, AssetKind
from .models import Asset, AssetEvent, Identifier, SourceRecord


def final_survivors(decisions, target_to_asset: dict[int, int]) -> dict[int, int]:
    """Loser asset id -> the asset it ends in after every join of the chunk (a survivor may be joined later)."""
    merged: dict[int, int] = {}
    for decision in decisions:
        for loser, survivor in decision.joins:
            loser, survivor = target_to_asset.get(loser, loser), target_to_asset.get(survivor, survivor)
            if loser > 0 and survivor > 0:  # a new asset no final record landed on was never inserted
                merged[loser] = survivor

    def final(asset_id: int) -> int:
        seen = {asset_id}
        while asset_id in merged and merged[asset_id] not in seen:
            asset_id = merged[asset_id]
            seen.add(asset_id)
        return asset_id

    return {loser: final(loser) for loser in merged}


def _by_asset(losers: dict[int, int]) -> Case:
    return Case(
        *(When(asset_id=loser, then=Value(survivor)) for loser, survivor in sorted(losers.items())),
        output_field=IntegerField(),
    )


def write_joins(connector, decisions, target_to_asset: dict[int, int], *, delivery=None) -> dict[int, int]:
    """Merge every loser of the chunk's joins into its final survivor, with the audit rows. Returns
    loser -> survivor (empty when nothing was joined)."""
    losers = final_survivors(decisions, target_to_asset)
    if not losers:
        return losers
    survivors = sorted(set(losers.values()))
    assets = {
        row["pk"]: row
        for row in Asset.objects.select_for_update()
        .filter(pk__in=sorted({*losers, *survivors}))
        .values("pk", "uuid", "kind", "possible_duplicate", "hostname", "fqdn", "serial_number")
    }
    sources: dict[int, list[int]] = defaultdict(list)
    for source_id, asset_id in SourceRecord.objects.filter(asset_id__in=sorted(losers)).values_list("pk", "asset_id"):
        sources[asset_id].append(source_id)
    SourceRecord.objects.filter(asset_id__in=sorted(losers)).update(asset_id=_by_asset(losers))
    Identifier.objects.filter(asset_id__in=sorted(losers)).update(asset_id=_by_asset(losers))
    Asset.objects.filter(pk__in=sorted(losers)).update(
        merged_into_id=Case(
            *(When(pk=loser, then=Value(survivor)) for loser, survivor in sorted(losers.items())),
            output_field=IntegerField(),
        )
    )
    managed = sorted(
        {survivor for loser, survivor in losers.items() if assets[loser]["kind"] == AssetKind.MANAGED}
        - {pk for pk in survivors if assets[pk]["kind"] == AssetKind.MANAGED}
    )
    if managed:
        Asset.objects.filter(pk__in=managed).update(kind=AssetKind.MANAGED)
    keys = _joining_keys(decisions, target_to_asset, losers)
    AssetEvent.objects.bulk_create(
        _event(survivor, losers, assets, sources, keys, connector, delivery) for survivor in survivors
    )
    return losers


def _joining_keys(decisions, target_to_asset: dict[int, int], losers: dict[int, int]) -> dict[int, list[str]]:
    """Survivor -> the source keys of the records that joined assets into it."""
    keys: dict[int, list[str]] = defaultdict(list)
    for decision in decisions:
        for loser, _ in decision.joins[:1]:
            survivor = losers.get(target_to_asset.get(loser, loser))
            if survivor is not None:
                keys[survivor].append(decision.source_key)
    return keys


def _event(survivor, losers, assets, sources, keys, connector, delivery) -> AssetEvent:
    """The ``merged`` audit row of one survivor: a manual merge's details (what Undo restores) and the records
    and connector that joined them."""
    before = assets[survivor]
    return AssetEvent(
        asset_id=survivor,
        action=AssetAction.MERGED,
        actor=None,
        details={
            "survivor": {
                "id": survivor,
                "uuid": str(before["uuid"]),
                "kind": before["kind"],
                "possible_duplicate": before["possible_duplicate"],
            },
            "merged": [
                {
                    "id": loser,
                    "uuid": str(assets[loser]["uuid"]),
                    "name": assets[loser]["hostname"] or assets[loser]["fqdn"] or assets[loser]["serial_number"],
                    "source_ids": sorted(sources.get(loser, [])),
                }
                for loser in sorted(loser for loser, target in losers.items() if target == survivor)
            ],
            "automatic": True,
            "connector": connector.name,
            "delivery_id": delivery.pk if delivery else None,
            "source_keys": keys.get(survivor, [])[:20],
        },
    )
