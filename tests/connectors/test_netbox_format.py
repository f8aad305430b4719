"""The NetBox payload format, on bodies built the way NetBox builds them (see netbox_sender)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from connectors.formats import PARSERS, PayloadError, decode_json, parse_netbox

from .netbox_sender import device, interface, ip_address, site, virtual_machine, webhook_body


def parse(body: bytes):
    return parse_netbox(decode_json(body))


def test_registered_as_netbox():
    assert "netbox" in PARSERS


def test_device_created_maps_every_field():
    batch = parse(webhook_body("created", "dcim.device", device()))
    assert batch.errors == [] and batch.ignored == [] and batch.deleted == []
    (record,) = batch.records
    assert record.source_key == "dcim.device:42"
    assert record.hostname == "core-sw-01"
    assert record.fqdn == "core-sw-01.dc1.example.com"
    assert record.serial_number == "FCW2231L0AB"
    assert record.ip_addresses == ("10.20.0.5", "2001:db8:20::5", "10.99.0.5")
    assert (record.manufacturer, record.model) == ("Cisco", "Catalyst 9300-48P")
    assert record.os == "Cisco IOS-XE"
    assert record.asset_type == "Core switch"
    assert record.tags == ("prod", "pci")
    assert record.updated_at == datetime(2026, 11, 30, 9, 15, 2, 401187, tzinfo=UTC)
    assert record.attributes == {
        "netbox.object_type": "dcim.device",
        "netbox.id": 42,
        "netbox.url": "https://netbox.example.com/dcim/devices/42/",
        "netbox.site": "DC1",
        "netbox.rack": "R-12",
        "netbox.tenant": "Network team",
        "netbox.status": "active",
        "netbox.asset_tag": "AT-000042",
        "netbox.description": "Core switch, hall A",
        "netbox.custom_fields": {"owner_email": "netops@example.com", "warranty_end": "2028-06-30"},
    }


def test_the_encoder_writes_decimals_as_numbers_and_the_parser_does_not_care():
    body = webhook_body("created", "dcim.device", device())
    assert b'"latitude": 48.856613' in body and b'"position": 38.0' in body
    assert parse(body).records


def test_short_name_is_the_hostname_and_nulls_are_empty():
    data = device(name="edge-fw", serial="", platform=None, role=None, tenant=None, primary_ip6=None, oob_ip=None)
    (record,) = parse(webhook_body("updated", "dcim.device", data)).records
    assert (record.hostname, record.fqdn, record.serial_number, record.os, record.asset_type) == (
        "edge-fw",
        "",
        "",
        "",
        "",
    )
    assert record.ip_addresses == ("10.20.0.5",)
    assert "netbox.tenant" not in record.attributes


def test_unnamed_device_still_has_its_key():
    (record,) = parse(webhook_body("created", "dcim.device", device(name=None))).records
    assert record.source_key == "dcim.device:42" and record.hostname == ""


def test_updated_event_with_snapshots_uses_data():
    pre = {"name": "core-sw-01.dc1.example.com", "serial": "OLD", "tags": ["prod"]}
    post = {"name": "core-sw-01.dc1.example.com", "serial": "FCW2231L0AB", "tags": ["prod", "pci"]}
    body = webhook_body("updated", "dcim.device", device(), snapshots={"prechange": pre, "postchange": post})
    (record,) = parse(body).records
    assert record.serial_number == "FCW2231L0AB"


def test_deleted_event_deletes_the_source_key():
    batch = parse(webhook_body("deleted", "dcim.device", device(), snapshots={"prechange": {}, "postchange": None}))
    assert batch.records == [] and batch.deleted == ["dcim.device:42"]


def test_virtual_machine():
    (record,) = parse(webhook_body("created", "virtualization.virtualmachine", virtual_machine())).records
    assert record.source_key == "virtualization.virtualmachine:7"
    assert (record.hostname, record.os, record.asset_type) == ("app-01", "Ubuntu 24.04", "Application server")
    assert record.serial_number == "VMware-42 1a 2b 3c"
    assert record.ip_addresses == ("10.30.0.17",)
    assert record.manufacturer == "" and record.model == ""
    assert record.attributes["netbox.cluster"] == "vSphere-A"


def test_older_netbox_model_names_and_device_role():
    event = json.loads(webhook_body("created", "dcim.device", device()))
    del event["object_type"]
    event["model"] = "device"
    event["data"]["device_role"] = event["data"].pop("role")
    (record,) = parse_netbox(event).records
    assert record.source_key == "dcim.device:42" and record.asset_type == "Core switch"
    event["model"] = "virtualmachine"
    assert parse_netbox(event).records[0].source_key == "virtualization.virtualmachine:42"


def test_object_type_wins_over_model_in_4_4():
    event = json.loads(webhook_body("created", "dcim.device", device()))
    event["model"] = "device"
    assert parse_netbox(event).records[0].source_key == "dcim.device:42"


def test_interface_ip_and_mac_events_are_ignored_with_a_note():
    interface_batch = parse(webhook_body("created", "dcim.interface", interface()))
    ip_batch = parse(webhook_body("created", "ipam.ipaddress", ip_address()))
    for batch in (interface_batch, ip_batch):
        assert batch.records == [] and batch.deleted == [] and batch.errors == []
    (note,) = interface_batch.ignored
    assert note.what == "dcim.interface:900 created"
    assert "MAC 00:1A:2B:3C:4D:5E of dcim.device:42 not added" in note.reason
    (note,) = ip_batch.ignored
    assert "IP 10.20.0.6 of dcim.device:42 not added" in note.reason


def test_mac_address_object_and_unassigned_ip():
    mac = {
        "id": 55,
        "mac_address": "00:1A:2B:3C:4D:5E",
        "assigned_object_type": "dcim.interface",
        "assigned_object": {"id": 900, "device": {"id": 42, "name": "core-sw-01"}, "name": "Gi1/0/1"},
    }
    (note,) = parse(webhook_body("created", "dcim.macaddress", mac)).ignored
    assert "MAC 00:1A:2B:3C:4D:5E of dcim.device:42" in note.reason
    loose = ip_address() | {"assigned_object_type": None, "assigned_object_id": None, "assigned_object": None}
    (note,) = parse(webhook_body("created", "ipam.ipaddress", loose)).ignored
    assert note.reason == "IP 10.20.0.6: not assigned to a device or virtual machine"


def test_vm_interface_names_its_virtual_machine():
    data = {
        "id": 5,
        "name": "eth0",
        "virtual_machine": {"id": 7, "name": "app-01"},
        "mac_address": None,
        "primary_mac_address": None,
        "mac_addresses": [],
    }
    (note,) = parse(webhook_body("updated", "virtualization.vminterface", data)).ignored
    assert "virtualization.virtualmachine:7" in note.reason


@pytest.mark.parametrize("object_type", ["dcim.site", "ipam.prefix", "dcim.cable", "extras.tag"])
def test_other_object_types_are_ignored_not_errors(object_type):
    batch = parse(webhook_body("updated", object_type, site()))
    assert batch.records == [] and batch.errors == []
    (note,) = batch.ignored
    assert note.reason == f"{object_type} is not an asset type"


def test_job_events_are_ignored():
    batch = parse(webhook_body("job_started", "dcim.device", device()))
    assert batch.records == [] and batch.ignored[0].reason == "the event 'job_started' changes no asset"


def test_bad_bodies():
    with pytest.raises(PayloadError):
        parse_netbox("hello")
    batch = parse_netbox({"event": "created", "data": {"id": 1}})
    assert batch.errors[0].field == "object_type"
    batch = parse_netbox({"event": "created", "object_type": "dcim.device", "data": {"name": "x"}})
    assert (batch.errors[0].field, batch.errors[0].message) == ("data.id", "is required")
    batch = parse_netbox({"event": "created", "object_type": "dcim.device", "data": device(last_updated="soon")})
    assert batch.errors[0].field == "data.last_updated"
    assert batch.errors[0].source_key == "dcim.device:42"


def test_an_array_of_events_is_read_one_by_one():
    events = [json.loads(webhook_body("created", "dcim.device", device(pk=pk))) for pk in (1, 2)]
    events.append(json.loads(webhook_body("deleted", "dcim.device", device(pk=3))))
    batch = parse_netbox(events)
    assert [r.source_key for r in batch.records] == ["dcim.device:1", "dcim.device:2"]
    assert batch.deleted == ["dcim.device:3"]
