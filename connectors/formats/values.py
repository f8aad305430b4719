"""Cleaning one value of one record, shared by every payload format.

Each function takes the raw decoded JSON value and the ``field`` path to blame, and either returns the clean value
or raises :class:`FieldError`. A format's batch loop turns that into exactly one ``RecordError`` for the record
(the first problem found) and leaves the record out; the rest of the batch is still parsed.

Rules
-----
* ``source_key``: required; a string (trimmed, 1..255 characters) or an integer (converted to ``str``).
* scalars: strings are trimmed, numbers converted to ``str``, ``null`` means empty; at most 255 characters.
  Booleans, arrays and objects are refused.
* lists (``ip_addresses``, ``mac_addresses``, ``tags``): an array of strings/numbers, or a single
  string/number meaning a one-element list; ``null`` items and empty strings are dropped, exact duplicates
  removed (order kept); each item at most 255 characters; at most 256 items.
* timestamps: RFC 3339 with a timezone (``Z``/``z`` or an offset; ``+0000`` without colon and a space instead
  of ``T`` are tolerated); converted to UTC. A naive timestamp is an error for that record; ``null`` / ``""``
  mean absent.
* ``attributes``: a JSON object of at most 100 keys (non-empty strings of at most 255 characters) whose values
  are JSON values: a string value at most 4096 characters, finite numbers, and an array/object value at most
  262,144 characters once serialized as compact JSON (room for a CSAM software inventory).
* every string must be valid Unicode (no unpaired surrogate escapes) and contain no NUL character, so whatever
  is accepted can be stored in PostgreSQL and SQLite.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime

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


class FieldError(Exception):
    """One record's problem; each format's batch loop turns it into a RecordError (it never leaves the package)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message


def kind(value: object) -> str:
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


def put_scalar(values: dict[str, object], target: str, value: object, field: str) -> None:
    """``values[target]`` = the cleaned scalar (see :func:`text`); a ``null`` value leaves it unset."""
    if type(value) is str and len(value) <= MAX_STRING_LENGTH and value.isascii() and "\x00" not in value:
        values[target] = value.strip()  # fast path for the common case
    elif value is not None:
        values[target] = text(value, field)


def merge_unique(values: list[str], field: str, what: str) -> tuple[str, ...]:
    """Several lists of one attribute joined: duplicates removed, order kept, still at most MAX_LIST_ITEMS."""
    merged = tuple(dict.fromkeys(values))
    if len(merged) > MAX_LIST_ITEMS:
        raise FieldError(field, f"adds up to more than {MAX_LIST_ITEMS} {what}")
    return merged


def check_string(s: str, field: str) -> None:
    """Refuse NUL characters and unpaired surrogates, which neither database can store."""
    if "\x00" in s:
        raise FieldError(field, "must not contain NUL characters")
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise FieldError(field, "contains an unpaired UTF-16 surrogate, which is not valid Unicode") from None


def source_key(value: object, field: str) -> str:
    """A record's required key: a trimmed non-empty string, or an integer as text."""
    if type(value) is str:
        key = value.strip()
    elif value is None:
        raise FieldError(field, "is required")
    elif isinstance(value, str):
        key = str(value).strip()
    elif isinstance(value, int) and not isinstance(value, bool):
        if abs(value) >= _INT_LIMIT:
            raise FieldError(field, _KEY_MESSAGE)
        key = str(int(value))
    else:
        raise FieldError(field, f"{_KEY_MESSAGE} (got {kind(value)})")
    if not key:
        raise FieldError(field, "is required")
    if len(key) > MAX_STRING_LENGTH:
        raise FieldError(field, _KEY_MESSAGE)
    check_string(key, field)
    return key


