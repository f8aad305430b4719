"""Pure payload parsers: turn a delivery body into :class:`assets.engine.records.ParsedBatch`.

Nothing here imports Django or touches the database; everything is stdlib and safe to call on untrusted input.
The intake view does ``PARSERS[connector.payload_format](decode_json(body))`` and maps :class:`PayloadError`
to a ``400`` problem response, while the per-record :class:`~assets.engine.records.RecordError` list is reported back
next to the accepted records.

Whole-body vs per-record errors
-------------------------------
* :class:`PayloadError` means the body as a whole is unusable: not UTF-8, not JSON, nested too deeply, the
  wrong top-level shape (``assets`` / ``deleted`` / ``assetData`` not an array, ``connectorMetaData`` not an
  object, a bad ``requestId``) or more than :data:`MAX_RECORDS_PER_DELIVERY` entries.
* Anything wrong inside one asset (not an object, missing key, a bad value) becomes exactly one
  ``RecordError`` for that record (the first problem found) and the record is left out; the rest of the batch
  is still parsed. ``RecordError.index`` is the position in the asset array (``0`` for the single-object
  form).

``RecordError.field`` conventions
---------------------------------
* native assets: the path inside the asset, e.g. ``"source_key"``, ``"ip_addresses[2]"``,
  ``"attributes.owner"`` (``""`` when the record itself is not an object);
* native deletions: ``"deleted[<i>]"`` with ``index == i``;
* CSAM: the full path, e.g. ``"assetData[3].identityAttributes.serialNumber"`` (``"assetData[3]"`` when the
  entry itself is not an object).

Value rules (both formats)
--------------------------
* ``source_key``: required; a string (trimmed, 1..255 characters) or an integer (converted to ``str``).
* scalars: strings are trimmed, numbers converted to ``str``, ``null`` means empty; at most 255 characters.
  Booleans, arrays and objects are refused.
* lists (``ip_addresses``, ``mac_addresses``, ``tags``): an array of strings/numbers, or a single
  string/number meaning a one-element list; ``null`` items and empty strings are dropped, exact duplicates
  removed (order kept); each item at most 255 characters; at most 256 items.
* timestamps (``last_seen``, ``updated_at``, CSAM dates): RFC 3339 with a timezone (``Z``/``z`` or an offset;
  ``+0000`` without colon and a space instead of ``T`` are tolerated); converted to UTC. A naive timestamp is
  an error for that record; ``null`` / ``""`` mean absent. ``updated_at`` and ``last_seen`` are kept separate
  (in the native format one never fills in for the other).
* ``attributes``: a JSON object of at most 100 keys (non-empty strings of at most 255 characters) whose values
  are JSON values: a string value at most 4096 characters, finite numbers, and an array/object value at most
  262,144 characters once serialized as compact JSON (room for a CSAM software inventory).
* every string must be valid Unicode (no unpaired surrogate escapes) and contain no NUL character, so whatever
  is accepted can be stored in PostgreSQL and SQLite.

Native format
-------------
``{"assets": [...], "deleted": [...]}`` (either key may be omitted), a single asset object (an object with
``"source_key"`` and no ``"assets"`` key; a ``"deleted"`` key next to it is still read as the deletion list),
or a top-level array of assets. Unknown fields, including ``id``, ``kind``, ``merged_into``, ``asset_id`` or
``retired``, are ignored: records are built from the known field names only. Duplicate source keys are kept.
``MAX_RECORDS_PER_DELIVERY`` applies to assets and deletions together.

CSAM format (Qualys CSAM "Import Third-Party Assets" push)
---------------------------------------------------------
``identityAttributes``: ``sourceNativeKey`` → ``source_key`` (required), ``hostName`` → ``hostname``,
``fqdn``, ``netBiosName`` → ``netbios_name``, ``ipAddress`` → ``ip_addresses``, ``macAddress`` →
``mac_addresses``, ``serialNumber`` → ``serial_number``, ``hardwareUuid`` → ``hardware_uuid``,
``instanceUuid`` → ``cloud_instance_id``.

``coreAttributes``: ``operatingSystem`` → ``os``, ``osVersion`` → ``os_version``, ``manufacturer`` / ``model``
(falling back to ``biosInfo.manufacturer`` / ``biosInfo.model``), ``cloudProvider`` (or ``provider``) →
``cloud_provider``, ``assetType`` (or ``type``) → ``asset_type``, ``tags`` (strings or ``{"name": ...}``
objects) → ``tags``. ``networkInterfaces[].ipAddress`` / ``ipv4Address`` / ``ipv6Address`` and ``.macAddress``
are appended to the identity addresses (deduplicated, order kept). If there is no ``fqdn`` but ``hostName``
and ``coreAttributes.domain`` are present, ``fqdn`` is ``hostName + "." + domain`` (or ``hostName`` itself
when it already ends with the domain).

``sourceLastUpdatedDate`` → ``updated_at``; ``last_seen`` comes from ``lastSeen`` or ``lastScanDate`` (looked
up in ``coreAttributes``, then on the asset entry) and otherwise equals ``sourceLastUpdatedDate``.

``attributes``: the keys of ``coreAttributes.customConnectorAttributes`` are merged at the top level (they are
the integrator's own key/values, like native ``attributes``). Everything else that is not mapped above is kept
under a ``"csam."`` prefix with its original name: ``csam.qualysAssetId`` and other unknown identity keys,
``csam.domain``, ``csam.softwares``, ``csam.networkInterfaces`` (the full list, also kept for interface
names), ``csam.biosInfo`` (its keys other than manufacturer/model), any unknown ``coreAttributes`` key,
``csam.sourceCreatedDate`` and unknown keys of the asset entry. On a name clash a ``csam.*`` key wins over a
custom attribute, and a later source (identity → core → entry) wins over an earlier one. The 100-key limit
applies to the merged result. ``ParsedBatch.request_id`` is ``connectorMetaData.requestId``; ``source`` and
``assetCount`` are not used. The CSAM format has no deletions.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import accumulate

from assets.engine.records import LIST_ATTRIBUTES, SCALAR_ATTRIBUTES, AssetRecord, ParsedBatch, RecordError

__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_JSON_LENGTH",
    "MAX_ATTRIBUTE_STRING_LENGTH",
    "MAX_LIST_ITEMS",
    "MAX_RECORDS_PER_DELIVERY",
    "MAX_STRING_LENGTH",
    "PARSERS",
    "PayloadError",
    "csam_connector_uuid",
    "decode_json",
    "parse_csam",
    "parse_native",
]

#: More assets (plus deletions) than this in one body → :class:`PayloadError`.
MAX_RECORDS_PER_DELIVERY = 100_000
#: Longest source key, scalar value or list item.
MAX_STRING_LENGTH = 255
#: Most items in one list attribute (IP addresses, MAC addresses, tags).
MAX_LIST_ITEMS = 256
#: Most keys in a record's ``attributes``.
MAX_ATTRIBUTES = 100
#: Longest string value of an attribute (strings nested in arrays/objects count towards the JSON size).
MAX_ATTRIBUTE_STRING_LENGTH = 4096
#: Largest array/object attribute value, in characters of compact JSON.
MAX_ATTRIBUTE_JSON_LENGTH = 262_144

_MISSING = object()
# Depth scan (see _nesting_depth): escape pairs, then strings of the reduced quote/bracket skeleton.
_ESCAPE_RE = re.compile(rb"\\.", re.DOTALL)
_SKELETON_STRING_RE = re.compile(rb'"[^"]*+(?:"|\Z)')
_NOT_STRUCTURAL = bytes(byte for byte in range(256) if byte not in b'"[]{}')
_DEPTH_DELTA = [0] * 256
for _byte in b"[{":
    _DEPTH_DELTA[_byte] = 1
for _byte in b"]}":
    _DEPTH_DELTA[_byte] = -1
del _byte
_RFC3339_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:?\d{2})",
    re.ASCII,
)
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_INT_LIMIT = 10**MAX_STRING_LENGTH  # an int this large has more than 255 digits
_HUGE_INT = 10**1000  # attribute numbers beyond this are refused (far inside Python's int/str conversion limit)

_TIMESTAMP_MESSAGE = 'is not an RFC 3339 timestamp with a timezone (for example "2026-11-28T09:15:00Z")'
_STRING_MESSAGE = f"must be a string of at most {MAX_STRING_LENGTH} characters"
_KEY_MESSAGE = f"must be a non-empty string of at most {MAX_STRING_LENGTH} characters"


class PayloadError(ValueError):
    """The whole body is unusable: ``message`` is a sentence for the integrator, ``field`` the culprit."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class _FieldError(Exception):
    """One record's problem; turned into a RecordError by the batch loop (never escapes this module)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message


def _kind(value: object) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _join(prefix: str, field: str) -> str:
    return f"{prefix}.{field}" if field else prefix


# ----------------------------------------------------------------------------------------------------------
# Body decoding
# ----------------------------------------------------------------------------------------------------------


def _nesting_depth(raw: bytes, max_depth: int) -> int:
    """Deepest array/object nesting of a UTF-8 JSON text, brackets inside strings excluded.

    No recursion and only C-speed loops (UTF-8 continuation bytes never look like ASCII, so bytes are safe):
    drop escape pairs, keep only quotes and brackets, drop ``""`` pairs (an empty or bracket-free string, or the
    boundary between two strings; either way the parity of the remaining quotes is unchanged), strip what is
    left inside quotes, then take the running maximum. Returns a cheap upper bound when there are not even
    ``max_depth`` opening brackets.
    """
    openings = raw.count(b"[") + raw.count(b"{")
    if openings <= max_depth:
        return openings
    if b"\\" in raw:
        raw = _ESCAPE_RE.sub(b"", raw)
    skeleton = raw.translate(None, _NOT_STRUCTURAL).replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = _SKELETON_STRING_RE.sub(b"", skeleton)
    return max(accumulate(map(_DEPTH_DELTA.__getitem__, skeleton), initial=0))


def _reject_constant(name: str) -> object:
    raise PayloadError(f"The body is not valid JSON: {name} is not a JSON number.")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise PayloadError(f"The body is not valid JSON: the number {text[:40]} is out of range.")
    return value


def decode_json(body: bytes, *, max_depth: int = 64) -> object:
    """Decode a delivery body: strict UTF-8 (a leading BOM is dropped), then JSON.

    Raises :class:`PayloadError` for invalid UTF-8, an empty body, invalid JSON (with line and column), the
    non-standard constants ``NaN`` / ``Infinity``, numbers out of range and arrays/objects nested deeper than
    ``max_depth`` (checked before parsing, without recursion).
    """
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    try:
        text = raw.decode("utf-8-sig")  # strict UTF-8; drops one leading BOM
    except UnicodeDecodeError as exc:
        raise PayloadError(
            f"The body is not valid UTF-8 (invalid byte at offset {exc.start}); send UTF-8 encoded JSON."
        ) from None
    if not text.strip():
        raise PayloadError("The body is empty; expected a JSON document.")
    too_deep = f"The JSON document is nested too deeply (more than {max_depth} levels of arrays and objects)."
    if _nesting_depth(raw, max_depth) > max_depth:
        raise PayloadError(too_deep)
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float)
    except PayloadError:
        raise
    except json.JSONDecodeError as exc:
        raise PayloadError(f"The body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
    except RecursionError:
        raise PayloadError(too_deep) from None
    except ValueError:  # e.g. an integer beyond Python's digit limit
        raise PayloadError("The body is not valid JSON: it contains a number with too many digits.") from None


# ----------------------------------------------------------------------------------------------------------
# Value helpers (raise _FieldError)
# ----------------------------------------------------------------------------------------------------------


def _check_string(s: str, field: str) -> None:
    if "\x00" in s:
        raise _FieldError(field, "must not contain NUL characters")
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise _FieldError(field, "contains an unpaired UTF-16 surrogate, which is not valid Unicode") from None


def _source_key(value: object, field: str) -> str:
    if type(value) is str:
        key = value.strip()
    elif value is None:
        raise _FieldError(field, "is required")
    elif isinstance(value, str):
        key = str(value).strip()
    elif isinstance(value, int) and not isinstance(value, bool):
        if abs(value) >= _INT_LIMIT:
            raise _FieldError(field, _KEY_MESSAGE)
        key = str(int(value))
    else:
        raise _FieldError(field, f"{_KEY_MESSAGE} (got {_kind(value)})")
    if not key:
        raise _FieldError(field, "is required")
    if len(key) > MAX_STRING_LENGTH:
        raise _FieldError(field, _KEY_MESSAGE)
    _check_string(key, field)
    return key


def _text(value: object, field: str) -> str:
    """A scalar attribute: trimmed string, numbers converted, ``None`` → ``""``."""
    if type(value) is str:
        s = value.strip()
    elif value is None:
        return ""
    elif isinstance(value, bool):
        raise _FieldError(field, f"{_STRING_MESSAGE} (got a boolean)")
    elif isinstance(value, int):
        if abs(value) >= _INT_LIMIT:
            raise _FieldError(field, _STRING_MESSAGE)
        return str(int(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _FieldError(field, "must be a finite number or a string")
        return repr(float(value))
    elif isinstance(value, str):
        s = str(value).strip()
    else:
        raise _FieldError(field, f"{_STRING_MESSAGE} (got {_kind(value)})")
    if len(s) > MAX_STRING_LENGTH:
        raise _FieldError(field, _STRING_MESSAGE)
    _check_string(s, field)
    return s


def _text_list(value: object, field: str) -> tuple[str, ...]:
    """A list attribute: array of strings/numbers, or one string/number; deduplicated, order kept."""
    if value is None:
        return ()
    if isinstance(value, list):
        if len(value) > MAX_LIST_ITEMS:
            raise _FieldError(field, f"must be an array of at most {MAX_LIST_ITEMS} strings")
        seen: dict[str, None] = {}
        for position, item in enumerate(value):
            if type(item) is str and len(item) <= MAX_STRING_LENGTH and item.isascii() and "\x00" not in item:
                s = item.strip()  # fast path for the common case
            elif item is None:
                continue
            else:
                try:
                    s = _text(item, field)
                except _FieldError as exc:
                    raise _FieldError(f"{field}[{position}]", exc.message) from None
            if s:
                seen[s] = None
        return tuple(seen)
    if isinstance(value, dict):
        raise _FieldError(field, f"must be an array of strings (got {_kind(value)})")
    s = _text(value, field)
    return (s,) if s else ()


def _timestamp(value: object, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _FieldError(field, f"{_TIMESTAMP_MESSAGE} (got {_kind(value)})")
    s = value.strip()
    if not s:
        return None
    if _RFC3339_RE.fullmatch(s) is None:
        raise _FieldError(field, _TIMESTAMP_MESSAGE)
    try:
        return datetime.fromisoformat(s.upper()).astimezone(UTC)
    except (ValueError, OverflowError):
        raise _FieldError(field, f"{_TIMESTAMP_MESSAGE}: the date or time is out of range") from None


def _check_json_value(value: object, field: str) -> None:
    """Refuse anything that is not a plain, bounded JSON value (arrays/objects are checked by the C encoder)."""
    if isinstance(value, str):
        if len(value) > MAX_ATTRIBUTE_STRING_LENGTH:
            raise _FieldError(field, f"must be at most {MAX_ATTRIBUTE_STRING_LENGTH} characters")
        _check_string(value, field)
    elif value is None or isinstance(value, bool):
        return
    elif isinstance(value, list | dict):
        try:
            dumped = _ENCODER.encode(value)
        except RecursionError:
            raise _FieldError(field, "is nested too deeply") from None
        except (TypeError, ValueError):
            raise _FieldError(
                field, "must contain only JSON values (strings, finite numbers, booleans, null, arrays, objects)"
            ) from None
        if len(dumped) > MAX_ATTRIBUTE_JSON_LENGTH:
            raise _FieldError(field, f"is too large (more than {MAX_ATTRIBUTE_JSON_LENGTH} characters as JSON)")
        if "\\u0000" in dumped and _contains_nul(value):
            raise _FieldError(field, "must not contain NUL characters")
        if not dumped.isascii():
            try:
                dumped.encode("utf-8")
            except UnicodeEncodeError:
                raise _FieldError(field, "contains an unpaired UTF-16 surrogate, which is not valid Unicode") from None
    else:
        _check_json_scalar(value, field)


def _contains_nul(value: object) -> bool:
    """Whether a string (or object key) anywhere inside an already-serializable value holds a NUL character."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            if "\x00" in current:
                return True
        elif isinstance(current, dict):
            stack.extend(current)
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return False


