"""The identification engine: pure functions that decide what each incoming asset record becomes.

Why pure: identification is the one piece of the product whose mistakes are silent and expensive (two machines
merged into one, or one machine split in two), so it must be testable exhaustively without a database, and it
must give the same answer whatever the chunk size or the worker that runs it. The service layer loads an
:class:`IdentityIndex` in bulk for a chunk (:func:`index_keys` says what to load), calls
:func:`identify_records`, and writes the returned :class:`Decision` objects in one transaction. Nothing here
imports Django.

Identity space used by the engine: existing assets are positive ids (database primary keys); assets that do
not exist yet are *provisional keys*, negative ints ``-1, -2, ...`` allocated in the order the chunk creates
them. A decision aimed at an existing asset has ``asset_id`` set and ``new_asset_key`` ``None``; a decision
aimed at a new asset (``CREATED``, ``AMBIGUOUS`` with creation, or a later ``MERGED``/``UPDATED`` record of
the same chunk that joined that new asset) has ``asset_id`` ``None`` and ``new_asset_key`` set.
``Decision.candidates`` may contain provisional keys for the same reason.

The product rules implemented here are summarized in the README ("How identification works").
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from assets.records import REPORTED_ATTRIBUTES, AssetRecord

# ----------------------------------------------------------------------------------------------------------
# Identifier kinds
# ----------------------------------------------------------------------------------------------------------

SERIAL = "serial_number"
HARDWARE_UUID = "hardware_uuid"
CLOUD_INSTANCE = "cloud_instance_id"
MAC = "mac_address"
FQDN = "fqdn"
HOSTNAME = "hostname"
IP = "ip_address"
#: Every identifier kind, strongest first; also the attribute names identification rules may use.
IDENTIFIER_KINDS: tuple[str, ...] = (SERIAL, HARDWARE_UUID, CLOUD_INSTANCE, MAC, FQDN, HOSTNAME, IP)
#: Pseudo-attribute of the system rule: the source's own key for the record (connector + source key).
SOURCE_NATIVE_KEY = "source_native_key"

#: How many "kind=value" keys a decision lists per rule before summarising the rest (keeps decision rows
#: small).
MAX_COMPARED_KEYS = 8

# ----------------------------------------------------------------------------------------------------------
# Normalizers (all idempotent: f(f(x)) == f(x), so stored values can be fed back in safely)
# ----------------------------------------------------------------------------------------------------------

_TRAILING_DOTS_AND_SPACE = re.compile(r"[\s.]+$")
_MAC_GROUP_SPLIT = re.compile(r"[:\-\s]")
_MAC_SEPARATORS = re.compile(r"[:\-.\s]")
_HEX12 = re.compile(r"[0-9a-f]{12}")
_HEX32 = re.compile(r"[0-9a-f]{32}")


def _text(value: object) -> str:
    """Any reported value as trimmed text; ``None`` is the empty string (parsers may pass non-strings)."""
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    return str(value).strip()


def normalize_hostname(value: object) -> str:
    """Lower-case, trimmed, without trailing dot: DNS names are case-insensitive and ``host.`` equals
    ``host``.

    The full name is kept (``web-01.corp.example.com`` stays whole); :func:`normalize_record` is the one that
    splits a dotted hostname into the short name and the FQDN, because only it knows whether the record has
    its own FQDN.
    """
    text = _text(value).lower()
    return _TRAILING_DOTS_AND_SPACE.sub("", text) if text.endswith(".") else text


def normalize_fqdn(value: object) -> str:
    """Same rules as a hostname; a separate name so callers say which field they mean."""
    return normalize_hostname(value)


def normalize_mac(value: object) -> str:
    """``aa:bb:cc:dd:ee:ff``, or ``""`` when the value is not a 48-bit MAC.

    Accepts the spellings inventories actually send: ``00-1A-2B-3C-4D-5E``, ``001a.2b3c.4d5e`` (Cisco),
    ``001A2B3C4D5E``, and colon groups without leading zeros (``0:1a:2b:3c:4d:5e``, as macOS prints them).
    """
    text = _text(value).lower()
    if not text:
        return ""
    groups = _MAC_GROUP_SPLIT.split(text)
    if len(groups) == 6 and all(1 <= len(group) <= 2 for group in groups):
        digits = "".join(group.zfill(2) for group in groups)
    else:
        digits = _MAC_SEPARATORS.sub("", text)
    if not _HEX12.fullmatch(digits):
        return ""
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def normalize_ip(value: object) -> str:
    """Canonical text of the address (``ipaddress``), or ``""`` when invalid.

    Interface notation (``10.0.0.5/24``, as NetBox reports it) keeps the address; IPv4-mapped IPv6
    (``::ffff:10.0.0.5``) becomes the IPv4 address, so both spellings match each other.
    """
    address = _parse_ip(_text(value))
    return "" if address is None else str(address)


_IPV4_SHAPE = re.compile(r"[0-9./]+")


@functools.lru_cache(maxsize=1 << 16)
def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``text`` spells, or None. Cached: a record's addresses are parsed when it is normalized and
    again when its asset is reconciled, and ``ipaddress`` is the slowest step of both."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    # Cheap shape test first: most values checked here are host names, and ipaddress is slow to say "no".
    if not text or (":" not in text and not _IPV4_SHAPE.fullmatch(text)):
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        if "/" not in text:
            return None
        try:
            address = ipaddress.ip_interface(text).ip
        except ValueError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address


def normalize_serial(value: object) -> str:
    """Trimmed and upper-cased: vendors and tools disagree on the case of the same serial."""
    return _text(value).upper()


def normalize_uuid(value: object) -> str:
    """Canonical upper-case ``8-4-4-4-12`` when the value is a UUID (braces, ``urn:uuid:`` and missing hyphens
    accepted); otherwise trimmed and upper-cased like a serial, so an odd format still matches itself."""
    text = normalize_serial(value)
    digits = text.lower()
    if digits.startswith("urn:uuid:"):
        digits = digits[len("urn:uuid:") :]
    if digits.startswith("{") and digits.endswith("}"):
        digits = digits[1:-1]
    digits = digits.replace("-", "")
    if not _HEX32.fullmatch(digits):
        return text
    digits = digits.upper()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def normalize_cloud_instance_id(value: object) -> str:
    """Trimmed and lower-cased: AWS ids are lower-case by convention and Azure VM ids (GUIDs) arrive in either
    case. (Not in the original contract; added so the cloud identifier has a normalizer like the others.)"""
    return _text(value).lower()


# ----------------------------------------------------------------------------------------------------------
# Junk detection: values that many unrelated machines share and that must never merge them
# ----------------------------------------------------------------------------------------------------------

#: Placeholder serials as firmware and tools emit them, compared on their letters and digits only,
#: upper-cased, so "To be filled by O.E.M." and "TO BE FILLED BY OEM" are the same placeholder.
_PLACEHOLDER_SERIALS: frozenset[str] = frozenset(
    {
        "TOBEFILLEDBYOEM",
        "TOBEFILLED",
        "DEFAULTSTRING",
        "DEFAULT",
        "NONE",
        "NA",
        "NULL",
        "NIL",
        "UNKNOWN",
        "NOTSPECIFIED",
        "UNSPECIFIED",
        "NOTAPPLICABLE",
        "NOTAVAILABLE",
        "NOTSET",
        "NOTSETTABLE",
        "NOTPRESENT",
        "NOTPROVIDED",
        "NOTDEFINED",
        "UNDEFINED",
        "EMPTY",
        "INVALID",
        "OEM",
        "SN",
        "SERIAL",
        "SERIALNUMBER",
        "SYSTEMSERIALNUMBER",
        "CHASSISSERIALNUMBER",
        "BASEBOARDSERIALNUMBER",
        "BOARDSERIALNUMBER",
        "123456",
        "1234567",
        "12345678",
        "123456789",
        "1234567890",
        "0123456789",
        "0123456789ABCDEF",
    }
)

#: Hardware UUIDs known to be shared by whole board series (besides all-zero / all-F).
_BOGUS_UUIDS: frozenset[str] = frozenset(
    {
        "03000200-0400-0500-0006-000700080009",  # AMI/Gigabyte boards with an unset SMBIOS UUID
    }
)

#: MACs that many machines report at once: virtual adapters with a fixed address, privacy placeholders.
_SHARED_MACS: dict[str, str] = {
    "02:00:00:00:00:00": "privacy placeholder (Android/iOS)",
    "02:00:4c:4f:4f:50": "Microsoft loopback adapter",
    "00:05:9a:3c:7a:00": "Cisco AnyConnect virtual adapter",
    "02:50:41:00:00:01": "Palo Alto GlobalProtect virtual adapter",
    "00:50:56:c0:00:01": "VMware Workstation host-only adapter",
    "00:50:56:c0:00:08": "VMware Workstation NAT adapter",
    "0a:00:27:00:00:00": "VirtualBox host-only adapter",
    "0a:00:27:00:00:01": "VirtualBox host-only adapter",
}

#: Host names that say nothing about the machine ("(none)" is what an unset Linux hostname reads as).
_PLACEHOLDER_HOSTS: frozenset[str] = frozenset(
    {
        "localhost",
        "localhost4",
        "localhost6",
        "ip6-localhost",
        "ip6-loopback",
        "localdomain",
        "(none)",
        "none",
        "null",
        "unknown",
        "n/a",
        "-",
    }
)
#: A label that encodes an IPv4 address with dashes: AWS ``ip-10-0-0-1``, DHCP ``dhcp-10-0-0-1``, ISP
#: ``10-0-0-1``.
_IP_ENCODED_LABEL = re.compile(r"(?:[a-z]+-)?(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})")
#: A name starting with a dotted quad (reverse-DNS style ``10.0.0.1.in-addr.example``).
_DOTTED_QUAD_PREFIX = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?:\.|$)")


#: Everything but letters and digits (``\w`` is exactly ``str.isalnum()`` plus ``_``).
_NOT_ALNUM = re.compile(r"[\W_]+")


def _placeholder_reason(upper_value: str) -> str | None:
    """Why an upper-cased serial-like value is a placeholder, or ``None`` if it may identify a machine."""
    squashed = upper_value if upper_value.isalnum() else _NOT_ALNUM.sub("", upper_value)
    if not squashed:
        return "no letters or digits in"
    if squashed in _PLACEHOLDER_SERIALS:
        return "placeholder value"
    if len(set(squashed)) == 1:
        return "placeholder value (one repeated character)"
    return None


def _serial_junk(normalized: str) -> str | None:
    return _placeholder_reason(normalized)


def _uuid_junk(normalized: str) -> str | None:
    hex_digits = normalized.replace("-", "")
    if len(normalized) == 36 and len(hex_digits) == 32:
        if set(hex_digits) == {"0"}:
            return "all-zero UUID"
        if set(hex_digits) == {"F"}:
            return "all-F UUID"
        if normalized in _BOGUS_UUIDS:
            return "UUID shared by a whole board series"
        return None
    return _placeholder_reason(normalized)


def _cloud_instance_junk(normalized: str) -> str | None:
    return _placeholder_reason(normalized.upper())


def _mac_junk(normalized: str) -> str | None:
    if not normalized:
        return "not a MAC address"
    if normalized == "00:00:00:00:00:00":
        return "all-zero MAC"
    if normalized == "ff:ff:ff:ff:ff:ff":
        return "broadcast MAC"
    if int(normalized[:2], 16) & 1:
        return "multicast MAC"
    shared = _SHARED_MACS.get(normalized)
    if shared:
        return f"MAC shared by many machines ({shared})"
    return None


def _ip_junk(normalized: str) -> str | None:
    return _address_junk(_parse_ip(normalized))


def _address_junk(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> str | None:
    if address is None:
        return "not an IP address"
    if address.version == 4:  # integer tests: the ipaddress properties are slow and this runs per IP per record
        value = int(address)
        first = value >> 24
        if first == 127:
            return "loopback address"
        if first == 0:
            return "unspecified address"
        if value >> 16 == 0xA9FE:
            return "link-local address"
        if 224 <= first <= 239:
            return "multicast address"
        if first >= 240:
            return "reserved address"
        return None
    if address.is_loopback:
        return "loopback address"
    if address.is_unspecified:
        return "unspecified address"
    if address.is_link_local:
        return "link-local address"
    if address.is_multicast:
        return "multicast address"
    if address.is_reserved:
        return "reserved address"
    return None


def _label_junk(label: str) -> str | None:
    if label in _PLACEHOLDER_HOSTS:
        return "placeholder host name"
    match = _IP_ENCODED_LABEL.fullmatch(label)
    if match and all(int(octet) <= 255 for octet in match.groups()):
        return "IP-encoded host name"
    return None


_IP_AS_HOST = "IP address used as host name"


def _host_junk(normalized: str) -> str | None:
    """Junk test shared by hostnames and FQDNs (``localhost.localdomain``,
    ``ip-10-0-0-1.ec2.internal``...)."""
    if _parse_ip(normalized) is not None:
        return _IP_AS_HOST
    if _DOTTED_QUAD_PREFIX.match(normalized):
        return "IP-encoded host name"
    if normalized in _PLACEHOLDER_HOSTS or normalized == "localhost.localdomain":
        return "placeholder host name"
    return _label_junk(_first_label(normalized))


def _first_label(name: str) -> str:
    """The short name of a normalized dotted name (``"web .corp"`` gives ``"web"``, not ``"web "``, so that
    normalizing the short name again changes nothing)."""
    return name.partition(".")[0].rstrip()


# ----------------------------------------------------------------------------------------------------------
# Record normalization
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NormalizedRecord:
    """A record after normalization: what to store, and the subset that may be used to match.

    ``attributes`` keeps junk values (the admin should see what the source said) but ``identifiers`` never
    holds them. ``identifiers`` has a key for every kind of :data:`IDENTIFIER_KINDS`, with ``()`` when the
    record has no usable value of that kind, so ``record.identifiers[kind]`` is always safe.
    """

    record: AssetRecord
    attributes: dict[str, object]
    identifiers: dict[str, tuple[str, ...]]
    ignored: tuple[str, ...]


def _as_values(value: object) -> tuple[object, ...]:
    """A list attribute as a tuple; a lone string is one value, not a sequence of characters."""
    if type(value) is tuple:
        return value
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        return (value,)
    try:
        return tuple(value)  # type: ignore[arg-type]
    except TypeError:
        return (value,)


def _dedupe(values: list[str]) -> tuple[str, ...]:
    """Distinct non-empty values in first-seen order (a source listing an IP twice is still one IP)."""
    if len(values) < 2:
        return tuple(value for value in values if value)
    return tuple(dict.fromkeys(value for value in values if value))


def normalize_record(record: AssetRecord) -> NormalizedRecord:
    """Normalize one record and sort its values into "store" and "match on".

    Host names: a hostname given as an FQDN (``web-01.corp.example.com``) is stored and matched as the short
    name ``web-01``, and its full name serves as the FQDN when the record has none. When the record has no
    usable hostname (absent or junk), the first label of its FQDN becomes the hostname identifier (and the
    stored hostname if none was reported). An ``fqdn`` without a dot is not an FQDN: it is only used as a
    hostname.
    """
    ignored: list[str] = []
    identifiers: dict[str, tuple[str, ...]] = dict.fromkeys(IDENTIFIER_KINDS, ())
    attributes: dict[str, object] = {}

    # --- host names
    host = normalize_hostname(record.hostname)
    host_junk = _host_junk(host) if host else None
    short_host, host_fqdn = host, ""
    if "." in host and host_junk is not _IP_AS_HOST:  # a dotted hostname carries its domain with it
        label = _first_label(host)
        if label:
            short_host, host_fqdn = label, host
    given_fqdn = normalize_fqdn(record.fqdn)
    fqdn = given_fqdn or host_fqdn
    if not fqdn:
        fqdn_junk = None
    elif fqdn == host:
        fqdn_junk = host_junk
    else:
        fqdn_junk = _host_junk(fqdn)
    fqdn_label = _first_label(fqdn) if fqdn and fqdn_junk is not _IP_AS_HOST else ""
    attributes["hostname"] = short_host or fqdn_label
    attributes["fqdn"] = fqdn

    if host_junk:
        ignored.append(f"hostname ignored: {host_junk} {_text(record.hostname)!r}")
    if fqdn_junk:
        if given_fqdn:  # a junk FQDN derived from a junk hostname was already reported above
            ignored.append(f"fqdn ignored: {fqdn_junk} {_text(record.fqdn)!r}")
    elif fqdn and "." in fqdn:
        identifiers[FQDN] = (fqdn,)
    elif given_fqdn:
        ignored.append(f"fqdn ignored: no domain part in {_text(record.fqdn)!r} (used as a hostname only)")
    if short_host and not host_junk:
        identifiers[HOSTNAME] = (short_host,)
    elif fqdn_label and not fqdn_junk:
        identifiers[HOSTNAME] = (fqdn_label,)

    attributes["netbios_name"] = _text(record.netbios_name).upper()

    # --- scalar identifiers
    for kind, raw, normalizer, junk_test in (
        (SERIAL, record.serial_number, normalize_serial, _serial_junk),
        (HARDWARE_UUID, record.hardware_uuid, normalize_uuid, _uuid_junk),
        (CLOUD_INSTANCE, record.cloud_instance_id, normalize_cloud_instance_id, _cloud_instance_junk),
    ):
        value = normalizer(raw)
        attributes[kind] = value
        if not value:
            continue
        why = junk_test(value)
        if why:
            ignored.append(f"{kind} ignored: {why} {_text(raw)!r}")
        else:
            identifiers[kind] = (value,)

    # --- list identifiers: keep every reported value (normalized when it parses), match on the good ones
    stored: list[str] = []
    usable: list[str] = []
    for raw in _as_values(record.ip_addresses):
        text = _text(raw)
        if not text:
            continue
        address = _parse_ip(text)
        value = "" if address is None else str(address)
        stored.append(value or text)
        why = _address_junk(address)
        if why:
            ignored.append(f"{IP} ignored: {why} {text!r}")
        else:
            usable.append(value)
    attributes["ip_addresses"] = _dedupe(stored)
    identifiers[IP] = _dedupe(usable)

    stored = []
    usable = []
    for raw in _as_values(record.mac_addresses):
        text = _text(raw)
        if not text:
            continue
        value = normalize_mac(text)
        stored.append(value or text)
        why = _mac_junk(value)
        if why:
            ignored.append(f"{MAC} ignored: {why} {text!r}")
        else:
            usable.append(value)
    attributes["mac_addresses"] = _dedupe(stored)
    identifiers[MAC] = _dedupe(usable)

    # --- descriptive attributes
    attributes["cloud_provider"] = _text(record.cloud_provider).lower()
    for name in ("os", "os_version", "manufacturer", "model", "asset_type"):
        attributes[name] = _text(getattr(record, name))
    attributes["tags"] = _dedupe([_text(tag) for tag in _as_values(record.tags)])
    attributes["attributes"] = dict(record.attributes or {})

    return NormalizedRecord(
        record=record,
        attributes={name: attributes[name] for name in (*REPORTED_ATTRIBUTES, "attributes")},
        identifiers=identifiers,
        ignored=tuple(dict.fromkeys(ignored)),
    )


# ----------------------------------------------------------------------------------------------------------
# Rules, configuration and the index
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One identification rule as the engine sees it: every attribute must match (an AND)."""

    id: int | None
    name: str
    attributes: tuple[str, ...]


