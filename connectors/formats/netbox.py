"""The NetBox payload format: the default body of a NetBox 4.x event-rule webhook, unchanged.

NetBox sends one event per request (``extras/webhooks.py``, ``send_webhook``): ``json.dumps`` of
``{"event", "timestamp", "object_type", "username", "request_id", "data", "snapshots", "request"}``, where
``event`` is ``created``/``updated``/``deleted``, ``object_type`` is ``<app_label>.<model>`` (NetBox 4.4+; 4.4
also sends ``model``, 4.5 only ``object_type``; before 4.4 only ``model``, the bare model name such as
``"device"``) and ``data`` is the object's REST serialization. A body holding an array of such events is read
too, one entry per event.

Devices and virtual machines
----------------------------
``dcim.device`` and ``virtualization.virtualmachine`` become records with ``source_key``
``<object_type>:<id>`` (``dcim.device:42``; the same key whether the sender names ``object_type`` or ``model``):
``name`` → ``hostname`` (a dotted name is also the ``fqdn`` and its first label the hostname), ``serial`` →
``serial_number``, ``primary_ip4``/``primary_ip6``/``oob_ip`` ``.address`` without the prefix length →
``ip_addresses``, ``device_type.manufacturer.name`` → ``manufacturer``, ``device_type.model`` → ``model``,
``platform.name`` → ``os``, ``role.name`` (``device_role`` before NetBox 4.0) → ``asset_type``, ``tags[].name``
→ ``tags``, ``last_updated`` → ``updated_at`` (so an older event never overwrites a newer one). Kept as source
attributes: ``netbox.object_type``, ``netbox.id``, ``netbox.url`` (``display_url``), ``netbox.site``,
``netbox.location``, ``netbox.rack``, ``netbox.status`` (its value), ``netbox.asset_tag``, ``netbox.tenant``,
``netbox.cluster``, ``netbox.description`` and ``netbox.custom_fields`` (the object as NetBox sends it). A
``deleted`` event puts the key in ``ParsedBatch.deleted``. ``snapshots`` and ``request`` are not needed:
``data`` is the object's state after the change.

Interfaces, IP addresses and MAC addresses
------------------------------------------
``dcim.interface``, ``virtualization.vminterface``, ``ipam.ipaddress`` and ``dcim.macaddress`` events name their
parent device or VM, but they are **reported as ignored**, with a note naming the parent's source key and the
MAC or IP, instead of being added to the parent's record. The worker keeps one source record per (connector,
source key) and replaces it whole with each report, and reconciliation takes a list attribute (IPs, MACs) from
one source record, not the union: a record for ``dcim.device:42`` carrying only an interface's MAC would wipe
the device's name, serial and IPs, and a separate record for the interface would not be identified with the
device (it has no identifier in common with it) and would create an unmanaged asset of its own. Merging them
safely needs per-key additions in the writer, which this format does not pretend to do. The device's primary
and out-of-band IPs still arrive with the device's own events (NetBox sends a device ``updated`` event when
they change).

Anything else (sites, prefixes, cables, job events…) is accepted and reported as ignored, never an error.
``RecordError.field`` is ``data.<field>`` (or the top-level key) and ``index`` the event's position (``0`` for
the usual single event).
"""

from __future__ import annotations

from assets.engine.records import AssetRecord, IgnoredItem, ParsedBatch, RecordError

from .decode import PayloadError, check_record_count
from .values import FieldError, check_json_value, kind, merge_unique, put_scalar, source_key, text, timestamp

__all__ = ["ASSET_TYPES", "parse_netbox"]