def _check_json_scalar(value: object, field: str) -> None:
    if isinstance(value, int):
        if abs(value) >= _HUGE_INT:
            raise _FieldError(field, "contains a number that is too large")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _FieldError(field, "contains a number that is not finite")
    else:
        raise _FieldError(field, f"must be a JSON value (got {_kind(value)})")


def _merge_attributes(value: object, field: str, into: dict) -> None:
    """Validate a free key/value object and copy its entries into ``into`` (values are shared, not copied)."""
    if not isinstance(value, dict):
        raise _FieldError(field, f"must be a JSON object (got {_kind(value)})")
    if len(value) > MAX_ATTRIBUTES:
        raise _FieldError(field, f"must have at most {MAX_ATTRIBUTES} keys")
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > MAX_STRING_LENGTH:
            raise _FieldError(field, f"keys must be non-empty strings of at most {MAX_STRING_LENGTH} characters")
        _check_string(key, field)
        if not (
            (type(item) is str and len(item) <= MAX_ATTRIBUTE_STRING_LENGTH and item.isascii() and "\x00" not in item)
            or item is None
            or type(item) is bool
        ):
            _check_json_value(item, f"{field}.{key}")
        into[key] = item


def _deleted_keys(value: list, batch: ParsedBatch) -> None:
    for index, item in enumerate(value):
        try:
            batch.deleted.append(_source_key(item, "deleted"))
        except _FieldError as exc:
            batch.errors.append(RecordError(index, f"deleted[{index}]", exc.message))