#: The system rule, always applied first and not part of ``EngineConfig.rules``.
NATIVE_KEY_RULE = RuleSpec(None, "Source native key", (SOURCE_NATIVE_KEY,))


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """The connector settings that change decisions.

    ``rules`` are the connector's enabled rules in order, without the source-native-key rule (always applied
    first; a rule naming :data:`SOURCE_NATIVE_KEY` found in ``rules`` is ignored rather than applied twice).
    """

    trust_rank: int
    rules: tuple[RuleSpec, ...]
    create_unmanaged: bool
    apply_default_rule: bool


@dataclass(frozen=True, slots=True)
class ExistingSource:
    """An existing source record of the connector being processed (keyed by source key in the index)."""

    asset_id: int
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class AssetRank:
    """What the default rule compares between candidates: best live source trust rank, then latest update."""

    best_trust_rank: int
    last_updated: datetime | None


@dataclass
class IdentityIndex:
    """The slice of the inventory a chunk can match against, loaded in bulk by the service.

    ``identifiers`` needs every (kind, value) of :func:`index_keys`; ``ranks`` every asset id appearing in it
    or in ``sources`` (a missing rank counts as trust 0, never updated). The engine never mutates it.
    """

    sources: dict[str, ExistingSource]
    identifiers: dict[tuple[str, str], set[int]]
    ranks: dict[int, AssetRank]


