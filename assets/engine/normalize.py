"""Record normalization: one reported record becomes what to store and the identifiers it may be matched on."""

from __future__ import annotations

from dataclasses import dataclass

from .identifiers import (
    CLOUD_INSTANCE,
    FQDN,
    HARDWARE_UUID,
    HOSTNAME,
    IDENTIFIER_KINDS,
    IP,
    MAC,
    SERIAL,
    as_values,
    clean_text,
    first_label,
    normalize_cloud_instance_id,
    normalize_fqdn,
    normalize_hostname,
    normalize_mac,
    normalize_serial,
    normalize_uuid,
    parse_ip,
)
from .junk import IP_AS_HOST, address_junk, cloud_instance_junk, host_junk, mac_junk, serial_junk, uuid_junk
from .records import REPORTED_ATTRIBUTES, AssetRecord


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


def _dedupe(values: list[str]) -> tuple[str, ...]:
    """Distinct non-empty values in first-seen order (a source listing an IP twice is still one IP)."""
    if len(values) < 2:  # most lists: no generator needed
        return (values[0],) if values and values[0] else ()
    return tuple(dict.fromkeys(value for value in values if value))


#: What a normalized record stores, in this order (the order of its JSON, hence of its digest).
_STORED = (*REPORTED_ATTRIBUTES, "attributes")


def normalize_record(record: AssetRecord) -> NormalizedRecord:
    """Normalize one record and sort its values into "store" and "match on".

    Each step fills ``attributes`` (what to store), ``identifiers`` (what to match on) and ``ignored`` (why a
    reported value is not matched on, in the order the steps run: the decision log lists them so). How a
    hostname and an FQDN inform each other is told by :func:`_host_names`.
    """
    ignored: list[str] = []
    identifiers: dict[str, tuple[str, ...]] = dict.fromkeys(IDENTIFIER_KINDS, ())
    attributes: dict[str, object] = {}
    _host_names(record, attributes, identifiers, ignored)
    _scalar_identifiers(record, attributes, identifiers, ignored)
    _list_identifiers(record, attributes, identifiers, ignored)
    _descriptive_attributes(record, attributes)
    return NormalizedRecord(
        record=record,
        attributes={name: attributes[name] for name in _STORED},
        identifiers=identifiers,
        ignored=tuple(dict.fromkeys(ignored)),
    )


def _host_names(
    record: AssetRecord, attributes: dict[str, object], identifiers: dict[str, tuple[str, ...]], ignored: list[str]
) -> None:
    """Hostname and FQDN, which inform each other.

    A hostname given as an FQDN (``web-01.corp.example.com``) is stored and matched as the short name
    ``web-01``, and its full name serves as the FQDN when the record has none. When the record has no usable
    hostname (absent or junk), the first label of its FQDN becomes the hostname identifier (and the stored
    hostname if none was reported). An ``fqdn`` without a dot is not an FQDN: it is only used as a hostname.
    """
    host = normalize_hostname(record.hostname)
    host_why = host_junk(host) if host else None
    short_host, host_fqdn = host, ""
    if "." in host and host_why is not IP_AS_HOST:  # a dotted hostname carries its domain with it
        label = first_label(host)
        if label:
            short_host, host_fqdn = label, host
    given_fqdn = normalize_fqdn(record.fqdn)
    fqdn = given_fqdn or host_fqdn
    if not fqdn:
        fqdn_junk = None
    elif fqdn == host:
        fqdn_junk = host_why
    else:
        fqdn_junk = host_junk(fqdn)
    fqdn_label = first_label(fqdn) if fqdn and fqdn_junk is not IP_AS_HOST else ""
    attributes["hostname"] = short_host or fqdn_label
    attributes["fqdn"] = fqdn

    if host_why:
        ignored.append(f"hostname ignored: {host_why} {clean_text(record.hostname)!r}")
    if fqdn_junk:
        if given_fqdn:  # a junk FQDN derived from a junk hostname was already reported above
            ignored.append(f"fqdn ignored: {fqdn_junk} {clean_text(record.fqdn)!r}")
    elif fqdn and "." in fqdn:
        identifiers[FQDN] = (fqdn,)
    elif given_fqdn:
        ignored.append(f"fqdn ignored: no domain part in {clean_text(record.fqdn)!r} (used as a hostname only)")
    if short_host and not host_why:
        identifiers[HOSTNAME] = (short_host,)
    elif fqdn_label and not fqdn_junk:
        identifiers[HOSTNAME] = (fqdn_label,)


