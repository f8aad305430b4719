"""Junk detection: values that many unrelated machines share and that must never merge them.

Each test takes an already normalized value and returns why it is junk (the text goes into the decision log),
or ``None`` when the value may identify a machine.
"""

from __future__ import annotations

import ipaddress
import re

from .identifiers import first_label, parse_ip

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

#: MACs that many machines report at once: virtual adapters with a fixed address, privacy placeholders. Each
#: entry says where the value comes from; a value missing here is still caught once it is held by more than
#: ``IDENTIFIER_SHARED_LIMIT`` assets (see :mod:`.identify`).
_SHARED_MACS: dict[str, str] = {
    # Android 6+/iOS return this instead of the real MAC to apps without the privilege to read it.
    "02:00:00:00:00:00": "privacy placeholder (Android/iOS)",
    # Microsoft KM-TEST loopback adapter, also installed by Npcap as "Npcap Loopback Adapter".
    "02:00:4c:4f:4f:50": "Microsoft loopback adapter",
    # Cisco AnyConnect Secure Mobility "Virtual Miniport Adapter for Windows": the same address on every client.
    "00:05:9a:3c:7a:00": "Cisco AnyConnect virtual adapter",
    # Palo Alto Networks GlobalProtect "PANGP Virtual Ethernet Adapter": the same address on every client.
    "02:50:41:00:00:01": "Palo Alto GlobalProtect virtual adapter",
    # Fortinet FortiClient "Fortinet SSL VPN Virtual Ethernet Adapter": the same address on every client.
    "00:09:0f:aa:00:01": "Fortinet FortiClient SSL VPN virtual adapter",
    # Apple T2/Touch Bar Macs: the internal "iBridge" USB Ethernet link (en5) has this address on every Mac.
    "ac:de:48:00:11:22": "Apple iBridge/T2 internal interface",
}
#: Address prefixes whose whole range is handed out by virtualization software, never burnt into a NIC, and
#: repeated from machine to machine.
_SHARED_MAC_PREFIXES: tuple[tuple[str, str], ...] = (
    # Docker assigns every container interface and every docker0/bridge network a MAC under 02:42 (container
    # MACs are 02:42 + the container's IP, so 02:42:ac:11:00:02 is the first container on every default host).
    ("02:42:", "Docker bridge/container MAC (02:42:*)"),
    # VMware Workstation/Fusion host virtual adapters VMnet<n> are 00:50:56:C0:00:<n> (VMnet1 host-only, VMnet8
    # NAT) on every host (VMware's documented static range for host adapters).
    ("00:50:56:c0:00:", "VMware Workstation/Fusion host virtual adapter (00:50:56:c0:00:*)"),
    # VirtualBox host-only adapters on Windows hosts are 0A:00:27:00:00:<n> on every host.
    ("0a:00:27:00:00:", "VirtualBox host-only adapter (0a:00:27:00:00:*)"),
)

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


def serial_junk(normalized: str) -> str | None:
    return _placeholder_reason(normalized)


def uuid_junk(normalized: str) -> str | None:
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


def cloud_instance_junk(normalized: str) -> str | None:
    return _placeholder_reason(normalized.upper())


#: The junk test of each strong identifier kind, by kind name (vetoes test the values a candidate holds again:
#: the junk lists grow, identifiers stored before may be junk now).
STRONG_JUNK = {"serial_number": serial_junk, "hardware_uuid": uuid_junk, "cloud_instance_id": cloud_instance_junk}


def mac_junk(normalized: str) -> str | None:
    if not normalized:
        return "not a MAC address"
    digits = set(normalized.replace(":", ""))
    if digits == {"0"}:
        return "all-zero MAC"
    if digits == {"f"}:
        return "broadcast MAC"
    if int(normalized[:2], 16) & 1:
        return "multicast MAC"
    shared = _SHARED_MACS.get(normalized)
    if shared:
        return f"MAC shared by many machines ({shared})"
    for prefix, what in _SHARED_MAC_PREFIXES:
        if normalized.startswith(prefix):
            return f"MAC shared by many machines ({what})"
    return None


def ip_junk(normalized: str) -> str | None:
    return address_junk(parse_ip(normalized))


def address_junk(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> str | None:
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


#: The reason :func:`host_junk` gives for an address in a host-name field; normalization tests for this very
#: object, because such a name must not be split into a short name and a domain.
IP_AS_HOST = "IP address used as host name"


def host_junk(normalized: str) -> str | None:
    """Junk test shared by hostnames and FQDNs (``localhost.localdomain``,
    ``ip-10-0-0-1.ec2.internal``...)."""
    if parse_ip(normalized) is not None:
        return IP_AS_HOST
    if _DOTTED_QUAD_PREFIX.match(normalized):
        return "IP-encoded host name"
    if normalized in _PLACEHOLDER_HOSTS or normalized == "localhost.localdomain":
        return "placeholder host name"
    return _label_junk(first_label(normalized))
