"""Webhook deliveries exactly as NetBox 4.5/4.6 builds and sends them (``netbox/extras/webhooks.py``).

``send_webhook`` builds a context dict, renders it with ``json.dumps(context, cls=JSONEncoder)`` where
``JSONEncoder`` is DRF's ``rest_framework.utils.encoders.JSONEncoder`` (``Webhook.render_body`` without a body
template), posts it with ``requests`` (``Content-Type`` from the webhook, ``application/json`` by default) and
signs the prepared body with ``X-Hook-Signature`` = ``hmac.new(secret.encode('utf8'), body, sha512).hexdigest()``
(``generate_signature``). The ``data`` object is the REST serialization NetBox's API returns; with
``COERCE_DECIMAL_TO_STRING = False`` (NetBox's setting) decimals stay ``Decimal`` and the encoder writes them as
numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from decimal import Decimal

from rest_framework.utils.encoders import JSONEncoder

API = "https://netbox.example.com/api"
UI = "https://netbox.example.com"


def generate_signature(request_body: bytes, secret: str) -> str:
    """NetBox's own ``extras.webhooks.generate_signature``."""
    return hmac.new(key=secret.encode("utf8"), msg=request_body, digestmod=hashlib.sha512).hexdigest()


def webhook_body(event, object_type, data, *, snapshots=None, timestamp="2026-11-30T09:15:02.483901+00:00"):
    """``render_body`` of ``send_webhook``'s context for an event in a request (the UI or the REST API)."""
    request_id = uuid.UUID("6c1b8d8e-95f5-4c71-9a53-0d2f5d1f8a10")
    context = {
        "event": event,
        "timestamp": timestamp,
        "object_type": object_type,
        "username": "admin",
        "request_id": request_id,
        "data": data,
    }
    context["request"] = {"id": str(request_id), "method": "POST", "path": "/api/dcim/devices/", "user": "admin"}
    if snapshots:
        context["snapshots"] = snapshots
    return json.dumps(context, cls=JSONEncoder).encode("utf8")


def netbox_headers(body: bytes, secret: str) -> dict:
    """What reaches the hub: the webhook's Content-Type, what ``requests`` adds, and the signature."""
    return {
        "content_type": "application/json",
        "HTTP_X_HOOK_SIGNATURE": generate_signature(body, secret),
        "HTTP_USER_AGENT": "python-requests/2.32.5",
        "HTTP_ACCEPT_ENCODING": "gzip, deflate",
        "HTTP_ACCEPT": "*/*",
        "HTTP_CONNECTION": "keep-alive",
    }


def send(client, connector, body: bytes, *, secret: str | None = None, method: str = "post"):
    secret = secret or connector.credentials.signing_secret
    return getattr(client, method)(f"/webhooks/{connector.uuid}", body, **netbox_headers(body, secret))


def _brief(kind: str, pk: int, name: str, **extra) -> dict:
    return {"id": pk, "url": f"{API}/{kind}/{pk}/", "display": name, "name": name, **extra}


def ip_brief(pk: int, address: str) -> dict:
    family = 6 if ":" in address else 4
    return {
        "id": pk,
        "url": f"{API}/ipam/ip-addresses/{pk}/",
        "display": address,
        "family": {"value": family, "label": f"IPv{family}"},
        "address": address,
        "description": "",
        "dns_name": "",
        "nat_inside": None,
        "nat_outside": [],
    }


