"""The CSAM payload format: a Qualys CSAM "Import Third-Party Assets" push.

Mapping
-------
``identityAttributes``: ``sourceNativeKey`` → ``source_key`` (required), ``hostName`` → ``hostname``,
``fqdn``, ``netBiosName`` → ``netbios_name``, ``ipAddress`` → ``ip_addresses``, ``macAddress`` →
``mac_addresses``, ``serialNumber`` → ``serial_number``, ``hardwareUuid`` → ``hardware_uuid``,
``instanceUuid`` → ``cloud_instance_id``.

``coreAttributes``: ``operatingSystem`` → ``os``, ``osVersion`` → ``os_version``, ``manufacturer`` / ``model``
(falling back to ``biosInfo.manufacturer`` / ``biosInfo.model``), ``cloudProvider`` (or ``provider``) →
``cloud_provider``, ``assetType`` (or ``type``) → ``asset_type``, ``tags`` (strings or ``{"name": ...}``
objects) → ``tags``, ``address`` (the asset's main IP, as CSAM's own connectors send it) is appended to
``ip_addresses``, ``dnsName`` → ``fqdn`` when the identity has none. ``networkInterfaces[].address`` /
``addressV6`` (the field names of CSAM's connector clients) and ``ipAddress`` / ``ipv4Address`` /
``ipv6Address``, and ``.macAddress``, are appended to the identity addresses (deduplicated, order kept); a
NIC's ``gatewayAddress``, ``dnsAddress``, ``interfaceName`` and ``hostname`` are not the asset's and stay in
``csam.networkInterfaces`` only. If there is still no ``fqdn`` but ``hostName`` and ``coreAttributes.domain``
are present, ``fqdn`` is ``hostName + "." + domain`` (or ``hostName`` itself when it already ends with the
domain). Identity and core keys CSAM knows but the inventory has no column for (``networkUuid``,
``qualysAssetId``, ``instanceUuidSource``, ``lastLoggedOnUser``, ``osArchitecture``, ``domainRole``,
``isContainer``…) are kept as ``csam.*`` attributes like any unknown key.

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

``RecordError.field`` is the full path, e.g. ``"assetData[3].identityAttributes.serialNumber"``
(``"assetData[3]"`` when the entry itself is not an object).

How an entry is read
--------------------
Each section (identity, core, the entry itself) is walked once, in the sender's key order, through the same
table-driven loop (:func:`_read_section`): a key is a plain scalar (``*_SCALARS``), has a handler of its own
(``*_HANDLERS``), is read elsewhere (``*_SKIPPED``) or is kept as a ``csam.*`` attribute. What depends on
several keys (BIOS fallbacks, network interfaces, the FQDN from the domain) is applied afterwards, in a fixed
order, so the first error reported for a bad entry does not depend on where a key sits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from assets.engine.records import AssetRecord, ParsedBatch, RecordError

from .decode import PayloadError, check_record_count
from .values import (
    MAX_ATTRIBUTES,
    MAX_LIST_ITEMS,
    MAX_STRING_LENGTH,
    FieldError,
    check_json_value,
    kind,
    merge_attributes,
    merge_unique,
    put_scalar,
    source_key,
    text,
    text_list,
    timestamp,
)

__all__ = ["CORE_SCALARS", "IDENTITY_SCALARS", "csam_connector_uuid", "parse_csam"]

IDENTITY = "identityAttributes."
CORE = "coreAttributes."

#: identityAttributes key → record field.
IDENTITY_SCALARS = {
    "hostName": "hostname",
    "fqdn": "fqdn",
    "netBiosName": "netbios_name",
    "serialNumber": "serial_number",
    "hardwareUuid": "hardware_uuid",
    "instanceUuid": "cloud_instance_id",
}
#: coreAttributes key → record field.
CORE_SCALARS = {
    "operatingSystem": "os",
    "osVersion": "os_version",
    "manufacturer": "manufacturer",
    "model": "model",
    "cloudProvider": "cloud_provider",
    "assetType": "asset_type",
}
#: Used only when the preferred field above is missing or empty.
_CORE_FALLBACKS = {"provider": "cloud_provider", "type": "asset_type", "dnsName": "fqdn"}
_BIOS_FALLBACKS = {"manufacturer": "manufacturer", "model": "model"}
_NIC_IP_KEYS = ("address", "addressV6", "ipAddress", "ipv4Address", "ipv6Address")
_LAST_SEEN_KEYS = ("lastSeen", "lastScanDate")
_CSAM_SHAPE = 'expected an object with "connectorMetaData" and an "assetData" array'


@dataclass
class _Entry:
    """One asset entry being read: the record's fields so far, and what is applied once every key is seen."""

    values: dict[str, object] = field(default_factory=dict)
    attributes: dict = field(default_factory=dict)
    ip_addresses: tuple[str, ...] = ()
    mac_addresses: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    fallbacks: dict[str, str] = field(default_factory=dict)
    domain: str = ""
    bios: object = None
    nics: object = None
    core_ips: tuple[str, ...] = ()

    def keep(self, name: str, value: object, path: str) -> None:
        """An unmapped key, kept as a ``csam.*`` attribute."""
        check_json_value(value, path)
        self.attributes[f"csam.{name}"] = value