def _check_count(count: int) -> None:
    if count > MAX_RECORDS_PER_DELIVERY:
        raise PayloadError(
            f"The delivery holds {count} entries; at most {MAX_RECORDS_PER_DELIVERY} are accepted in one "
            "body. Split it into several deliveries."
        )


# ----------------------------------------------------------------------------------------------------------
# Native format
# ----------------------------------------------------------------------------------------------------------

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
            values[name] = _text(value, name)
    for name in LIST_ATTRIBUTES:
        value = get(name)
        if value is not None:
            values[name] = _text_list(value, name)
    attributes: dict = {}
    value = get("attributes")
    if value is not None:
        _merge_attributes(value, "attributes", attributes)
    return AssetRecord(
        source_key=key,
        attributes=attributes,
        updated_at=_timestamp(get("updated_at"), "updated_at"),
        last_seen=_timestamp(get("last_seen"), "last_seen"),
        **values,
    )


def parse_native(data: object) -> ParsedBatch:
    """Parse a decoded native-format body (see the module docstring)."""
    deleted: object = _MISSING
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict):
        if "assets" in data:
            items = data["assets"]
            if not isinstance(items, list):
                raise PayloadError(f'"assets" must be an array of asset objects (got {_kind(items)}).', field="assets")
        elif "source_key" in data:
            items = [data]
        elif "deleted" in data:
            items = []
        else:
            raise PayloadError(f"The body has no assets: {_NATIVE_SHAPE}.")
        deleted = data.get("deleted", _MISSING)
        if deleted is not _MISSING and not isinstance(deleted, list):
            raise PayloadError(
                f'"deleted" must be an array of source_key strings (got {_kind(deleted)}).', field="deleted"
            )
    else:
        raise PayloadError(f"The body is {_kind(data)}: {_NATIVE_SHAPE}.")

    _check_count(len(items) + (len(deleted) if isinstance(deleted, list) else 0))
    batch = ParsedBatch()
    records = batch.records
    errors = batch.errors
    for index, item in enumerate(items):
        key = ""
        try:
            if not isinstance(item, dict):
                raise _FieldError("", f"each asset must be a JSON object (got {_kind(item)})")
            key = _source_key(item.get("source_key"), "source_key")
            records.append(_native_record(item, key))
        except _FieldError as exc:
            errors.append(RecordError(index, exc.field, exc.message, key))
    if isinstance(deleted, list):
        _deleted_keys(deleted, batch)
    return batch


