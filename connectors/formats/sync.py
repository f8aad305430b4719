"""The full-sync marker a native or mapped body may carry: ``"sync": {"id": "<up to 255 chars>", "final": true}``.

It sits at the top level of the body (for native, next to ``"assets"``/``"deleted"``: a single asset object's own
``sync`` field is an unknown asset field and ignored, as any other). ``final`` is false or absent on the earlier
parts and true on the last one. Other formats (CSAM, NetBox) have no full syncs: their bodies are never read for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .decode import PayloadError
from .values import kind

__all__ = ["MAX_SYNC_ID_LENGTH", "SYNC_FORMATS", "SyncMark", "read_sync"]

MAX_SYNC_ID_LENGTH = 255
#: Payload formats whose bodies may carry the marker.
SYNC_FORMATS = ("native", "mapped")
_SHAPE = 'expected "sync": {"id": "<text>", "final": true or false}'


@dataclass(frozen=True)
class SyncMark:
    """A body's full-sync marker: the sender's sync id, and whether this is the last part."""

    sync_id: str
    final: bool = False


def _is_envelope(data: dict, payload_format: str) -> bool:
    """Whether ``data`` is a body envelope (not one native asset object, whose fields are the asset's)."""
    if payload_format != "native":
        return True
    return "assets" in data or "deleted" in data or "source_key" not in data


def read_sync(data: object, payload_format: str) -> SyncMark | None:
    """The body's marker, ``None`` when it has none (or its format has no full syncs); a :class:`PayloadError`
    (a 400 at intake) when it is there but not of the documented shape."""
    if payload_format not in SYNC_FORMATS or not isinstance(data, dict) or "sync" not in data:
        return None
    if not _is_envelope(data, payload_format):
        return None
    value = data["sync"]
    if not isinstance(value, dict):
        raise PayloadError(f'"sync" must be an object (got {kind(value)}): {_SHAPE}.', field="sync")
    unknown = sorted(str(key) for key in value if key not in ("id", "final"))
    if unknown:
        raise PayloadError(f'"sync" has unknown keys ({", ".join(unknown)}): {_SHAPE}.', field="sync")
    sync_id = value.get("id")
    if not isinstance(sync_id, str):
        raise PayloadError(f'"sync.id" must be a string (got {kind(sync_id)}).', field="sync.id")
    sync_id = sync_id.strip()
    if not sync_id or "\x00" in sync_id:
        raise PayloadError('"sync.id" must not be empty (nor hold a NUL character).', field="sync.id")
    if len(sync_id) > MAX_SYNC_ID_LENGTH:
        raise PayloadError(
            f'"sync.id" must be at most {MAX_SYNC_ID_LENGTH} characters (got {len(sync_id)}).', field="sync.id"
        )
    final = value.get("final", False)
    if final is None:
        final = False
    if not isinstance(final, bool):
        raise PayloadError(f'"sync.final" must be true or false (got {kind(final)}).', field="sync.final")
    return SyncMark(sync_id, final)