def index_keys(records: Iterable[NormalizedRecord]) -> set[tuple[str, str]]:
    """The (kind, value) pairs whose assets the service must load to build the index for these records."""
    return {(kind, value) for record in records for kind, values in record.identifiers.items() for value in values}


# ----------------------------------------------------------------------------------------------------------
# Decisions
# ----------------------------------------------------------------------------------------------------------


class Outcome(StrEnum):
    """What a record became.

    ``UPDATED``: the source native key matched, the existing source record is updated in place. ``MERGED``: a
    rule matched, a new source record is attached to that asset. ``UNCHANGED``: the native key matched but the
    record is strictly older than the stored one (out-of-order delivery), nothing is written. ``AMBIGUOUS``:
    no rule decided and some rule saw several candidates; a new asset flagged as a possible duplicate is
    created only when *Create unmanaged asset* is on.
    """

    CREATED = "created"
    UPDATED = "updated"
    MERGED = "merged"
    SKIPPED = "skipped"
    AMBIGUOUS = "ambiguous"
    UNCHANGED = "unchanged"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's verdict on one record, with everything the decision log needs to explain it.

    ``rule`` is the rule that decided (:data:`NATIVE_KEY_RULE` for ``UPDATED``/``UNCHANGED``); for
    ``AMBIGUOUS`` it is the last rule that saw several candidates; ``None`` for
    ``CREATED``/``SKIPPED``/``ERROR``. ``compared`` maps each rule that applied to the "kind=value" keys it
    compared. Target: ``asset_id`` for an existing asset, or ``new_asset_key`` (negative) for an asset this
    chunk creates; both ``None`` when nothing is written (``SKIPPED``, ``AMBIGUOUS`` without creation,
    ``ERROR``).
    """

    source_key: str
    outcome: Outcome
    rule: RuleSpec | None
    compared: dict[str, list[str]]
    candidates: tuple[int, ...]
    asset_id: int | None
    new_asset_key: int | None
    possible_duplicate: bool
    reasons: tuple[str, ...]
    normalized: NormalizedRecord


_NO_TIME = datetime.min.replace(tzinfo=UTC)


def _time_key(moment: datetime | None) -> tuple[int, datetime]:
    """Sort key for "most recent wins" with ``None`` oldest; naive datetimes are read as UTC, never a
    TypeError."""
    if moment is None:
        return (0, _NO_TIME)
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return (1, moment)


def _is_older(new: datetime | None, stored: datetime | None) -> bool:
    return new is not None and stored is not None and _time_key(new) < _time_key(stored)


def _later(first: datetime | None, second: datetime | None) -> datetime | None:
    return first if _time_key(first) >= _time_key(second) else second


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else "unknown"


def _describe(target: int) -> str:
    # Reasons are read by people: database ids and provisional keys mean nothing to them (the decision row
    # carries the candidates' public ids).
    return "an existing asset" if target > 0 else "a new asset created earlier in this delivery"


def _candidate_order(candidates: Iterable[int]) -> tuple[int, ...]:
    """Existing assets by id, then this chunk's new assets in creation order (-1, -2, ...)."""
    return tuple(sorted(candidates, key=lambda target: (target < 0, abs(target))))