# ----------------------------------------------------------------------------------------------------------
# CSAM format
# ----------------------------------------------------------------------------------------------------------

_IDENTITY_SCALARS = {
    "hostName": "hostname",
    "fqdn": "fqdn",
    "netBiosName": "netbios_name",
    "serialNumber": "serial_number",
    "hardwareUuid": "hardware_uuid",
    "instanceUuid": "cloud_instance_id",
}
_CORE_SCALARS = {
    "operatingSystem": "os",
    "osVersion": "os_version",
    "manufacturer": "manufacturer",
    "model": "model",
    "cloudProvider": "cloud_provider",
    "assetType": "asset_type",
}
#: Used only when the preferred field above is missing or empty.
_CORE_FALLBACKS = {"provider": "cloud_provider", "type": "asset_type"}
_BIOS_FALLBACKS = {"manufacturer": "manufacturer", "model": "model"}
_CORE_SKIPPED = frozenset({"customConnectorAttributes", "lastSeen", "lastScanDate"})
_ENTRY_MAPPED = frozenset({"identityAttributes", "coreAttributes", "sourceLastUpdatedDate", "lastSeen", "lastScanDate"})
_NIC_IP_KEYS = ("ipAddress", "ipv4Address", "ipv6Address")
_CSAM_SHAPE = 'expected an object with "connectorMetaData" and an "assetData" array'


