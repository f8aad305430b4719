"""A delivery body as a whole: strict UTF-8 and JSON decoding, and the limits that apply to the whole body.

:class:`PayloadError` means the body as a whole is unusable: not UTF-8, not JSON, nested too deeply, the wrong
top-level shape for its format, or more than :data:`MAX_RECORDS_PER_DELIVERY` entries. Everything here is stdlib
and safe to call on untrusted input.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate

__all__ = ["MAX_RECORDS_PER_DELIVERY", "PayloadError", "check_record_count", "decode_json"]

#: More assets (plus deletions) than this in one body → :class:`PayloadError`.
MAX_RECORDS_PER_DELIVERY = 100_000

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


class PayloadError(ValueError):
    """The whole body is unusable: ``message`` is a sentence for the integrator, ``field`` the culprit."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def check_record_count(count: int) -> None:
    """Refuse a body with more than :data:`MAX_RECORDS_PER_DELIVERY` entries (assets and deletions together)."""
    if count > MAX_RECORDS_PER_DELIVERY:
        raise PayloadError(
            f"The delivery holds {count} entries; at most {MAX_RECORDS_PER_DELIVERY} are accepted in one "
            "body. Split it into several deliveries."
        )


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