def _scalar_identifiers(
    record: AssetRecord, attributes: dict[str, object], identifiers: dict[str, tuple[str, ...]], ignored: list[str]
) -> None:
    """Serial number, hardware UUID and cloud instance ID: stored normalized, matched on unless junk."""
    for kind, raw, normalizer, junk_test in (
        (SERIAL, record.serial_number, normalize_serial, serial_junk),
        (HARDWARE_UUID, record.hardware_uuid, normalize_uuid, uuid_junk),
        (CLOUD_INSTANCE, record.cloud_instance_id, normalize_cloud_instance_id, cloud_instance_junk),
    ):
        value = normalizer(raw)
        attributes[kind] = value
        if not value:
            continue
        why = junk_test(value)
        if why:
            ignored.append(f"{kind} ignored: {why} {clean_text(raw)!r}")
        else:
            identifiers[kind] = (value,)


def _list_identifiers(
    record: AssetRecord, attributes: dict[str, object], identifiers: dict[str, tuple[str, ...]], ignored: list[str]
) -> None:
    """IP and MAC addresses: every valid reported value is stored normalized (junk ones too), the good ones
    matched; one that does not parse is dropped."""
    stored: list[str] = []
    usable: list[str] = []
    for raw in as_values(record.ip_addresses):
        text = clean_text(raw)
        if not text:
            continue
        address = parse_ip(text)
        if address is None:  # invalid: never stored as if it were real (validation drops it before, with a warning)
            ignored.append(f"{IP} dropped: not an IP address {text!r}")
            continue
        value = str(address)
        stored.append(value)
        why = address_junk(address)
        if why:
            ignored.append(f"{IP} ignored: {why} {text!r}")
        else:
            usable.append(value)
    attributes["ip_addresses"] = _dedupe(stored)
    identifiers[IP] = _dedupe(usable)

    stored = []
    usable = []
    for raw in as_values(record.mac_addresses):
        text = clean_text(raw)
        if not text:
            continue
        value = normalize_mac(text)
        if not value:
            ignored.append(f"{MAC} dropped: not a MAC address {text!r}")
            continue
        stored.append(value)
        why = mac_junk(value)
        if why:
            ignored.append(f"{MAC} ignored: {why} {text!r}")
        else:
            usable.append(value)
    attributes["mac_addresses"] = _dedupe(stored)
    identifiers[MAC] = _dedupe(usable)


def _descriptive_attributes(record: AssetRecord, attributes: dict[str, object]) -> None:
    """Attributes that are stored but never matched on."""
    attributes["netbios_name"] = clean_text(record.netbios_name).upper()
    attributes["cloud_provider"] = clean_text(record.cloud_provider).lower()
    for name in ("os", "os_version", "manufacturer", "model", "asset_type"):
        attributes[name] = clean_text(getattr(record, name))
    attributes["tags"] = _dedupe([clean_text(tag) for tag in as_values(record.tags)])
    attributes["attributes"] = dict(record.attributes or {})


#: Attributes that identify a machine; the others (OS, model, tags...) only describe it.
IDENTITY_ATTRIBUTES: tuple[str, ...] = (
    "hostname",
    "fqdn",
    "serial_number",
    "hardware_uuid",
    "cloud_instance_id",
    "ip_addresses",
    "mac_addresses",
)


def junk_only(normalized: NormalizedRecord) -> str | None:
    """Why a record must not become a new asset because its only identifying values are junk, or ``None``.

    A record that reports identifying values (a host name, a serial, addresses...) all of which are junk
    (``localhost``, ``127.0.0.1``, serial ``To be filled by O.E.M.``) says nothing about which machine it is: a new
    asset made from it would be a nameless duplicate of some real one. A record that reports no identifying value
    at all is not concerned (its source key is its identity), nor is one already known by its source key."""
    if any(normalized.identifiers.values()):
        return None
    if not any(normalized.attributes.get(name) for name in IDENTITY_ATTRIBUTES):
        return None
    return (
        "skipped: the record's only identifying values are junk (placeholders, loopback or link-local values, "
        "listed above), which identify no machine: no asset is made from it"
    )
