"""Values invalid for their field: dropped with a per-record warning in the intake reply, the delivery log and the
decision, never stored as if real; the record itself still counts. Every format gets the same checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from assets.models import Asset, Decision, SourceRecord
from connectors.choices import DeliveryStatus, PayloadFormat, SignatureScheme
from connectors.formats import ValueChecks, parse
from connectors.models import Delivery
from connectors.services import set_mapping
from connectors.worker import process_delivery

from .helpers import post_bearer
from .netbox_sender import device, send, webhook_body

pytestmark = pytest.mark.django_db

CSAM_PATH = "/rest/2.0/am/connector/asset/data/sync"


def far_future() -> str:
    return (timezone.now() + timedelta(days=30)).isoformat()


def bad_batch() -> dict:
    """Three records: a refused one (no source key), one with four invalid values, and a clean one."""
    return {
        "assets": [
            {"hostname": "no-key"},
            {
                "source_key": "cmdb-1",
                "hostname": "web 01",
                "fqdn": "web-01.corp.example.com",
                "ip_addresses": ["999.1.1.1", "10.0.0.5"],
                "mac_addresses": ["00:1a:2b", "00:1a:2b:3c:4d:5e"],
                "serial_number": "SN-1",
                "updated_at": far_future(),
            },
            {"source_key": "cmdb-2", "hostname": "db-01", "ip_addresses": ["10.0.0.6"]},
        ]
    }


def test_the_intake_reply_lists_each_dropped_value_next_to_the_errors(client, connector):
    response = post_bearer(client, connector, bad_batch())
    assert response.status_code == 202, response.content
    data = response.json()
    assert (data["records"], data["accepted"]) == (3, 2)  # a record with warnings still counts
    assert [error["index"] for error in data["errors"]] == [0]
    assert [(w["index"], w["source_key"], w["field"], w["value"]) for w in data["warnings"]] == [
        (1, "cmdb-1", "hostname", "web 01"),
        (1, "cmdb-1", "ip_addresses", "999.1.1.1"),
        (1, "cmdb-1", "mac_addresses", "00:1a:2b"),
        (1, "cmdb-1", "updated_at", data["warnings"][3]["value"]),
    ]
    assert "characters no DNS name has" in data["warnings"][0]["message"]
    assert data["warnings"][1]["message"] == "is not an IP address; the value was dropped"
    assert "after the delivery was received" in data["warnings"][3]["message"]


def test_a_clean_batch_has_an_empty_warning_list(client, connector):
    response = post_bearer(client, connector, {"source_key": "k", "hostname": "web-01", "ip_addresses": ["10.0.0.1"]})
    assert response.json()["warnings"] == []


def test_through_the_worker_invalid_values_are_never_stored_and_the_warnings_are_kept(client, connector, admin_ui):
    response = post_bearer(client, connector, bad_batch())
    delivery = Delivery.objects.get(uuid=response.json()["delivery_id"])
    assert process_delivery(delivery.pk) == DeliveryStatus.PARTIAL  # the record without a key is an error
    delivery.refresh_from_db()
    assert (delivery.records_received, delivery.records_created, delivery.records_errors) == (3, 2, 1)
    assert delivery.warnings_count == 4
    assert [(w["index"], w["field"], w["value"]) for w in delivery.warnings][:3] == [
        (1, "hostname", "web 01"),
        (1, "ip_addresses", "999.1.1.1"),
        (1, "mac_addresses", "00:1a:2b"),
    ]

    source = SourceRecord.objects.get(source_key="cmdb-1")
    assert source.attributes["ip_addresses"] == ["10.0.0.5"]
    assert source.attributes["mac_addresses"] == ["00:1a:2b:3c:4d:5e"]
    assert source.attributes["hostname"] == "web-01"  # from the FQDN: the invalid hostname is gone
    assert source.source_updated_at == delivery.received_at  # the future time was dropped: receipt time dates it
    asset = source.asset
    assert asset.ip_addresses == ["10.0.0.5"] and "999.1.1.1" not in str(asset.provenance)
    assert not any("999.1.1.1" in ips for ips in Asset.objects.values_list("ip_addresses", flat=True))

    decision = Decision.objects.get(source_key="cmdb-1")
    assert [(w["field"], w["value"]) for w in decision.warnings][:2] == [
        ("hostname", "web 01"),
        ("ip_addresses", "999.1.1.1"),
    ]
    assert Decision.objects.get(source_key="cmdb-2").warnings == []

    page = admin_ui.get(delivery.get_absolute_url())
    html = page.content.decode()
    assert "Value warnings" in html and "999.1.1.1" in html and "is not an IP address" in html
    assert html.count('<span class="badge warn">dropped</span>') == 4  # in the decision trace of cmdb-1

    api = admin_ui.get(f"/api/v1/deliveries/{delivery.uuid}/").json()
    assert api["counts"]["warnings"] == 4
    assert api["warnings"][1] == {
        "index": 1,
        "source_key": "cmdb-1",
        "field": "ip_addresses",
        "value": "999.1.1.1",
        "message": "is not an IP address; the value was dropped",
    }


def test_a_replay_judges_timestamps_against_the_receipt_time_not_now(client, connector):
    """A delivery received three days ago saying "updated yesterday" was "two days in the future" when sent."""
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    response = post_bearer(client, connector, {"source_key": "k", "hostname": "web-01", "updated_at": yesterday})
    assert response.json()["warnings"] == []
    delivery = Delivery.objects.get(uuid=response.json()["delivery_id"])
    Delivery.objects.filter(pk=delivery.pk).update(received_at=timezone.now() - timedelta(days=3))
    process_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert [w["field"] for w in delivery.warnings] == ["updated_at"]


def test_the_future_tolerance_is_a_setting(client, connector, settings):
    settings.FUTURE_TIMESTAMP_TOLERANCE_HOURS = 1
    soon = (timezone.now() + timedelta(hours=3)).isoformat()
    response = post_bearer(client, connector, {"source_key": "k", "hostname": "web-01", "last_seen": soon})
    assert [w["field"] for w in response.json()["warnings"]] == ["last_seen"]
    assert "more than 1 hour after" in response.json()["warnings"][0]["message"]
    settings.FUTURE_TIMESTAMP_TOLERANCE_HOURS = 24
    response = post_bearer(client, connector, {"source_key": "k2", "hostname": "web-02", "last_seen": soon})
    assert response.json()["warnings"] == []


def test_a_record_with_only_invalid_values_still_counts(client, connector):
    response = post_bearer(client, connector, {"source_key": "k", "ip_addresses": ["999.1.1.1"], "os": "Linux"})
    assert response.status_code == 202 and response.json()["accepted"] == 1
    delivery = Delivery.objects.get(uuid=response.json()["delivery_id"])
    assert process_delivery(delivery.pk) == DeliveryStatus.PROCESSED
    source = SourceRecord.objects.get()
    assert source.attributes["ip_addresses"] == [] and source.attributes["os"] == "Linux"


# --- every format gets the same checks ---------------------------------------------------------------------------


def test_csam_pushes_get_warnings_by_record_index(client, make_connector):
    connector = make_connector("ServiceNow", payload_format=PayloadFormat.CSAM)
    body = {
        "connectorMetaData": {"connectorUuid": str(connector.uuid), "requestId": "req-1", "assetCount": 2},
        "assetData": [
            {"identityAttributes": {"hostName": "no-key"}},
            {
                "identityAttributes": {
                    "sourceNativeKey": "sn-7",
                    "hostName": "db-02",
                    "ipAddress": ["10.1.1.1", "10.1.1"],
                    "macAddress": ["00:11:22:33:44"],
                },
                "coreAttributes": {"operatingSystem": "Linux"},
            },
        ],
    }
    response = post_bearer(client, connector, body, path=CSAM_PATH)
    assert response.status_code == 200
    data = response.json()
    assert list(data["assetsError"]) == ["0"]
    assert [(w["index"], w["source_key"], w["field"], w["value"]) for w in data["warnings"]] == [
        (1, "sn-7", "ip_addresses", "10.1.1"),
        (1, "sn-7", "mac_addresses", "00:11:22:33:44"),
    ]
    process_delivery(Delivery.objects.get().pk)
    assert Asset.objects.get().ip_addresses == ["10.1.1.1"]


def test_netbox_events_get_warnings(client, make_connector):
    netbox = make_connector(name="NetBox", payload_format=PayloadFormat.NETBOX, signature_scheme=SignatureScheme.NETBOX)
    body = webhook_body("created", "dcim.device", device(name="Rack 1 Switch"))
    response = send(client, netbox, body)
    assert response.status_code == 202, response.content
    (warning,) = response.json()["warnings"]
    assert (warning["index"], warning["source_key"], warning["field"]) == (0, "dcim.device:42", "hostname")
    assert warning["value"] == "Rack 1 Switch"


def test_mapped_bodies_get_warnings(client, make_connector, connector_admin):
    mapped = make_connector(name="Inventory", payload_format=PayloadFormat.MAPPED)
    set_mapping(
        mapped,
        {"records": "hosts[]", "fields": {"source_key": "id", "hostname": "name", "ip_addresses": "ips"}},
        actor=connector_admin,
    )
    body = {"hosts": [{"id": 1, "name": "ok-1", "ips": ["10.0.0.1"]}, {"id": 2, "name": "bad_name!", "ips": "1.2.3"}]}
    response = post_bearer(client, mapped, body)
    assert [(w["index"], w["field"]) for w in response.json()["warnings"]] == [(1, "hostname"), (1, "ip_addresses")]


@pytest.mark.parametrize(
    ("payload_format", "data"),
    [
        ("native", {"source_key": "k", "ip_addresses": ["999.1.1.1"]}),
        ("csam", {"assetData": [{"identityAttributes": {"sourceNativeKey": "k", "ipAddress": "999.1.1.1"}}]}),
    ],
)
def test_parse_validates_every_format_once(payload_format, data):
    received = datetime(2026, 11, 30, tzinfo=UTC)
    batch = parse(payload_format, data, checks=ValueChecks(received_at=received))
    assert [(w.index, w.field, w.value) for w in batch.warnings] == [(0, "ip_addresses", "999.1.1.1")]
    assert batch.records[0].ip_addresses == ()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_over_http_a_real_worker_process_drops_the_invalid_values(live_server, connector, start_worker):
    import urllib.request

    from tests.conftest import wait_for

    start_worker()
    body = {"assets": [{"source_key": "k", "hostname": "web-01", "ip_addresses": ["999.1.1.1", "10.0.0.5"]}]}
    request = urllib.request.Request(
        f"{live_server.url}/webhooks/{connector.uuid}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {connector.credentials.token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        reply = json.loads(response.read())
    assert [w["value"] for w in reply["warnings"]] == ["999.1.1.1"]
    wait_for(lambda: Delivery.objects.filter(status="processed").exists(), timeout=90, message="delivery processed")
    delivery = Delivery.objects.get()
    assert delivery.warnings_count == 1 and delivery.warnings[0]["value"] == "999.1.1.1"
    assert Asset.objects.get().ip_addresses == ["10.0.0.5"]
    assert Decision.objects.get().warnings[0]["value"] == "999.1.1.1"