def _csam_meta(data: dict) -> dict:
    meta = data.get("connectorMetaData")
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise PayloadError(f'"connectorMetaData" must be a JSON object (got {_kind(meta)}).', field="connectorMetaData")
    return meta


def _merge_unique(values: list[str], field: str, what: str) -> tuple[str, ...]:
    merged = tuple(dict.fromkeys(values))
    if len(merged) > MAX_LIST_ITEMS:
        raise _FieldError(field, f"adds up to more than {MAX_LIST_ITEMS} {what}")
    return merged


def _csam_tags(value: object) -> tuple[str, ...]:
    field = "coreAttributes.tags"
    if value is None:
        return ()
    if not isinstance(value, list):
        return _text_list(value, field)
    if len(value) > MAX_LIST_ITEMS:
        raise _FieldError(field, f"must be an array of at most {MAX_LIST_ITEMS} tags")
    tags: dict[str, None] = {}
    for position, item in enumerate(value):
        if isinstance(item, dict):
            item_field = f"{field}[{position}].name"
            item = item.get("name")
            if item is None:
                raise _FieldError(item_field, "is required")
        else:
            item_field = f"{field}[{position}]"
            if isinstance(item, list):
                raise _FieldError(item_field, 'must be a string or an object with a "name" string')
        tag = _text(item, item_field)
        if tag:
            tags[tag] = None
    return tuple(tags)