def device(pk: int = 42, name: str = "core-sw-01.dc1.example.com", **changes) -> dict:
    """A ``DeviceSerializer`` (``dcim/api/serializers_/devices.py``) representation, as NetBox 4.5/4.6 sends it."""
    data = {
        "id": pk,
        "url": f"{API}/dcim/devices/{pk}/",
        "display_url": f"{UI}/dcim/devices/{pk}/",
        "display": name,
        "name": name,
        "device_type": {
            "id": 7,
            "url": f"{API}/dcim/device-types/7/",
            "display": "Catalyst 9300-48P",
            "manufacturer": _brief("dcim/manufacturers", 3, "Cisco", slug="cisco", description=""),
            "model": "Catalyst 9300-48P",
            "slug": "c9300-48p",
            "description": "",
        },
        "role": _brief("dcim/device-roles", 2, "Core switch", slug="core-switch", description=""),
        "tenant": _brief("tenancy/tenants", 5, "Network team", slug="network-team", description=""),
        "platform": _brief("dcim/platforms", 4, "Cisco IOS-XE", slug="ios-xe", description=""),
        "serial": "FCW2231L0AB",
        "asset_tag": "AT-000042",
        "site": _brief("dcim/sites", 1, "DC1", slug="dc1", description=""),
        "location": None,
        "rack": _brief("dcim/racks", 9, "R-12", description=""),
        "position": Decimal("38.0"),
        "face": {"value": "front", "label": "Front"},
        "latitude": Decimal("48.856613"),
        "longitude": Decimal("2.352222"),
        "parent_device": None,
        "status": {"value": "active", "label": "Active"},
        "airflow": {"value": "front-to-rear", "label": "Front to rear"},
        "primary_ip": ip_brief(101, "10.20.0.5/24"),
        "primary_ip4": ip_brief(101, "10.20.0.5/24"),
        "primary_ip6": ip_brief(102, "2001:db8:20::5/64"),
        "oob_ip": ip_brief(103, "10.99.0.5/24"),
        "cluster": None,
        "virtual_chassis": None,
        "vc_position": None,
        "vc_priority": None,
        "description": "Core switch, hall A",
        "owner": None,
        "comments": "",
        "config_template": None,
        "local_context_data": None,
        "tags": [
            {
                "id": 1,
                "url": f"{API}/extras/tags/1/",
                "display_url": f"{UI}/extras/tags/1/",
                "display": "prod",
                "name": "prod",
                "slug": "prod",
                "color": "9e9e9e",
            },
            {
                "id": 2,
                "url": f"{API}/extras/tags/2/",
                "display_url": f"{UI}/extras/tags/2/",
                "display": "pci",
                "name": "pci",
                "slug": "pci",
                "color": "f44336",
            },
        ],
        "custom_fields": {"owner_email": "netops@example.com", "warranty_end": "2028-06-30"},
        "created": "2026-11-02T08:00:00.000000Z",
        "last_updated": "2026-11-30T09:15:02.401187Z",
        "console_port_count": 1,
        "console_server_port_count": 0,
        "power_port_count": 2,
        "power_outlet_count": 0,
        "interface_count": 52,
        "front_port_count": 0,
        "rear_port_count": 0,
        "device_bay_count": 0,
        "module_bay_count": 3,
        "inventory_item_count": 0,
    }
    return data | changes


def virtual_machine(pk: int = 7, name: str = "app-01", **changes) -> dict:
    """A ``VirtualMachineSerializer`` representation (``virtualization/api/serializers_/virtualmachines.py``)."""
    data = {
        "id": pk,
        "url": f"{API}/virtualization/virtual-machines/{pk}/",
        "display_url": f"{UI}/virtualization/virtual-machines/{pk}/",
        "display": name,
        "name": name,
        "virtual_machine_type": None,
        "role": _brief("dcim/device-roles", 6, "Application server", slug="app", description=""),
        "status": {"value": "active", "label": "Active"},
        "start_on_boot": {"value": "on", "label": "On"},
        "site": _brief("dcim/sites", 1, "DC1", slug="dc1", description=""),
        "cluster": _brief("virtualization/clusters", 2, "vSphere-A", description=""),
        "device": None,
        "platform": _brief("dcim/platforms", 8, "Ubuntu 24.04", slug="ubuntu-2404", description=""),
        "primary_ip": ip_brief(201, "10.30.0.17/24"),
        "primary_ip4": ip_brief(201, "10.30.0.17/24"),
        "primary_ip6": None,
        "vcpus": Decimal("4.00"),
        "memory": 16384,
        "disk": 81920,
        "description": "",
        "serial": "VMware-42 1a 2b 3c",
        "tenant": None,
        "owner": None,
        "comments": "",
        "tags": [],
        "local_context_data": None,
        "config_template": None,
        "custom_fields": {},
        "created": "2026-11-10T10:00:00.000000Z",
        "last_updated": "2026-11-30T09:20:00.000000Z",
        "interface_count": 1,
        "virtual_disk_count": 1,
    }
    return data | changes


