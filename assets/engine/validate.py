"""Values invalid for their field: dropped from the record with a warning, never stored as if they were real.

Every payload format runs its parsed records through :func:`validate_batch` (``connectors.formats.parse`` does it
once for all of them, at intake and again in the worker), so the intake reply, the delivery log and each
record's decision list the same warnings. A warning never refuses the record: the record keeps its other values
and is identified as usual.

What is invalid (each value on its own; a list keeps its valid items):

* ``ip_addresses``: an item that is not an IPv4 or IPv6 address (``999.1.1.1``, ``10.0.0``, ``hello``). Interface
  notation (``10.0.0.5/24``), brackets and IPv6 zone ids are addresses.
* ``mac_addresses``: an item that is not 6 octets (EUI-48) or 8 octets (EUI-64) of hex digits once separators are
  taken out (``00:1a:2b``, ``zz:zz:zz:zz:zz:zz``).
* ``hostname`` and ``fqdn``: a name with characters no DNS name has (spaces, ``!``, ``/``, ``@``...), an empty
  label (``web..corp``), a label over 63 characters or starting or ending with a hyphen, or a name over 253
  characters (RFC 1123, checked after lower-casing and dropping a trailing dot). Underscores are accepted: Windows
  computer names and many internal DNS zones carry them, and they never make a name mean another. A non-ASCII
  label is accepted when it is letters, digits, hyphens and underscores that IDNA can encode (an
  internationalized name). A *placeholder* name (``localhost``, ``(none)``, ``n/a``) is not invalid but junk: it
  stays on the record and is never matched on (:mod:`.junk`).
* ``updated_at`` and ``last_seen``: a time more than the tolerance (a day by default) after the delivery was
  received: a clock that is wrong, which would otherwise win every later comparison (out-of-order protection,
  reconciliation ties).

Placeholder values that are well-formed (serial ``To be filled by O.E.M.``, ``127.0.0.1``, ``00:00:00:00:00:00``)
are junk, not invalid: they are kept, shown de-emphasised, and never identify anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from .identifiers import clean_text, normalize_hostname, normalize_mac, parse_ip
from .junk import host_junk
from .records import MAX_WARNING_VALUE, AssetRecord, ParsedBatch, ValueWarning

#: How far after its receipt a timestamp may lie before it is dropped as "in the future".
DEFAULT_FUTURE_TOLERANCE = timedelta(days=1)
#: Longest DNS name and label (RFC 1035/1123).
MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63

_ASCII_LABEL = re.compile(r"[a-z0-9_-]+")
#: A whole name of valid ASCII labels (1-63 characters, no hyphen at either end): most names, answered in one test.
_VALID_ASCII_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*")
_NAME_CHARACTERS = "a host name holds letters, digits, hyphens, underscores and dots"


@dataclass(frozen=True, slots=True)
class ValueChecks:
    """What validation compares against: when the delivery was received (``None``: now) and how far after that
    a timestamp may lie."""

    received_at: datetime | None = None
    future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE


def validate_batch(batch: ParsedBatch, checks: ValueChecks | None = None) -> None:
    """Drop the invalid values of every record of ``batch`` in place, each with a warning in ``batch.warnings``
    and on the record itself (``AssetRecord.warnings``)."""
    checks = checks or ValueChecks()
    received = checks.received_at or datetime.now(UTC)
    not_after = received + checks.future_tolerance
    positions = batch.positions if len(batch.positions) == len(batch.records) else range(len(batch.records))
    for position, (record, index) in enumerate(zip(batch.records, positions, strict=True)):
        checked = validate_record(record, index, not_after, checks.future_tolerance)
        if checked is not record:
            batch.records[position] = checked
            batch.warnings.extend(checked.warnings)


def validate_record(
    record: AssetRecord, index: int, not_after: datetime, tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE
) -> AssetRecord:
    """``record`` without its invalid values (the same object when all are valid), the dropped ones listed in
    its ``warnings``. ``not_after``: the latest acceptable timestamp (receipt time + ``tolerance``)."""
    warnings: list[ValueWarning] = []
    changes: dict[str, object] = {}

    def warn(field: str, value: object, message: str) -> None:
        warnings.append(ValueWarning(index, record.source_key, field, _cut(value), message))

    for field in ("hostname", "fqdn"):
        raw = getattr(record, field)
        problem = hostname_problem(raw) if raw else None
        if problem:
            warn(field, raw, f"{problem}; the value was dropped")
            changes[field] = ""
    for field, problem_of in (("ip_addresses", ip_problem), ("mac_addresses", mac_problem)):
        kept = []
        for item in record.ip_addresses if field == "ip_addresses" else record.mac_addresses:
            problem = problem_of(item)
            if problem:
                warn(field, item, f"{problem}; the value was dropped")
            else:
                kept.append(item)
        if len(kept) != len(getattr(record, field)):
            changes[field] = tuple(kept)
    for field in ("updated_at", "last_seen"):
        when = getattr(record, field)
        if when is not None and when > not_after:
            warn(
                field,
                when.isoformat(),
                f"is more than {_duration(tolerance)} after the delivery was received (a wrong clock?); "
                "the value was dropped",
            )
            changes[field] = None
    if not warnings:
        return record
    return replace(record, warnings=(*record.warnings, *warnings), **changes)


def ip_problem(value: object) -> str | None:
    """Why an IP address item is invalid, or ``None``."""
    text = clean_text(value)
    if not text or parse_ip(text) is not None:
        return None
    return "is not an IP address"


def mac_problem(value: object) -> str | None:
    """Why a MAC address item is invalid, or ``None``."""
    text = clean_text(value)
    if not text or normalize_mac(text):
        return None
    return "is not a MAC address (6 octets, or 8 for EUI-64)"


def hostname_problem(value: object) -> str | None:
    """Why a host name or FQDN breaks the DNS name rules (see the module docstring), or ``None``."""
    name = normalize_hostname(value)
    if not name or (len(name) <= MAX_NAME_LENGTH and _VALID_ASCII_NAME.fullmatch(name)):
        return None
    if host_junk(name) is not None:
        return None  # a placeholder (junk is kept, not dropped)
    if len(name) > MAX_NAME_LENGTH:
        return f"is longer than {MAX_NAME_LENGTH} characters, the most a DNS name has"
    for label in name.split("."):
        problem = _label_problem(label)
        if problem:
            return problem
    return None


def _label_problem(label: str) -> str | None:
    if not label:
        return "has an empty label (two dots in a row, or a leading dot)"
    if label.isascii():
        if not _ASCII_LABEL.fullmatch(label):
            odd = "".join(sorted({c for c in label if not (c.isalnum() or c in "-_")}))
            return f"has characters no DNS name has ({odd!r}): {_NAME_CHARACTERS}"
        encoded = label
    else:
        if not all(c.isalnum() or c in "-_" for c in label):
            odd = "".join(sorted({c for c in label if not (c.isalnum() or c in "-_")}))
            return f"has characters no DNS name has ({odd!r}): {_NAME_CHARACTERS}"
        try:
            encoded = label.encode("idna").decode("ascii")
        except UnicodeError:
            return "has a label that cannot be written as an internationalized DNS name (IDNA)"
    if len(encoded) > MAX_LABEL_LENGTH:
        return f"has a label longer than {MAX_LABEL_LENGTH} characters"
    if label.startswith("-") or label.endswith("-"):
        return "has a label that starts or ends with a hyphen"
    return None


def _cut(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_WARNING_VALUE else text[: MAX_WARNING_VALUE - 1] + "…"


def _duration(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 24 and hours % 24 == 0:
        days = int(hours // 24)
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{hours:g} hour{'s' if hours != 1 else ''}"
