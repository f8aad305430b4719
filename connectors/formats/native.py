"""The native payload format: this product's own JSON, field names as in :class:`~assets.engine.records.AssetRecord`.

``{"assets": [...], "deleted": [...]}`` (either key may be omitted; a full sync's ``"sync"`` marker, read by
:mod:`.sync`, may stand alone for an empty part), a single asset object (an object with
``"source_key"`` and no ``"assets"`` key; a ``"deleted"`` key next to it is still read as the deletion list),
or a top-level array of assets. Unknown fields, including ``id``, ``kind``, ``merged_into``, ``asset_id`` or
``retired``, are ignored: records are built from the known field names only. Duplicate source keys are kept.
``MAX_RECORDS_PER_DELIVERY`` applies to assets and deletions together. ``updated_at`` and ``last_seen`` are kept
separate (one never fills in for the other).

``RecordError.field`` is the path inside the asset, e.g. ``"source_key"``, ``"ip_addresses[2]"``,
``"attributes.owner"`` (``""`` when the record itself is not an object); for deletions it is ``"deleted[<i>]"``
with ``index == i``. ``RecordError.index`` is the position in the asset array (``0`` for the single-object form).
"""

from __future__ import annotations

from assets.engine.records import LIST_ATTRIBUTES, SCALAR_ATTRIBUTES, AssetRecord, ParsedBatch, RecordError

from .decode import PayloadError, check_record_count
from .values import MAX_STRING_LENGTH, FieldError, kind, merge_attributes, source_key, text, text_list, timestamp

__all__ = ["parse_native", "read_asset", "read_deletions"]

_MISSING = object()
_NATIVE_SHAPE = (
    'expected an object with an "assets" array (and/or a "deleted" array), a single asset object with '
    '"source_key", or an array of asset objects'
)


def _native_record(item: dict, key: str) -> AssetRecord:
    get = item.get
    values: dict[str, object] = {}
    for name in SCALAR_ATTRIBUTES:
        value = get(name)
        if value is None:
            continue
        if type(value) is str and len(value) <= MAX_STRING_LENGTH and value.isascii() and "\x00" not in value:
            values[name] = value.strip()  # fast path for the common case
        else:
            values[name] = text(value, name)
    for name in LIST_ATTRIBUTES:
        value = get(name)
        if value is not None:
            values[name] = text_list(value, name)
    attributes: dict = {}
    value = get("attributes")
    if value is not None:
        merge_attributes(value, "attributes", attributes)
    return AssetRecord(
        source_key=key,
        attributes=attributes,
        updated_at=timestamp(get("updated_at"), "updated_at"),
        last_seen=timestamp(get("last_seen"), "last_seen"),
        **values,
    )


def _assets_and_deletions(data: object) -> tuple[list, list | None]:
    """The asset array and the deletion list (``None`` when absent) of any of the accepted shapes."""
    if isinstance(data, list):
        return data, None
    if not isinstance(data, dict):
        raise PayloadError(f"The body is {kind(data)}: {_NATIVE_SHAPE}.")
    if "assets" in data:
        items = data["assets"]
        if not isinstance(items, list):
            raise PayloadError(f'"assets" must be an array of asset objects (got {kind(items)}).', field="assets")
    elif "source_key" in data:
        items = [data]
    elif "deleted" in data or "sync" in data:
        items = []  # only deletions, or an empty part of a full sync
    else:
        raise PayloadError(f"The body has no assets: {_NATIVE_SHAPE}.")
    deleted = data.get("deleted", _MISSING)
    if deleted is _MISSING:
        return items, None
    if not isinstance(deleted, list):
        raise PayloadError(f'"deleted" must be an array of source_key strings (got {kind(deleted)}).', field="deleted")
    return items, deleted


def read_deletions(value: list, batch: ParsedBatch) -> None:
    """Clean a deletion list into ``batch.deleted``; each bad key becomes a ``RecordError`` for ``deleted[<i>]``."""
    for index, item in enumerate(value):
        try:
            batch.deleted.append(source_key(item, "deleted"))
        except FieldError as exc:
            batch.errors.append(RecordError(index, f"deleted[{index}]", exc.message))


def read_asset(index: int, item: object, batch: ParsedBatch) -> None:
    """Clean one asset object (native field names) into ``batch.records``, or its first problem into
    ``batch.errors`` at ``index``. Other formats that build native-shaped objects (mapped) reuse it."""
    key = ""
    try:
        if not isinstance(item, dict):
            raise FieldError("", f"each asset must be a JSON object (got {kind(item)})")
        key = source_key(item.get("source_key"), "source_key")
        batch.add(index, _native_record(item, key))
    except FieldError as exc:
        batch.errors.append(RecordError(index, exc.field, exc.message, key))


def parse_native(data: object) -> ParsedBatch:
    """Parse a decoded native-format body (see the module docstring)."""
    items, deleted = _assets_and_deletions(data)
    check_record_count(len(items) + (len(deleted) if deleted is not None else 0))
    batch = ParsedBatch()
    for index, item in enumerate(items):
        read_asset(index, item, batch)
    if deleted is not None:
        read_deletions(deleted, batch)
    return batch