def text(value: object, field: str) -> str:
    """A scalar attribute: trimmed string, numbers converted, ``None`` → ``""``."""
    if type(value) is str:
        s = value.strip()
    elif value is None:
        return ""
    elif isinstance(value, bool):
        raise FieldError(field, f"{_STRING_MESSAGE} (got a boolean)")
    elif isinstance(value, int):
        if abs(value) >= _INT_LIMIT:
            raise FieldError(field, _STRING_MESSAGE)
        return str(int(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise FieldError(field, "must be a finite number or a string")
        return repr(float(value))
    elif isinstance(value, str):
        s = str(value).strip()
    else:
        raise FieldError(field, f"{_STRING_MESSAGE} (got {kind(value)})")
    if len(s) > MAX_STRING_LENGTH:
        raise FieldError(field, _STRING_MESSAGE)
    check_string(s, field)
    return s


def text_list(value: object, field: str) -> tuple[str, ...]:
    """A list attribute: array of strings/numbers, or one string/number; deduplicated, order kept."""
    if value is None:
        return ()
    if isinstance(value, list):
        if len(value) > MAX_LIST_ITEMS:
            raise FieldError(field, f"must be an array of at most {MAX_LIST_ITEMS} strings")
        seen: dict[str, None] = {}
        for position, item in enumerate(value):
            if type(item) is str and len(item) <= MAX_STRING_LENGTH and item.isascii() and "\x00" not in item:
                s = item.strip()  # fast path for the common case
            elif item is None:
                continue
            else:
                try:
                    s = text(item, field)
                except FieldError as exc:
                    raise FieldError(f"{field}[{position}]", exc.message) from None
            if s:
                seen[s] = None
        return tuple(seen)
    if isinstance(value, dict):
        raise FieldError(field, f"must be an array of strings (got {kind(value)})")
    s = text(value, field)
    return (s,) if s else ()


def timestamp(value: object, field: str) -> datetime | None:
    """An RFC 3339 timestamp with a timezone, in UTC; ``null`` or blank is ``None``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldError(field, f"{_TIMESTAMP_MESSAGE} (got {kind(value)})")
    s = value.strip()
    if not s:
        return None
    if _RFC3339_RE.fullmatch(s) is None:
        raise FieldError(field, _TIMESTAMP_MESSAGE)
    try:
        return datetime.fromisoformat(s.upper()).astimezone(UTC)
    except (ValueError, OverflowError):
        raise FieldError(field, f"{_TIMESTAMP_MESSAGE}: the date or time is out of range") from None


def check_json_value(value: object, field: str) -> None:
    """Refuse anything that is not a plain, bounded JSON value (arrays/objects are checked by the C encoder)."""
    if isinstance(value, str):
        if len(value) > MAX_ATTRIBUTE_STRING_LENGTH:
            raise FieldError(field, f"must be at most {MAX_ATTRIBUTE_STRING_LENGTH} characters")
        check_string(value, field)
    elif value is None or isinstance(value, bool):
        return
    elif isinstance(value, list | dict):
        try:
            dumped = _ENCODER.encode(value)
        except RecursionError:
            raise FieldError(field, "is nested too deeply") from None
        except (TypeError, ValueError):
            raise FieldError(
                field, "must contain only JSON values (strings, finite numbers, booleans, null, arrays, objects)"
            ) from None
        if len(dumped) > MAX_ATTRIBUTE_JSON_LENGTH:
            raise FieldError(field, f"is too large (more than {MAX_ATTRIBUTE_JSON_LENGTH} characters as JSON)")
        if "\\u0000" in dumped and _contains_nul(value):
            raise FieldError(field, "must not contain NUL characters")
        if not dumped.isascii():
            try:
                dumped.encode("utf-8")
            except UnicodeEncodeError:
                raise FieldError(field, "contains an unpaired UTF-16 surrogate, which is not valid Unicode") from None
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
            raise FieldError(field, "contains a number that is too large")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise FieldError(field, "contains a number that is not finite")
    else:
        raise FieldError(field, f"must be a JSON value (got {kind(value)})")


def merge_attributes(value: object, field: str, into: dict) -> None:
    """Validate a free key/value object and copy its entries into ``into`` (values are shared, not copied)."""
    if not isinstance(value, dict):
        raise FieldError(field, f"must be a JSON object (got {kind(value)})")
    if len(value) > MAX_ATTRIBUTES:
        raise FieldError(field, f"must have at most {MAX_ATTRIBUTES} keys")
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > MAX_STRING_LENGTH:
            raise FieldError(field, f"keys must be non-empty strings of at most {MAX_STRING_LENGTH} characters")
        check_string(key, field)
        if not (
            (type(item) is str and len(item) <= MAX_ATTRIBUTE_STRING_LENGTH and item.isascii() and "\x00" not in item)
            or item is None
            or type(item) is bool
        ):
            check_json_value(item, f"{field}.{key}")
        into[key] = item
