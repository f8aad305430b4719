"""The one sample asset the product shows: the test delivery, the curl example and the rules-page preview.

Every sample body is derived from :data:`SAMPLE_ASSET`, so the three always describe the same machine and an
admin who tries one after the other sees them meet in the inventory. Its values are reserved for examples
(``example.invalid``, ``192.0.2.0/24`` from RFC 5737, a locally administered MAC) so it never collides with a
real asset.
"""

from __future__ import annotations

import json

from .csam import CORE_SCALARS, IDENTITY_SCALARS

__all__ = [
    "EXAMPLE_FIELDS",
    "IDENTITY_FIELDS",
    "SAMPLE_ASSET",
    "csam_body",
    "native_body",
    "netbox_body",
    "one_field_per_line",
    "sample_record",
]

#: The sample asset, in the native format's field names.
SAMPLE_ASSET: dict[str, object] = {
    "source_key": "connector-test-asset",
    "hostname": "connector-test-01",
    "fqdn": "connector-test-01.example.invalid",
    "ip_addresses": ["192.0.2.10"],
    "mac_addresses": ["02:00:5e:10:00:01"],
    "serial_number": "TEST-CONNECTOR-0001",
    "os": "Linux",
    "os_version": "test",
    "asset_type": "test",
    "tags": ["connector-test"],
}
#: What identifies the sample: enough for the preview to show which rule decides.
IDENTITY_FIELDS = ("source_key", "hostname", "fqdn", "ip_addresses", "mac_addresses", "serial_number")
#: The identity plus the operating system: the curl example and the CSAM test delivery.
EXAMPLE_FIELDS = (*IDENTITY_FIELDS, "os", "os_version")

_CSAM_IDENTITY_NAMES = {
    "source_key": "sourceNativeKey",
    **{field: name for name, field in IDENTITY_SCALARS.items()},
    "ip_addresses": "ipAddress",
    "mac_addresses": "macAddress",
}
_CSAM_CORE_NAMES = {**{field: name for name, field in CORE_SCALARS.items()}, "tags": "tags"}


def sample_record(*fields: str) -> dict[str, object]:
    """A fresh copy of the sample asset, limited to ``fields`` (all of them when none is named)."""
    return {name: json.loads(json.dumps(value)) for name, value in SAMPLE_ASSET.items() if not fields or name in fields}


def native_body(record: dict[str, object], **extra: object) -> dict:
    """A one-asset native body; ``extra`` fields (such as ``updated_at``) are added to the asset."""
    return {"assets": [record | extra]}


def csam_body(record: dict[str, object], meta: dict[str, object], **extra: object) -> dict:
    """A one-asset CSAM push with ``meta`` as ``connectorMetaData``; ``extra`` keys are added to the entry."""
    identity = {_CSAM_IDENTITY_NAMES[name]: value for name, value in record.items() if name in _CSAM_IDENTITY_NAMES}
    core = {_CSAM_CORE_NAMES[name]: value for name, value in record.items() if name in _CSAM_CORE_NAMES}
    return {"connectorMetaData": meta, "assetData": [{"identityAttributes": identity, "coreAttributes": core, **extra}]}


#: The NetBox id the sample device gets (``dcim.device:<id>`` is its source key in the NetBox format).
NETBOX_SAMPLE_ID = 999999


def netbox_body(record: dict[str, object], *, when: str) -> dict:
    """The sample asset as NetBox's default webhook body: a ``dcim.device`` created at ``when`` (ISO 8601)."""
    ips = record.get("ip_addresses") or []
    return {
        "event": "created",
        "timestamp": when,
        "object_type": "dcim.device",
        "username": "connector-test",
        "request_id": None,
        "data": {
            "id": NETBOX_SAMPLE_ID,
            "name": record.get("fqdn") or record.get("hostname"),
            "serial": record.get("serial_number", ""),
            "platform": {"name": record["os"]} if record.get("os") else None,
            "role": {"name": record["asset_type"]} if record.get("asset_type") else None,
            "primary_ip4": {"address": f"{ips[0]}/24"} if ips else None,
            "tags": [{"name": tag} for tag in record.get("tags") or []],
            "last_updated": when,
        },
    }


def one_field_per_line(record: dict[str, object]) -> str:
    """A record as JSON that reads well in a text box: one field per line."""
    return "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in record.items()) + "\n}"
