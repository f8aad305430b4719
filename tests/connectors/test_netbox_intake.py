"""NetBox event-rule webhooks end to end: the bytes and headers NetBox sends, the worker, the inventory."""

from __future__ import annotations

import pytest

from assets.models import Asset, SourceRecord
from connectors.choices import DeliveryStatus, PayloadFormat, SignatureScheme
from connectors.models import Delivery
from connectors.worker import process_delivery

from .netbox_sender import device, interface, ip_address, send, site, virtual_machine, webhook_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def netbox(make_connector):
    return make_connector(name="NetBox", payload_format=PayloadFormat.NETBOX, signature_scheme=SignatureScheme.NETBOX)


def deliver(client, connector, body: bytes, *, method: str = "post", expect: int = 202) -> Delivery:
    response = send(client, connector, body, method=method)
    assert response.status_code == expect, response.content
    delivery = Delivery.objects.get(uuid=response.json()["delivery_id"])
    assert delivery.authenticated_by == "signature" and bytes(delivery.body) == body
    assert process_delivery(delivery.pk) == DeliveryStatus.PROCESSED
    delivery.refresh_from_db()
    return delivery


def test_device_created_lands_as_an_asset(client, netbox):
    delivery = deliver(client, netbox, webhook_body("created", "dcim.device", device()))
    assert (delivery.records_received, delivery.records_created) == (1, 1)
    asset = Asset.objects.get()
    assert (asset.hostname, asset.fqdn, asset.serial_number) == (
        "core-sw-01",
        "core-sw-01.dc1.example.com",
        "FCW2231L0AB",
    )
    assert sorted(asset.ip_addresses) == ["10.20.0.5", "10.99.0.5", "2001:db8:20::5"]
    assert (asset.manufacturer, asset.model, asset.os, asset.asset_type) == (
        "Cisco",
        "Catalyst 9300-48P",
        "Cisco IOS-XE",
        "Core switch",
    )
    source = SourceRecord.objects.get()
    assert source.source_key == "dcim.device:42" and source.asset == asset
    assert source.extra["netbox.site"] == "DC1" and source.extra["netbox.status"] == "active"
    assert source.extra["netbox.custom_fields"]["owner_email"] == "netops@example.com"


def test_update_with_snapshots_then_delete(client, netbox):
    deliver(client, netbox, webhook_body("created", "dcim.device", device()))
    changed = device(serial="FCW2231L0ZZ", last_updated="2026-11-30T10:00:00.000000Z")
    snapshots = {"prechange": {"serial": "FCW2231L0AB"}, "postchange": {"serial": "FCW2231L0ZZ"}}
    body = webhook_body("updated", "dcim.device", changed, snapshots=snapshots, timestamp="2026-11-30T10:00:01+00:00")
    delivery = deliver(client, netbox, body)
    assert delivery.records_updated == 1
    assert Asset.objects.get().serial_number == "FCW2231L0ZZ"

    gone = webhook_body("deleted", "dcim.device", changed, snapshots={"prechange": {"serial": "x"}, "postchange": None})
    delivery = deliver(client, netbox, gone)
    assert delivery.records_deleted == 1
    assert SourceRecord.objects.get().deleted
    assert Asset.objects.get().retired


def test_an_older_update_changes_nothing(client, netbox):
    deliver(client, netbox, webhook_body("created", "dcim.device", device()))
    stale = device(serial="STALE", last_updated="2026-11-01T00:00:00.000000Z")
    deliver(client, netbox, webhook_body("updated", "dcim.device", stale))
    assert Asset.objects.get().serial_number == "FCW2231L0AB"


def test_virtual_machine_sent_with_put(client, netbox):
    delivery = deliver(
        client, netbox, webhook_body("created", "virtualization.virtualmachine", virtual_machine()), method="put"
    )
    assert delivery.records_created == 1
    asset = Asset.objects.get()
    assert (asset.hostname, asset.os, asset.ip_addresses) == ("app-01", "Ubuntu 24.04", ["10.30.0.17"])
    assert SourceRecord.objects.get().source_key == "virtualization.virtualmachine:7"


def test_interface_and_ip_events_are_accepted_and_leave_the_device_intact(client, netbox):
    deliver(client, netbox, webhook_body("created", "dcim.device", device()))
    before = SourceRecord.objects.get()
    for body in (
        webhook_body("created", "dcim.interface", interface()),
        webhook_body("created", "ipam.ipaddress", ip_address()),
    ):
        response = send(client, netbox, body)
        assert response.status_code == 202
        (note,) = response.json()["ignored"]
        assert "of dcim.device:42 not added" in note["reason"]
        assert response.json()["accepted"] == 0
        delivery = Delivery.objects.get(uuid=response.json()["delivery_id"])
        assert process_delivery(delivery.pk) == DeliveryStatus.PROCESSED
    after = SourceRecord.objects.get()
    assert after.attributes == before.attributes and after.digest == before.digest
    assert Asset.objects.get().serial_number == "FCW2231L0AB"


def test_unrelated_object_is_accepted_and_processed_with_no_record(client, netbox):
    response = send(client, netbox, webhook_body("updated", "dcim.site", site()))
    assert response.status_code == 202
    reply = response.json()
    assert (reply["records"], reply["accepted"], reply["errors"]) == (0, 0, [])
    assert reply["ignored"] == [
        {"index": 0, "object": "dcim.site:1 updated", "reason": "dcim.site is not an asset type"}
    ]
    delivery = Delivery.objects.get(uuid=reply["delivery_id"])
    assert process_delivery(delivery.pk) == DeliveryStatus.PROCESSED
    delivery.refresh_from_db()
    assert delivery.records_received == 0 and delivery.records_errors == 0
    assert not Asset.objects.exists()
    netbox.refresh_from_db()
    assert netbox.status == "success"


def test_wrong_secret_tampered_body_and_bad_signature_are_refused(client, netbox):
    from .netbox_sender import netbox_headers

    body = webhook_body("created", "dcim.device", device())
    assert send(client, netbox, body, secret="whsec_not-the-secret").status_code == 401
    headers = netbox_headers(body, netbox.credentials.signing_secret)
    tampered = body.replace(b"FCW2231L0AB", b"FCW2231L0XX")
    assert client.post(f"/webhooks/{netbox.uuid}", tampered, **headers).status_code == 401
    headers["HTTP_X_HOOK_SIGNATURE"] = "0" * 128
    assert client.post(f"/webhooks/{netbox.uuid}", body, **headers).status_code == 401
    assert not Delivery.objects.exists()


def test_a_netbox_connector_with_another_scheme_does_not_verify_x_hook_signature(client, make_connector):
    other = make_connector(name="NetBox, wrong scheme", payload_format=PayloadFormat.NETBOX)
    assert send(client, other, webhook_body("created", "dcim.device", device())).status_code == 401