def _targets(target: int) -> tuple[int | None, int | None]:
    return (target, None) if target > 0 else (None, target)


def _decision(
    normalized: NormalizedRecord,
    compared: dict[str, list[str]],
    reasons: list[str],
    outcome: Outcome,
    rule: RuleSpec | None,
    candidates: Iterable[int] = (),
    *,
    asset_id: int | None = None,
    new_asset_key: int | None = None,
    possible_duplicate: bool = False,
) -> Decision:
    return Decision(
        source_key=normalized.record.source_key,
        outcome=outcome,
        rule=rule,
        compared=compared,
        candidates=_candidate_order(candidates),
        asset_id=asset_id,
        new_asset_key=new_asset_key,
        possible_duplicate=possible_duplicate,
        reasons=tuple(reasons),
        normalized=normalized,
    )


def _error_decision(record: AssetRecord, normalized: NormalizedRecord | None, exc: Exception) -> Decision:
    if normalized is None:
        normalized = NormalizedRecord(record, {}, {kind: () for kind in IDENTIFIER_KINDS}, ())
    return Decision(
        source_key=str(getattr(record, "source_key", "")),
        outcome=Outcome.ERROR,
        rule=None,
        compared={},
        candidates=(),
        asset_id=None,
        new_asset_key=None,
        possible_duplicate=False,
        reasons=(f"internal error while identifying the record: {type(exc).__name__}: {exc}",),
        normalized=normalized,
    )


