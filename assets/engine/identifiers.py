"""Identifier kinds and the normalizers that put each reported value into one canonical spelling.

Every normalizer is idempotent (``f(f(x)) == f(x)``), so stored values can be fed back in safely: the service
normalizes values read from the database with the same functions that normalized them on the way in.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket

# Identifier kinds: the attribute names identification rules may use.
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

_TRAILING_DOTS_AND_SPACE = re.compile(r"[\s.]+$")
_MAC_GROUP_SPLIT = re.compile(r"[:\-\s]")
_MAC_SEPARATORS = re.compile(r"[:\-.\s]")
_CANONICAL_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}(?:(?::[0-9a-f]{2}){2})?")
_HEX12 = re.compile(r"[0-9a-f]{12}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_CANONICAL_UUID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")


def clean_text(value: object) -> str:
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
    text = clean_text(value).lower()
    return _TRAILING_DOTS_AND_SPACE.sub("", text) if text.endswith(".") else text


def normalize_fqdn(value: object) -> str:
    """Same rules as a hostname; a separate name so callers say which field they mean."""
    return normalize_hostname(value)


def normalize_mac(value: object) -> str:
    """``aa:bb:cc:dd:ee:ff`` (or eight groups for an EUI-64), or ``""`` when the value is not a MAC address.

    Accepts the spellings inventories actually send: ``00-1A-2B-3C-4D-5E``, ``001a.2b3c.4d5e`` (Cisco),
    ``001A2B3C4D5E``, and colon groups without leading zeros (``0:1a:2b:3c:4d:5e``, as macOS prints them).
    EUI-64 addresses (FireWire, IPv6 interface identifiers, some IoT radios) are 8 octets in the same spellings.
    """
    text = clean_text(value).lower()
    if not text or _CANONICAL_MAC.fullmatch(text):  # stored values are read back canonical (reconciliation)
        return text
    groups = _MAC_GROUP_SPLIT.split(text)
    if len(groups) in (6, 8) and all(1 <= len(group) <= 2 for group in groups):
        digits = "".join(group.zfill(2) for group in groups)
    else:
        digits = _MAC_SEPARATORS.sub("", text)
    if not (_HEX12.fullmatch(digits) or _HEX16.fullmatch(digits)):
        return ""
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def normalize_ip(value: object) -> str:
    """Canonical text of the address (``ipaddress``), or ``""`` when invalid.

    Interface notation (``10.0.0.5/24``, as NetBox reports it) keeps the address; IPv4-mapped IPv6
    (``::ffff:10.0.0.5``) becomes the IPv4 address, so both spellings match each other.
    """
    address = parse_ip(clean_text(value))
    return "" if address is None else str(address)


_IPV4_SHAPE = re.compile(r"[0-9./]+")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#: A dotted quad exactly as ``ipaddress`` accepts one (no leading zeros, no octet over 255), which ``inet_aton``
#: then reads the same way.
_DOTTED_QUAD = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")


@functools.lru_cache(maxsize=1 << 16)
def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``text`` spells, or None. Cached: a record's addresses are parsed when it is normalized and
    again when its asset is reconciled, and ``ipaddress`` is the slowest step of both."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    # Cheap shape test first: most values checked here are host names, and ipaddress is slow to say "no".
    if not text or (":" not in text and not _IPV4_SHAPE.fullmatch(text)):
        return None
    if _DOTTED_QUAD.fullmatch(text):  # the common case: the C parser, 3x faster than ipaddress's own
        return ipaddress.IPv4Address(socket.inet_aton(text))
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
    return clean_text(value).upper()


def normalize_uuid(value: object) -> str:
    """Canonical upper-case ``8-4-4-4-12`` when the value is a UUID (braces, ``urn:uuid:`` and missing hyphens
    accepted); otherwise trimmed and upper-cased like a serial, so an odd format still matches itself."""
    text = normalize_serial(value)
    if _CANONICAL_UUID.fullmatch(text):  # stored values are read back canonical (reconciliation, conflicts)
        return text
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
    return clean_text(value).lower()


def first_label(name: str) -> str:
    """The short name of a normalized dotted name (``"web .corp"`` gives ``"web"``, not ``"web "``, so that
    normalizing the short name again changes nothing)."""
    return name.partition(".")[0].rstrip()


def as_values(value: object) -> tuple[object, ...]:
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