# --- the per-key handlers of each section -------------------------------------------------------------------

Handler = Callable[[_Entry, object, str], None]


def _set_ip_addresses(entry: _Entry, value: object, path: str) -> None:
    entry.ip_addresses = text_list(value, path)


def _set_mac_addresses(entry: _Entry, value: object, path: str) -> None:
    entry.mac_addresses = text_list(value, path)


def _fallback(target: str) -> Handler:
    def handle(entry: _Entry, value: object, path: str) -> None:
        entry.fallbacks[target] = text(value, path)

    return handle


def _set_bios(entry: _Entry, value: object, path: str) -> None:
    entry.bios = value


def _set_nics(entry: _Entry, value: object, path: str) -> None:
    entry.nics = value


def _set_core_address(entry: _Entry, value: object, path: str) -> None:
    entry.core_ips = text_list(value, path)


def _set_tags(entry: _Entry, value: object, path: str) -> None:
    entry.tags = _csam_tags(value, path)


def _set_domain(entry: _Entry, value: object, path: str) -> None:
    entry.domain = text(value, path)


def _ignore(entry: _Entry, value: object, path: str) -> None:
    """Read elsewhere (the source key, the timestamps, the custom attributes)."""


_IDENTITY_HANDLERS: dict[str, Handler] = {
    "ipAddress": _set_ip_addresses,
    "macAddress": _set_mac_addresses,
    "sourceNativeKey": _ignore,
}
_CORE_HANDLERS: dict[str, Handler] = {
    **{name: _fallback(target) for name, target in _CORE_FALLBACKS.items()},
    "biosInfo": _set_bios,
    "networkInterfaces": _set_nics,
    "address": _set_core_address,
    "tags": _set_tags,
    "domain": _set_domain,
    "customConnectorAttributes": _ignore,
    **dict.fromkeys(_LAST_SEEN_KEYS, _ignore),
}
_ENTRY_HANDLERS: dict[str, Handler] = dict.fromkeys(
    ("identityAttributes", "coreAttributes", "sourceLastUpdatedDate", *_LAST_SEEN_KEYS), _ignore
)


def _read_section(entry: _Entry, section: dict, prefix: str, scalars: dict[str, str], handlers: dict) -> None:
    """Walk one section in the sender's key order: map scalars, dispatch handled keys, keep the rest."""
    values = entry.values
    for name, value in section.items():
        target = scalars.get(name)
        if target is not None:
            put_scalar(values, target, value, prefix + name)
        elif (handler := handlers.get(name)) is not None:
            handler(entry, value, prefix + name)
        else:
            entry.keep(name, value, prefix + str(name))


def _csam_tags(value: object, path: str) -> tuple[str, ...]:
    """Tags as strings or ``{"name": ...}`` objects; duplicates and empty names dropped."""
    if value is None:
        return ()
    if not isinstance(value, list):
        return text_list(value, path)
    if len(value) > MAX_LIST_ITEMS:
        raise FieldError(path, f"must be an array of at most {MAX_LIST_ITEMS} tags")
    tags: dict[str, None] = {}
    for position, item in enumerate(value):
        if isinstance(item, dict):
            item_path = f"{path}[{position}].name"
            item = item.get("name")
            if item is None:
                raise FieldError(item_path, "is required")
        else:
            item_path = f"{path}[{position}]"
            if isinstance(item, list):
                raise FieldError(item_path, 'must be a string or an object with a "name" string')
        tag = text(item, item_path)
        if tag:
            tags[tag] = None
    return tuple(tags)