class _Chunk:
    """Working state of one :func:`identify_records` call.

    Overlays (never writes to) the caller's index with what the chunk has decided so far, so a later record
    sees earlier ones exactly as it would have if they had been written to the database first: the answer does
    not depend on how a delivery is cut into chunks.
    """

    __slots__ = (
        "chunk_sources",
        "config",
        "extra_identifiers",
        "extra_ranks",
        "index",
        "next_new_key",
        "rules",
    )

    def __init__(self, index: IdentityIndex, config: EngineConfig) -> None:
        self.index = index
        self.config = config
        self.rules = tuple(rule for rule in config.rules if SOURCE_NATIVE_KEY not in rule.attributes)
        self.extra_identifiers: dict[tuple[str, str], set[int]] = {}
        self.extra_ranks: dict[int, AssetRank] = {}
        self.chunk_sources: dict[str, ExistingSource] = {}
        self.next_new_key = -1

    # -- lookups

    def assets_with(self, kind: str, values: tuple[str, ...]) -> set[int] | frozenset[int]:
        """Assets carrying any of the values (list attributes match on any shared value). Read-only result."""
        found: set[int] | frozenset[int] = frozenset()
        base = self.index.identifiers
        extra = self.extra_identifiers
        for value in values:
            key = (kind, value)
            for hits in (base.get(key), extra.get(key)):
                if hits:
                    found = hits if not found else found | hits
        return found

    def rank(self, target: int) -> AssetRank:
        return self.extra_ranks.get(target) or self.index.ranks.get(target) or AssetRank(0, None)

    # -- bookkeeping after a write decision

    def record_write(self, normalized: NormalizedRecord, target: int, stored_updated_at: datetime | None) -> None:
        extra = self.extra_identifiers
        for kind, values in normalized.identifiers.items():
            for value in values:
                hits = extra.get((kind, value))
                if hits is None:
                    extra[kind, value] = {target}
                else:
                    hits.add(target)
        rank = self.rank(target)
        self.extra_ranks[target] = AssetRank(
            max(rank.best_trust_rank, self.config.trust_rank),
            _later(rank.last_updated, normalized.record.updated_at),
        )
        self.chunk_sources[normalized.record.source_key] = ExistingSource(target, stored_updated_at)

    def new_key(self) -> int:
        key = self.next_new_key
        self.next_new_key -= 1
        return key

    # -- the decision

    def decide(self, normalized: NormalizedRecord) -> Decision:
        record = normalized.record
        reasons: list[str] = list(normalized.ignored)
        compared: dict[str, list[str]] = {}

        # 1. Source native key: this connector already knows the record.
        in_chunk = record.source_key in self.chunk_sources
        existing = self.chunk_sources.get(record.source_key) or self.index.sources.get(record.source_key)
        if existing is not None:
            target = existing.asset_id
            asset_id, new_asset_key = _targets(target)
            compared[NATIVE_KEY_RULE.name] = [f"{SOURCE_NATIVE_KEY}={record.source_key}"]
            where = "earlier in this chunk" if in_chunk else "already"
            if _is_older(record.updated_at, existing.updated_at):
                reasons.append(
                    f"source key {record.source_key!r} {where} matched {_describe(target)}, but the record's "
                    f"updated_at {_iso(record.updated_at)} is older than the stored "
                    f"{_iso(existing.updated_at)}: nothing changed (out-of-order protection)"
                )
                return _decision(
                    normalized,
                    compared,
                    reasons,
                    Outcome.UNCHANGED,
                    NATIVE_KEY_RULE,
                    (target,),
                    asset_id=asset_id,
                    new_asset_key=new_asset_key,
                )
            reasons.append(
                f"source key {record.source_key!r} {where} matched {_describe(target)}: source record updated in place"
            )
            self.record_write(normalized, target, _later(record.updated_at, existing.updated_at))
            return _decision(
                normalized,
                compared,
                reasons,
                Outcome.UPDATED,
                NATIVE_KEY_RULE,
                (target,),
                asset_id=asset_id,
                new_asset_key=new_asset_key,
            )

        # 2. The connector's rules, in order.
        identifiers = normalized.identifiers
        unions: dict[str, set[int] | frozenset[int]] = {}
        applied: list[str] = []
        not_applicable: list[str] = []
        ambiguous: tuple[RuleSpec, tuple[int, ...]] | None = None
        for rule in self.rules:
            missing = [attribute for attribute in rule.attributes if not identifiers.get(attribute)]
            if missing or not rule.attributes:
                not_applicable.append(rule.name)
                what = ", ".join(missing) if missing else "attributes (the rule names none)"
                reasons.append(f"rule {rule.name!r} not applicable: the record has no usable {what}")
                continue
            applied.append(rule.name)
            keys = [f"{attribute}={value}" for attribute in rule.attributes for value in identifiers[attribute]]
            if len(keys) > MAX_COMPARED_KEYS:
                keys = [*keys[:MAX_COMPARED_KEYS], f"... (+{len(keys) - MAX_COMPARED_KEYS} more)"]
            compared[rule.name] = keys

            candidates: set[int] | frozenset[int] | None = None
            for attribute in rule.attributes:
                hits = unions.get(attribute)
                if hits is None:
                    hits = unions[attribute] = self.assets_with(attribute, identifiers[attribute])
                candidates = hits if candidates is None else candidates & hits
                if not candidates:
                    break
            if not candidates:
                reasons.append(f"rule {rule.name!r} found no matching asset")
                continue
            ordered = _candidate_order(candidates)
            if len(ordered) == 1 or self.config.apply_default_rule:
                if len(ordered) == 1:
                    target = ordered[0]
                    reasons.append(f"rule {rule.name!r} matched {_describe(target)} on {', '.join(keys)}")
                else:
                    target, why = self.tie_break(ordered)
                    reasons.append(
                        f"rule {rule.name!r} saw {len(ordered)} candidates; Apply default rule chose "
                        f"{_describe(target)}: {why}"
                    )
                self.record_write(normalized, target, record.updated_at)
                asset_id, new_asset_key = _targets(target)
                return _decision(
                    normalized,
                    compared,
                    reasons,
                    Outcome.MERGED,
                    rule,
                    ordered,
                    asset_id=asset_id,
                    new_asset_key=new_asset_key,
                )
            reasons.append(
                f"rule {rule.name!r} saw {len(ordered)} candidates; Apply default rule is off, trying the next rule"
            )
            ambiguous = (rule, ordered)

        # 3. Nothing decided.
        summary = (
            f"rules applied: {', '.join(applied) or 'none'}; not applicable: {', '.join(not_applicable) or 'none'}"
        )
        if ambiguous is not None:
            rule, ordered = ambiguous
            if self.config.create_unmanaged:
                key = self.new_key()
                reasons.append(
                    f"no rule decided and rule {rule.name!r} saw {len(ordered)} candidates: created a new "
                    "unmanaged asset flagged as a possible duplicate"
                )
                reasons.append(summary)
                self.record_write(normalized, key, record.updated_at)
                return _decision(
                    normalized,
                    compared,
                    reasons,
                    Outcome.AMBIGUOUS,
                    rule,
                    ordered,
                    new_asset_key=key,
                    possible_duplicate=True,
                )
            reasons.append(
                f"no rule decided and rule {rule.name!r} saw {len(ordered)} candidates; "
                "Create unmanaged asset is off, nothing written"
            )
            reasons.append(summary)
            return _decision(normalized, compared, reasons, Outcome.AMBIGUOUS, rule, ordered)
        if not self.rules:
            reasons.append("no identification rule is enabled for this connector besides the source native key")
        if self.config.create_unmanaged:
            key = self.new_key()
            reasons.append("no rule matched: created a new unmanaged asset")
            reasons.append(summary)
            self.record_write(normalized, key, record.updated_at)
            return _decision(normalized, compared, reasons, Outcome.CREATED, None, new_asset_key=key)
        reasons.append("no rule matched and Create unmanaged asset is off")
        reasons.append(summary)
        return _decision(normalized, compared, reasons, Outcome.SKIPPED, None)

    def tie_break(self, ordered: tuple[int, ...]) -> tuple[int, str]:
        """The default rule: best trust rank, then most recent update (None oldest), then the lowest asset id
        (existing assets before this chunk's new ones) so the same input always gives the same answer."""

        def key(target: int) -> tuple:
            rank = self.rank(target)
            return (rank.best_trust_rank, _time_key(rank.last_updated), target > 0, -abs(target))

        ranked = sorted(ordered, key=key, reverse=True)
        winner, runner_up = ranked[0], ranked[1]
        best, second = self.rank(winner), self.rank(runner_up)
        if best.best_trust_rank > second.best_trust_rank:
            return winner, f"highest trust rank ({best.best_trust_rank})"
        if _time_key(best.last_updated) > _time_key(second.last_updated):
            return winner, (f"same trust rank ({best.best_trust_rank}), most recent update ({_iso(best.last_updated)})")
        return winner, "same trust rank and last update; lowest asset id chosen for determinism"


