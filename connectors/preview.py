"""The rules page's preview: which rule would decide one pasted record, and why, without writing anything.

It parses the record with the native format, then asks the assets app's public functions (the index loader, the
connector's engine configuration and the pure engine) for the decision a delivery would get, with the rules as
saved. The connectors app depends on the assets app, never the other way round.
"""

from __future__ import annotations

from assets import engine
from assets.models import Asset
from assets.services import engine_config, load_index

from .formats import PayloadError, parse_native
from .models import Connector


def _asset_link(asset: Asset) -> dict:
    return {"uuid": str(asset.uuid), "name": asset.display_name, "url": asset.get_absolute_url()}


def preview_identification(connector: Connector, data: object) -> dict:
    """Which rule would decide one record (native format, as a parsed JSON object) and why; writes nothing."""
    try:
        batch = parse_native(data)
    except PayloadError as exc:
        return {"errors": [str(exc)]}
    if batch.errors:
        return {"errors": [f"{error.field}: {error.message}" for error in batch.errors]}
    if len(batch.records) != 1:
        return {"errors": ["Paste exactly one asset record (a JSON object with a source_key)."]}
    normalized = [engine.normalize_record(batch.records[0])]
    decision = engine.identify_records(batch.records, load_index(connector, normalized), engine_config(connector))[0]
    ids = set(decision.candidates) | ({decision.asset_id} if decision.asset_id else set())
    assets = {asset.pk: asset for asset in Asset.objects.filter(pk__in=ids)}
    reasons = list(decision.reasons)
    if not connector.csam_enabled:
        reasons.append("CSAM module off: this connector's deliveries do not change the inventory")
    return {
        "outcome": decision.outcome.value,
        "rule": decision.rule.name if decision.rule else None,
        "reasons": reasons,
        "compared": decision.compared,
        "candidates": [_asset_link(assets[pk]) for pk in decision.candidates if pk in assets],
        "asset": _asset_link(a) if (a := assets.get(decision.asset_id)) else None,
        "identifiers": {kind: list(values) for kind, values in decision.normalized.identifiers.items() if values},
        "ignored": list(decision.normalized.ignored),
        "errors": [],
    }