# --- what depends on several keys, applied once the sections are read ----------------------------------------


def _apply_bios(entry: _Entry) -> None:
    """``biosInfo.manufacturer`` / ``.model`` become fallbacks; its other keys are kept as ``csam.biosInfo``."""
    if entry.bios is None:
        return
    path = CORE + "biosInfo"
    if not isinstance(entry.bios, dict):
        raise FieldError(path, f"must be a JSON object (got {kind(entry.bios)})")
    rest = {}
    for name, value in entry.bios.items():
        target = _BIOS_FALLBACKS.get(name)
        if target is not None:
            entry.fallbacks[target] = text(value, f"{path}.{name}")
        else:
            rest[name] = value
    if rest:
        check_json_value(rest, path)
        entry.attributes["csam.biosInfo"] = rest


def _apply_fallbacks(entry: _Entry) -> None:
    values = entry.values
    for target, value in entry.fallbacks.items():
        if value and not values.get(target):
            values[target] = value


def _apply_core_address(entry: _Entry) -> None:
    """``coreAttributes.address`` joins the identity IPs (after them, before the interfaces')."""
    if entry.core_ips:
        entry.ip_addresses = merge_unique([*entry.ip_addresses, *entry.core_ips], CORE + "address", "IP addresses")


def _apply_network_interfaces(entry: _Entry) -> None:
    """Append each interface's addresses to the identity ones; keep the whole list as ``csam.networkInterfaces``."""
    nics = entry.nics
    if nics is None:
        return
    path = CORE + "networkInterfaces"
    if not isinstance(nics, list):
        raise FieldError(path, f"must be an array of objects (got {kind(nics)})")
    ips = list(entry.ip_addresses)
    macs = list(entry.mac_addresses)
    for position, nic in enumerate(nics):
        nic_path = f"{path}[{position}]"
        if not isinstance(nic, dict):
            raise FieldError(nic_path, f"must be a JSON object (got {kind(nic)})")
        for name in _NIC_IP_KEYS:
            value = nic.get(name)
            if value is not None:
                ips.extend(text_list(value, f"{nic_path}.{name}"))
        value = nic.get("macAddress")
        if value is not None:
            macs.extend(text_list(value, f"{nic_path}.macAddress"))
    check_json_value(nics, path)
    entry.attributes["csam.networkInterfaces"] = nics
    entry.ip_addresses = merge_unique(ips, path, "IP addresses")
    entry.mac_addresses = merge_unique(macs, path, "MAC addresses")


def _apply_domain(entry: _Entry) -> None:
    """Keep ``csam.domain``; without an ``fqdn``, derive one from the hostname and the domain if it fits."""
    domain = entry.domain
    if not domain:
        return
    entry.attributes["csam.domain"] = domain
    values = entry.values
    hostname = values.get("hostname")
    bare = domain.strip(".")
    if hostname and bare and not values.get("fqdn"):
        if hostname.lower().endswith("." + bare.lower()):
            values["fqdn"] = hostname
        elif len(hostname) + 1 + len(bare) <= MAX_STRING_LENGTH:
            values["fqdn"] = f"{hostname}.{bare}"


def _last_seen(item: dict, core: dict):
    """The first of lastSeen / lastScanDate in coreAttributes, then on the entry (``None`` if none is given)."""
    for section, prefix in ((core, CORE), (item, "")):
        for name in _LAST_SEEN_KEYS:
            last_seen = timestamp(section.get(name), prefix + name)
            if last_seen is not None:
                return last_seen
    return None


def _check_attribute_count(attributes: dict) -> None:
    if len(attributes) > MAX_ATTRIBUTES:
        raise FieldError(
            "",
            f"has more than {MAX_ATTRIBUTES} attributes once customConnectorAttributes and the unmapped "
            "fields are merged",
        )


# --- one entry, one body -----------------------------------------------------------------------------------


