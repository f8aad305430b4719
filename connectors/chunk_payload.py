"""What a chunk carries, packed once by the worker that splits a delivery (connectors.chunks).

A chunk holds its own records, already parsed and checked, as compact JSON; the worker that takes it unpacks only
those instead of parsing the whole body and grouping every record again (for 50,000 records that was seconds of
one core per worker, before its first chunk). Chunk 0 also carries what finalizing the delivery needs from the
parse: the parse errors, the deleted keys, the value warnings and, for a part of a full sync, the source keys it
reported. Only ``json`` and the engine's record types: the round trip is exact (``unpack_records(pack_records(r))
== r``, timestamps with their offset, warnings included).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime

from assets.engine.records import AssetRecord, ParsedBatch, ValueWarning

from .syncs import reported_keys
from .value_checks import error_dicts, warning_dicts

_STRINGS = ("source_key", *(item.name for item in fields(AssetRecord) if item.default == ""))
_LISTS = ("ip_addresses", "mac_addresses", "tags")
_DATES = ("updated_at", "last_seen")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def _packed(record: AssetRecord) -> dict:
    item: dict = {name: value for name in _STRINGS if (value := getattr(record, name))}
    for name in _LISTS:
        if values := getattr(record, name):
            item[name] = values
    for name in _DATES:
        if (moment := getattr(record, name)) is not None:
            item[name] = moment.isoformat()
    if record.attributes:
        item["attributes"] = record.attributes
    if record.warnings:
        item["warnings"] = [
            (warning.index, warning.source_key, warning.field, warning.value, warning.message)
            for warning in record.warnings
        ]
    return item


def pack_records(records: list[AssetRecord]) -> bytes:
    """The records as compact JSON (only the fields a record sets)."""
    return _ENCODER.encode([_packed(record) for record in records]).encode()


def _unpacked(item: dict) -> AssetRecord:
    for name in _LISTS:
        if name in item:
            item[name] = tuple(item[name])
    for name in _DATES:
        if name in item:
            item[name] = datetime.fromisoformat(item[name])
    if "warnings" in item:
        item["warnings"] = tuple(ValueWarning(*warning) for warning in item["warnings"])
    return AssetRecord(**item)


def unpack_records(data: bytes) -> list[AssetRecord]:
    return [_unpacked(item) for item in json.loads(bytes(data) or b"[]")]


@dataclass
class BatchRest:
    """What finalizing a chunked delivery needs from its parse, besides the chunks' own outcomes."""

    errors: list[dict]
    deleted: list[str]
    warnings: list[dict]
    #: The source keys the delivery reported (records and records with errors); kept only for a full sync's part.
    reported: list[str]


def pack_rest(batch: ParsedBatch, *, with_keys: bool) -> bytes:
    return _ENCODER.encode(
        {
            "errors": error_dicts(batch.errors),
            "deleted": batch.deleted,
            "warnings": warning_dicts(batch),
            "reported": sorted(reported_keys(batch)) if with_keys else [],
        }
    ).encode()


def unpack_rest(data: bytes) -> BatchRest:
    return BatchRest(**json.loads(bytes(data)))