def _csam_record(item: dict, identity: dict, key: str) -> AssetRecord:
    core = item.get("coreAttributes")
    if core is None:
        core = {}
    elif not isinstance(core, dict):
        raise _FieldError("coreAttributes", f"must be a JSON object (got {_kind(core)})")
    values: dict[str, object] = {}
    attributes: dict = {}
    custom = core.get("customConnectorAttributes")
    if custom is not None:
        _merge_attributes(custom, "coreAttributes.customConnectorAttributes", attributes)

    ida = "identityAttributes."
    ip_addresses: tuple[str, ...] = ()
    mac_addresses: tuple[str, ...] = ()
    for name, value in identity.items():
        target = _IDENTITY_SCALARS.get(name)
        if target is not None:
            if type(value) is str and len(value) <= MAX_STRING_LENGTH and value.isascii() and "\x00" not in value:
                values[target] = value.strip()  # fast path for the common case
            elif value is not None:
                values[target] = _text(value, ida + name)
        elif name == "ipAddress":
            ip_addresses = _text_list(value, ida + name)
        elif name == "macAddress":
            mac_addresses = _text_list(value, ida + name)
        elif name != "sourceNativeKey":
            _check_json_value(value, f"{ida}{name}")
            attributes[f"csam.{name}"] = value

    ca = "coreAttributes."
    fallbacks: dict[str, str] = {}
    bios: object = None
    nics: object = None
    tags: tuple[str, ...] = ()
    domain = ""
    for name, value in core.items():
        target = _CORE_SCALARS.get(name)
        if target is not None:
            if type(value) is str and len(value) <= MAX_STRING_LENGTH and value.isascii() and "\x00" not in value:
                values[target] = value.strip()
            elif value is not None:
                values[target] = _text(value, ca + name)
        elif name in _CORE_FALLBACKS:
            fallbacks[_CORE_FALLBACKS[name]] = _text(value, ca + name)
        elif name == "biosInfo":
            bios = value
        elif name == "networkInterfaces":
            nics = value
        elif name == "tags":
            tags = _csam_tags(value)
        elif name == "domain":
            domain = _text(value, ca + name)
        elif name not in _CORE_SKIPPED:
            _check_json_value(value, f"{ca}{name}")
            attributes[f"csam.{name}"] = value

    if bios is not None:
        if not isinstance(bios, dict):
            raise _FieldError(ca + "biosInfo", f"must be a JSON object (got {_kind(bios)})")
        rest = {}
        for name, value in bios.items():
            target = _BIOS_FALLBACKS.get(name)
            if target is not None:
                fallbacks[target] = _text(value, f"{ca}biosInfo.{name}")
            else:
                rest[name] = value
        if rest:
            _check_json_value(rest, ca + "biosInfo")
            attributes["csam.biosInfo"] = rest
    for target, value in fallbacks.items():
        if value and not values.get(target):
            values[target] = value

    if nics is not None:
        nic_field = ca + "networkInterfaces"
        if not isinstance(nics, list):
            raise _FieldError(nic_field, f"must be an array of objects (got {_kind(nics)})")
        ips = list(ip_addresses)
        macs = list(mac_addresses)
        for position, nic in enumerate(nics):
            if not isinstance(nic, dict):
                raise _FieldError(f"{nic_field}[{position}]", f"must be a JSON object (got {_kind(nic)})")
            for name in _NIC_IP_KEYS:
                value = nic.get(name)
                if value is not None:
                    ips.extend(_text_list(value, f"{nic_field}[{position}].{name}"))
            value = nic.get("macAddress")
            if value is not None:
                macs.extend(_text_list(value, f"{nic_field}[{position}].macAddress"))
        _check_json_value(nics, nic_field)
        attributes["csam.networkInterfaces"] = nics
        ip_addresses = _merge_unique(ips, nic_field, "IP addresses")
        mac_addresses = _merge_unique(macs, nic_field, "MAC addresses")

    if domain:
        attributes["csam.domain"] = domain
        hostname = values.get("hostname")
        bare = domain.strip(".")
        if hostname and bare and not values.get("fqdn"):
            if hostname.lower().endswith("." + bare.lower()):
                values["fqdn"] = hostname
            elif len(hostname) + 1 + len(bare) <= MAX_STRING_LENGTH:
                values["fqdn"] = f"{hostname}.{bare}"

    updated_at = _timestamp(item.get("sourceLastUpdatedDate"), "sourceLastUpdatedDate")
    last_seen = None
    for source, prefix in ((core, ca), (item, "")):
        for name in ("lastSeen", "lastScanDate"):
            last_seen = _timestamp(source.get(name), prefix + name)
            if last_seen is not None:
                break
        if last_seen is not None:
            break
    if last_seen is None:
        last_seen = updated_at
    for name, value in item.items():
        if name not in _ENTRY_MAPPED:
            _check_json_value(value, str(name))
            attributes[f"csam.{name}"] = value

    if len(attributes) > MAX_ATTRIBUTES:
        raise _FieldError(
            "",
            f"has more than {MAX_ATTRIBUTES} attributes once customConnectorAttributes and the unmapped "
            "fields are merged",
        )
    return AssetRecord(
        source_key=key,
        ip_addresses=ip_addresses,
        mac_addresses=mac_addresses,
        tags=tags,
        attributes=attributes,
        updated_at=updated_at,
        last_seen=last_seen,
        **values,
    )