DEVICE = "dcim.device"
VIRTUAL_MACHINE = "virtualization.virtualmachine"
#: The object types that become asset records.
ASSET_TYPES = (DEVICE, VIRTUAL_MACHINE)
#: ``model`` as NetBox before 4.5 sent it (the bare model name) → ``object_type``.
_MODEL_TYPES = {
    "device": DEVICE,
    "virtualmachine": VIRTUAL_MACHINE,
    "interface": "dcim.interface",
    "vminterface": "virtualization.vminterface",
    "ipaddress": "ipam.ipaddress",
    "macaddress": "dcim.macaddress",
}
_EVENTS = ("created", "updated", "deleted")
#: Nested objects kept by name as ``netbox.<key>``.
_NAMED_ATTRIBUTES = ("site", "location", "rack", "tenant", "cluster")
_NOT_MERGED = (
    "not added to {parent}: the hub keeps one record per NetBox object and a partial record would replace the "
    "device's (see the NetBox section of the README)"
)
_SHAPE = 'expected a NetBox webhook body: an object with "event", "object_type" (or "model") and "data"'


def _object_type(event: dict) -> str:
    value = event.get("object_type")
    if value is None:
        model = event.get("model")
        if model is None:
            raise FieldError("object_type", 'is required (or "model", as NetBox sent before 4.5)')
        name = text(model, "model")
        return _MODEL_TYPES.get(name.lower(), name)
    return text(value, "object_type").lower()


def _name(value: object, path: str) -> str:
    """A nested NetBox object's ``name`` (brief serializations), or the value itself when it is a string."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return text(value.get("name"), f"{path}.name")
    return text(value, path)


def _address(value: object, path: str) -> str:
    """An IP address object (or string) without its prefix length: ``"10.0.0.5/24"`` → ``"10.0.0.5"``."""
    if value is None:
        return ""
    if isinstance(value, dict):
        value, path = value.get("address"), f"{path}.address"
    return text(value, path).split("/", 1)[0]


def _tags(value: object) -> tuple[str, ...]:
    """``tags`` as NetBox serializes them (objects with a ``name``), or plain names (snapshots)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FieldError("data.tags", f"must be an array of tags (got {kind(value)})")
    names = [_name(tag, f"data.tags[{position}]") for position, tag in enumerate(value)]
    return merge_unique([name for name in names if name], "data.tags", "tags")


def _host_names(values: dict, name: str) -> None:
    if "." in name.strip(".") and not name.replace(".", "").isdigit():
        values["fqdn"] = name
        values["hostname"] = name.split(".", 1)[0]
    elif name:
        values["hostname"] = name


def _asset_attributes(object_type: str, data: dict) -> dict:
    attributes: dict = {"netbox.object_type": object_type, "netbox.id": data.get("id")}
    url = data.get("display_url")
    if url is not None:
        attributes["netbox.url"] = text(url, "data.display_url")
    for key in _NAMED_ATTRIBUTES:
        name = _name(data.get(key), f"data.{key}")
        if name:
            attributes[f"netbox.{key}"] = name
    status = data.get("status")
    if isinstance(status, dict):
        status = status.get("value")
    for key, value in (
        ("status", status),
        ("asset_tag", data.get("asset_tag")),
        ("description", data.get("description")),
    ):
        value = text(value, f"data.{key}")
        if value:
            attributes[f"netbox.{key}"] = value
    custom = data.get("custom_fields")
    if custom:
        check_json_value(custom, "data.custom_fields")
        attributes["netbox.custom_fields"] = custom
    return attributes


def _asset_record(object_type: str, data: dict, key: str) -> AssetRecord:
    """A device or VM as a record (see the module docstring)."""
    values: dict[str, object] = {}
    _host_names(values, text(data.get("name"), "data.name"))
    put_scalar(values, "serial_number", data.get("serial"), "data.serial")
    device_type = data.get("device_type")
    if isinstance(device_type, dict):
        values["manufacturer"] = _name(device_type.get("manufacturer"), "data.device_type.manufacturer")
        put_scalar(values, "model", device_type.get("model"), "data.device_type.model")
    values["os"] = _name(data.get("platform"), "data.platform")
    role = data.get("role") if data.get("role") is not None else data.get("device_role")
    values["asset_type"] = _name(role, "data.role")
    ips = [_address(data.get(name), f"data.{name}") for name in ("primary_ip4", "primary_ip6", "oob_ip")]
    return AssetRecord(
        source_key=key,
        ip_addresses=merge_unique([ip for ip in ips if ip], "data", "IP addresses"),
        tags=_tags(data.get("tags")),
        attributes=_asset_attributes(object_type, data),
        updated_at=timestamp(data.get("last_updated"), "data.last_updated"),
        **values,
    )