def identify_records(
    records: Sequence[AssetRecord],
    index: IdentityIndex,
    config: EngineConfig,
    normalized: Sequence[NormalizedRecord] | None = None,
) -> list[Decision]:
    """Decide every record of a chunk, in order, against the index (which is not modified).

    Records of the same chunk see each other: a repeated source key is the native-key match of its first
    occurrence, and records that describe the same new machine share one ``new_asset_key``. A record that
    makes the engine fail gets an ``ERROR`` decision instead of failing the chunk. ``normalized`` may carry the
    records already normalized (the service needs them first to load the index) so the work is not repeated.
    """
    chunk = _Chunk(index, config)
    decisions: list[Decision] = []
    for position, record in enumerate(records):
        prepared = normalized[position] if normalized is not None else None
        try:
            if prepared is None:
                prepared = normalize_record(record)
            decisions.append(chunk.decide(prepared))
        except Exception as exc:
            # One bad record must not lose the chunk; its decision says what happened.
            decisions.append(_error_decision(record, prepared, exc))
    return decisions


# ----------------------------------------------------------------------------------------------------------
# Reconciliation
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceValues:
    """One live source record of an asset, as reconciliation needs it."""

    source_id: int
    trust_rank: int
    updated_at: datetime | None
    attributes: dict[str, object]