def _core_attributes(item: dict) -> dict:
    core = item.get("coreAttributes")
    if core is None:
        return {}
    if not isinstance(core, dict):
        raise FieldError("coreAttributes", f"must be a JSON object (got {kind(core)})")
    return core


def _csam_record(item: dict, identity: dict, key: str) -> AssetRecord:
    """One ``assetData`` entry as a record; the steps run in this order so the first error found is stable."""
    core = _core_attributes(item)
    entry = _Entry()
    custom = core.get("customConnectorAttributes")
    if custom is not None:
        merge_attributes(custom, CORE + "customConnectorAttributes", entry.attributes)
    _read_section(entry, identity, IDENTITY, IDENTITY_SCALARS, _IDENTITY_HANDLERS)
    _read_section(entry, core, CORE, CORE_SCALARS, _CORE_HANDLERS)
    _apply_bios(entry)
    _apply_fallbacks(entry)
    _apply_core_address(entry)
    _apply_network_interfaces(entry)
    _apply_domain(entry)
    updated_at = timestamp(item.get("sourceLastUpdatedDate"), "sourceLastUpdatedDate")
    last_seen = _last_seen(item, core)
    _read_section(entry, item, "", {}, _ENTRY_HANDLERS)
    _check_attribute_count(entry.attributes)
    return AssetRecord(
        source_key=key,
        ip_addresses=entry.ip_addresses,
        mac_addresses=entry.mac_addresses,
        tags=entry.tags,
        attributes=entry.attributes,
        updated_at=updated_at,
        last_seen=last_seen if last_seen is not None else updated_at,
        **entry.values,
    )


def _identity_attributes(item: object) -> dict:
    if not isinstance(item, dict):
        raise FieldError("", f"must be a JSON object (got {kind(item)})")
    identity = item.get("identityAttributes")
    if identity is None:
        raise FieldError(IDENTITY + "sourceNativeKey", "is required")
    if not isinstance(identity, dict):
        raise FieldError("identityAttributes", f"must be a JSON object (got {kind(identity)})")
    return identity


#: Longest ``requestId`` accepted (as long as a header may be); the whole of it is the idempotency key.
MAX_REQUEST_ID_LENGTH = 8190


def _request_id(data: dict) -> str:
    meta = data.get("connectorMetaData")
    if meta is None:
        return ""
    if not isinstance(meta, dict):
        raise PayloadError(f'"connectorMetaData" must be a JSON object (got {kind(meta)}).', field="connectorMetaData")
    request_id = meta.get("requestId")
    if request_id is None:
        return ""
    if type(request_id) is str and len(request_id) <= MAX_REQUEST_ID_LENGTH:
        # The idempotency key: any length a header could carry; the inbox stores a long one as its hash.
        return request_id.strip()
    try:
        return text(request_id, "connectorMetaData.requestId")
    except FieldError as exc:
        raise PayloadError(f'"connectorMetaData.requestId" {exc.message}.', field=exc.field) from None


def _asset_data(data: dict) -> list:
    if "assetData" not in data:
        raise PayloadError(f'The body has no "assetData": {_CSAM_SHAPE}.', field="assetData")
    asset_data = data["assetData"]
    if not isinstance(asset_data, list):
        raise PayloadError(
            f'"assetData" must be an array of asset objects (got {kind(asset_data)}).', field="assetData"
        )
    check_record_count(len(asset_data))
    return asset_data


def parse_csam(data: object) -> ParsedBatch:
    """Parse a decoded Qualys CSAM connector push (see the module docstring)."""
    if not isinstance(data, dict):
        raise PayloadError(f"The body is {kind(data)}: {_CSAM_SHAPE}.")
    batch = ParsedBatch(request_id=_request_id(data))
    errors = batch.errors
    for index, item in enumerate(_asset_data(data)):
        key = ""
        try:
            identity = _identity_attributes(item)
            key = source_key(identity.get("sourceNativeKey"), IDENTITY + "sourceNativeKey")
            batch.add(index, _csam_record(item, identity, key))
        except FieldError as exc:
            prefix = f"assetData[{index}]"
            errors.append(RecordError(index, f"{prefix}.{exc.field}" if exc.field else prefix, exc.message, key))
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