def parse_csam(data: object) -> ParsedBatch:
    """Parse a decoded Qualys CSAM connector push (see the module docstring)."""
    if not isinstance(data, dict):
        raise PayloadError(f"The body is {_kind(data)}: {_CSAM_SHAPE}.")
    meta = _csam_meta(data)
    request_id = meta.get("requestId")
    if request_id is None:
        request_id = ""
    else:
        try:
            request_id = _text(request_id, "connectorMetaData.requestId")
        except _FieldError as exc:
            raise PayloadError(f'"connectorMetaData.requestId" {exc.message}.', field=exc.field) from None
    if "assetData" not in data:
        raise PayloadError(f'The body has no "assetData": {_CSAM_SHAPE}.', field="assetData")
    asset_data = data["assetData"]
    if not isinstance(asset_data, list):
        raise PayloadError(
            f'"assetData" must be an array of asset objects (got {_kind(asset_data)}).', field="assetData"
        )
    _check_count(len(asset_data))

    batch = ParsedBatch(request_id=request_id)
    records = batch.records
    errors = batch.errors
    for index, item in enumerate(asset_data):
        key = ""
        try:
            if not isinstance(item, dict):
                raise _FieldError("", f"must be a JSON object (got {_kind(item)})")
            identity = item.get("identityAttributes")
            if identity is None:
                raise _FieldError("identityAttributes.sourceNativeKey", "is required")
            if not isinstance(identity, dict):
                raise _FieldError("identityAttributes", f"must be a JSON object (got {_kind(identity)})")
            key = _source_key(identity.get("sourceNativeKey"), "identityAttributes.sourceNativeKey")
            records.append(_csam_record(item, identity, key))
        except _FieldError as exc:
            errors.append(RecordError(index, _join(f"assetData[{index}]", exc.field), exc.message, key))
    return batch


def csam_connector_uuid(data: object) -> str | None:
    """``connectorMetaData.connectorUuid`` if it is a string (not validated further), else ``None``."""
    if not isinstance(data, dict):
        return None
    meta = data.get("connectorMetaData")
    if not isinstance(meta, dict):
        return None
    value = meta.get("connectorUuid")
    return value if isinstance(value, str) else None


PARSERS: dict[str, Callable[[object], ParsedBatch]] = {"native": parse_native, "csam": parse_csam}