def _is_empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (tuple, list, set, frozenset, dict)):
        return not value
    return False


def _is_placeholder(attribute: str, value: object) -> bool:
    """Whether a stored value is one the engine would not match on (placeholder serial, localhost,
    127.0.0.1...)."""
    if attribute == "serial_number":
        return _serial_junk(normalize_serial(value)) is not None
    if attribute == "hardware_uuid":
        return _uuid_junk(normalize_uuid(value)) is not None
    if attribute == "cloud_instance_id":
        return _cloud_instance_junk(normalize_cloud_instance_id(value)) is not None
    if attribute in ("hostname", "fqdn"):
        return _host_junk(normalize_hostname(value)) is not None
    if attribute == "ip_addresses":
        return all(_ip_junk(normalize_ip(item)) for item in _as_values(value))
    if attribute == "mac_addresses":
        return all(_mac_junk(normalize_mac(item)) for item in _as_values(value))
    return False


def reconcile(sources: Sequence[SourceValues]) -> dict[str, tuple[object, int]]:
    """The value each asset attribute shows, with its provenance: ``attribute -> (value, source_id)``.

    The most trusted source that reported a non-empty value wins; ties go to the most recent ``updated_at``
    (``None`` oldest), then to the highest source id so the result is deterministic. A placeholder value (junk
    by the engine's rules, e.g. serial "To be filled by O.E.M.") only wins when no source reported a real one:
    otherwise a trusted source's placeholder would hide another source's real serial. Attributes nobody
    reported are absent.
    """
    if len(sources) == 1:  # most assets: nothing to choose between
        only = sources[0]
        return {
            attribute: (value, only.source_id)
            for attribute in REPORTED_ATTRIBUTES
            if not _is_empty(value := only.attributes.get(attribute))
        }
    shown: dict[str, tuple[object, int]] = {}
    for attribute in REPORTED_ATTRIBUTES:
        reported = [(source, value) for source in sources if not _is_empty(value := source.attributes.get(attribute))]
        if len(reported) > 1:
            first = reported[0][1]
            if any(value != first for _, value in reported):
                # Only sources that disagree need the (costly) placeholder test.
                reported.sort(
                    key=lambda item: (
                        not _is_placeholder(attribute, item[1]),
                        item[0].trust_rank,
                        _time_key(item[0].updated_at),
                        item[0].source_id,
                    )
                )
            else:
                reported.sort(key=lambda item: (item[0].trust_rank, _time_key(item[0].updated_at), item[0].source_id))
        if reported:
            source, value = reported[-1]
            shown[attribute] = (value, source.source_id)
    return shown