def _parent(assigned: object) -> str:
    """The source key of the device or VM an interface (brief serialization) belongs to, or ``""``."""
    if not isinstance(assigned, dict):
        return ""
    for field, object_type in (("device", DEVICE), ("virtual_machine", VIRTUAL_MACHINE)):
        parent = assigned.get(field)
        if isinstance(parent, dict) and parent.get("id") is not None:
            return f"{object_type}:{parent['id']}"
    return ""


def _interface_macs(data: dict) -> list[str]:
    macs = [data.get("mac_address")]
    primary = data.get("primary_mac_address")
    if isinstance(primary, dict):
        macs.append(primary.get("mac_address"))
    for item in data.get("mac_addresses") or ():
        if isinstance(item, dict):
            macs.append(item.get("mac_address"))
    return list(dict.fromkeys(str(mac) for mac in macs if mac))


def _component_note(object_type: str, data: dict) -> str:
    """Why an interface, IP address or MAC address event changes nothing, naming its parent and value."""
    if object_type in ("dcim.interface", "virtualization.vminterface"):
        parent, values = _parent(data), _interface_macs(data)
        what = f"MAC {', '.join(values)}" if values else "no MAC address"
    else:
        parent = _parent(data.get("assigned_object"))
        value = data.get("address") if object_type == "ipam.ipaddress" else data.get("mac_address")
        what = f"{'IP' if object_type == 'ipam.ipaddress' else 'MAC'} {_address(value, 'data.address')}"
    if not parent:
        return f"{what}: not assigned to a device or virtual machine"
    return f"{what} of {parent} {_NOT_MERGED.format(parent=parent)}"


_COMPONENTS = ("dcim.interface", "virtualization.vminterface", "ipam.ipaddress", "dcim.macaddress")


def _read_event(index: int, event: object, batch: ParsedBatch) -> None:
    """One webhook event into the batch: a record, a deletion or an ignored item (FieldError if unusable)."""
    if not isinstance(event, dict):
        raise FieldError("", f"each event must be a JSON object (got {kind(event)})")
    object_type = _object_type(event)
    action = text(event.get("event"), "event")
    data = event.get("data")
    if not isinstance(data, dict):
        raise FieldError("data", f"must be a JSON object (got {kind(data)})")
    label = f"{object_type}:{data.get('id')} {action}"
    if object_type not in ASSET_TYPES and object_type not in _COMPONENTS:
        batch.ignored.append(IgnoredItem(index, label, f"{object_type} is not an asset type"))
    elif action not in _EVENTS:
        batch.ignored.append(IgnoredItem(index, label, f"the event {action!r} changes no asset"))
    elif object_type in _COMPONENTS:
        batch.ignored.append(IgnoredItem(index, label, _component_note(object_type, data)))
    else:
        key = source_key(f"{object_type}:{source_key(data.get('id'), 'data.id')}", "data.id")
        if action == "deleted":
            batch.deleted.append(key)
        else:
            batch.add(index, _asset_record(object_type, data, key))


def parse_netbox(data: object) -> ParsedBatch:
    """Parse a decoded NetBox webhook body (see the module docstring)."""
    if isinstance(data, dict):
        events = [data]
    elif isinstance(data, list):
        events = data
    else:
        raise PayloadError(f"The body is {kind(data)}: {_SHAPE}.")
    check_record_count(len(events))
    batch = ParsedBatch()
    for index, event in enumerate(events):
        try:
            _read_event(index, event, batch)
        except FieldError as exc:
            key = ""
            if isinstance(event, dict) and isinstance(event.get("data"), dict):
                key = f"{event.get('object_type') or event.get('model') or ''}:{event['data'].get('id')}"[:255]
            batch.errors.append(RecordError(index, exc.field, exc.message, key))
    return batch