def _interface_brief(pk: int, name: str, device_id: int, device_name: str) -> dict:
    return {
        "id": pk,
        "url": f"{API}/dcim/interfaces/{pk}/",
        "display": name,
        "device": _brief("dcim/devices", device_id, device_name, description=""),
        "name": name,
        "description": "",
        "cable": None,
        "_occupied": False,
    }


def interface(pk: int = 900, device_id: int = 42, mac: str = "00:1A:2B:3C:4D:5E") -> dict:
    """An ``InterfaceSerializer`` representation, trimmed to the fields that matter, with NetBox 4.2+ MACs."""
    mac_brief = {
        "id": 55,
        "url": f"{API}/dcim/mac-addresses/55/",
        "display": mac,
        "mac_address": mac,
        "description": "",
    }
    return {
        "id": pk,
        "url": f"{API}/dcim/interfaces/{pk}/",
        "display_url": f"{UI}/dcim/interfaces/{pk}/",
        "display": "GigabitEthernet1/0/1",
        "device": _brief("dcim/devices", device_id, "core-sw-01.dc1.example.com", description=""),
        "name": "GigabitEthernet1/0/1",
        "type": {"value": "1000base-t", "label": "1000BASE-T (1GE)"},
        "enabled": True,
        "mac_address": mac,
        "primary_mac_address": mac_brief,
        "mac_addresses": [mac_brief],
        "mgmt_only": False,
        "tags": [],
        "custom_fields": {},
        "created": "2026-11-02T08:00:00.000000Z",
        "last_updated": "2026-11-30T09:16:00.000000Z",
    }


def ip_address(pk: int = 300, address: str = "10.20.0.6/24", device_id: int = 42) -> dict:
    """An ``IPAddressSerializer`` representation assigned to an interface of ``device_id``."""
    return {
        "id": pk,
        "url": f"{API}/ipam/ip-addresses/{pk}/",
        "display_url": f"{UI}/ipam/ip-addresses/{pk}/",
        "display": address,
        "family": {"value": 4, "label": "IPv4"},
        "address": address,
        "vrf": None,
        "tenant": None,
        "status": {"value": "active", "label": "Active"},
        "role": None,
        "assigned_object_type": "dcim.interface",
        "assigned_object_id": 900,
        "assigned_object": _interface_brief(900, "GigabitEthernet1/0/1", device_id, "core-sw-01.dc1.example.com"),
        "nat_inside": None,
        "nat_outside": [],
        "dns_name": "",
        "description": "",
        "owner": None,
        "comments": "",
        "tags": [],
        "custom_fields": {},
        "created": "2026-11-30T09:17:00.000000Z",
        "last_updated": "2026-11-30T09:17:00.000000Z",
    }


def site(pk: int = 1) -> dict:
    return {
        "id": pk,
        "url": f"{API}/dcim/sites/{pk}/",
        "display_url": f"{UI}/dcim/sites/{pk}/",
        "display": "DC1",
        "name": "DC1",
        "slug": "dc1",
        "status": {"value": "active", "label": "Active"},
        "latitude": Decimal("48.856613"),
        "longitude": Decimal("2.352222"),
        "tags": [],
        "custom_fields": {},
        "created": "2026-01-01T00:00:00.000000Z",
        "last_updated": "2026-11-30T09:00:00.000000Z",
    }
