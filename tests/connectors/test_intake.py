"""Webhook intake over HTTP: every status code of the contract, signed by the reference library."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from assets.models import Asset, SourceRecord
from connectors.choices import DeliveryStatus, PayloadFormat
from connectors.models import Connector, Delivery
from connectors.services import rotate_secret, set_enabled, update_connector
from connectors.worker import process_delivery

from .helpers import TOO_OLD, asset, post_bearer, post_signed, signed_headers

pytestmark = pytest.mark.django_db
#: Copies of the shared sample payloads, kept with the tests so a standalone checkout runs them too.
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def problem(response):
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    return response.json()


def process_all():
    for pk in Delivery.objects.filter(status=DeliveryStatus.QUEUED).values_list("pk", flat=True):
        process_delivery(pk)


def test_bearer_delivery_is_stored_verbatim_queued_and_processed(client, connector, django_capture_on_commit_callbacks):
    body = json.dumps({"assets": [asset(1)]}, indent=3).encode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_bearer(client, connector, body)
    assert response.status_code == 202
    data = response.json()
    delivery = Delivery.objects.get(uuid=data["delivery_id"])
    assert bytes(delivery.body) == body
    assert delivery.status == "queued" and delivery.authenticated_by == "token"
    assert data["status_url"].endswith(f"/api/v1/deliveries/{delivery.uuid}/")
    assert (data["accepted"], data["errors"]) == (1, [])
    assert len(callbacks) == 1  # processing is enqueued when the transaction commits
    assert process_delivery(delivery.pk) == "processed"
    delivery.refresh_from_db()
    assert (delivery.records_received, delivery.records_created) == (1, 1)
    assert Asset.objects.get().hostname == "web-00001"
    connector.refresh_from_db()
    assert connector.status == "success"


def test_trailing_slash_is_served_not_redirected(client, connector):
    response = post_bearer(client, connector, asset(1), path=f"/webhooks/{connector.uuid}/")
    assert response.status_code == 202


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "*/*"])
def test_replies_are_json_whatever_the_sender_accepts(client, connector, accept):
    response = post_bearer(client, connector, {"assets": [asset(1)]}, HTTP_ACCEPT=accept)
    assert response.status_code == 202 and response["Content-Type"] == "application/json"
    assert response.json()["accepted"] == 1
    refused = post_bearer(client, connector, {"assets": [asset(2)]}, token="hub_wrong", HTTP_ACCEPT=accept)
    assert refused.status_code == 401 and problem(refused)["title"] == "Unauthorized"


def test_signed_delivery_is_accepted(client, connector):
    response = post_signed(client, connector, {"assets": [asset(1)]})
    assert response.status_code == 202
    assert Delivery.objects.get().authenticated_by == "signature"


def test_tampered_body_is_refused(client, connector):
    body = json.dumps({"assets": [asset(1)]}).encode()
    headers = signed_headers(connector.credentials.signing_secret, body)
    response = client.post(
        f"/webhooks/{connector.uuid}", body.replace(b"web-", b"evil-"), content_type="application/json", **headers
    )
    assert response.status_code == 401
    assert "does not match" in problem(response)["detail"]
    assert not Delivery.objects.exists()


def test_wrong_secret_is_refused(client, connector, make_connector):
    other = make_connector("Other")
    response = post_signed(client, connector, asset(1), secret=other.credentials.signing_secret)
    assert response.status_code == 401


@pytest.mark.parametrize("offset", [-TOO_OLD, TOO_OLD])
def test_expired_and_future_timestamps_are_refused(client, connector, offset):
    response = post_signed(client, connector, asset(1), at=datetime.now(UTC) + offset)
    assert response.status_code == 401
    assert "±5 minutes" in problem(response)["detail"]


def test_previous_secret_works_during_the_rotation_overlap_only(client, connector):
    old = connector.credentials.signing_secret
    new = rotate_secret(connector).signing_secret
    assert post_signed(client, connector, asset(1), secret=old).status_code == 202
    assert post_signed(client, connector, asset(2), secret=new).status_code == 202
    Connector.objects.filter(pk=connector.pk).update(previous_secret_expires_at=timezone.now() - timedelta(seconds=1))
    assert post_signed(client, connector, asset(3), secret=old).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_WEBHOOK_ID": "x", "HTTP_WEBHOOK_TIMESTAMP": "nope", "HTTP_WEBHOOK_SIGNATURE": "v1,AAAA"},
        {"HTTP_WEBHOOK_ID": "x", "HTTP_WEBHOOK_TIMESTAMP": "NOW", "HTTP_WEBHOOK_SIGNATURE": "garbage"},
        {"HTTP_WEBHOOK_ID": "x", "HTTP_WEBHOOK_TIMESTAMP": "NOW", "HTTP_WEBHOOK_SIGNATURE": "v1,%%%not-base64"},
        {"HTTP_WEBHOOK_ID": "x", "HTTP_WEBHOOK_TIMESTAMP": "NOW", "HTTP_WEBHOOK_SIGNATURE": "v1,a,b,c v2"},
        {"HTTP_WEBHOOK_ID": "x", "HTTP_WEBHOOK_TIMESTAMP": "NOW", "HTTP_WEBHOOK_SIGNATURE": ""},
        {"HTTP_WEBHOOK_ID": "x", "HTTP_WEBHOOK_TIMESTAMP": "1e309", "HTTP_WEBHOOK_SIGNATURE": "v1,AAAA"},
        {"HTTP_WEBHOOK_SIGNATURE": "v1,AAAA"},
        {"HTTP_WEBHOOK_ID": "x" * 5000, "HTTP_WEBHOOK_TIMESTAMP": "NOW", "HTTP_WEBHOOK_SIGNATURE": "v1," + "A" * 9000},
    ],
)
def test_garbage_signature_headers_are_a_clear_401(client, connector, headers):
    headers = {k: v.replace("NOW", str(int(datetime.now(UTC).timestamp()))) for k, v in headers.items()}
    response = client.post(
        f"/webhooks/{connector.uuid}", b'{"source_key": "a"}', content_type="application/json", **headers
    )
    assert response.status_code == 401
    assert problem(response)["detail"]


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer " + "x" * 10000]
)
def test_missing_or_bad_credentials_are_401(client, connector, authorization):
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    response = client.post(f"/webhooks/{connector.uuid}", b"{}", content_type="application/json", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_connector_looks_like_bad_credentials(client, connector):
    response = post_bearer(client, connector, asset(1), path="/webhooks/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 401
    assert problem(response)["detail"] == "Missing or invalid credentials for this endpoint."
    assert client.post("/webhooks/not-a-uuid", b"{}", content_type="application/json").status_code == 404


def test_required_signature_refuses_bearer_tokens(client, connector):
    update_connector(connector, require_signature=True)
    assert post_bearer(client, connector, asset(1)).status_code == 401
    assert post_signed(client, connector, asset(1)).status_code == 202


def test_disabled_connector_is_403(client, connector):
    set_enabled(connector, False)
    response = post_bearer(client, connector, asset(1))
    assert response.status_code == 403
    assert "disabled" in problem(response)["detail"]


def test_body_over_the_limit_is_413_before_parsing(client, connector, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    response = post_bearer(client, connector, {"assets": [asset(i) for i in range(50)]})
    assert response.status_code == 413
    assert "at most 1000 bytes" in problem(response)["detail"]
    assert not Delivery.objects.exists()


def test_not_json_is_415_and_kept_as_rejected(client, connector):
    response = post_bearer(client, connector, b"hostname=web-1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert Delivery.objects.get().status == "rejected"


def test_malformed_json_is_400_and_kept_as_rejected(client, connector):
    response = post_bearer(client, connector, b'{"assets": [}')
    assert response.status_code == 400
    body = problem(response)
    assert "JSON" in body["detail"]
    delivery = Delivery.objects.get()
    assert delivery.status == "rejected" and delivery.last_error == body["detail"]
    assert str(delivery.uuid) == body["delivery_id"]


def test_non_utf8_body_is_400(client, connector):
    response = post_bearer(client, connector, b'{"source_key": "\xff\xfe"}')
    assert response.status_code == 400
    assert "UTF-8" in problem(response)["detail"]
    headers = signed_headers(connector.credentials.signing_secret, b"{}")  # a signature for some other body
    response = client.post(f"/webhooks/{connector.uuid}", b'{"a": "\xff"}', content_type="application/json", **headers)
    assert response.status_code == 400


def test_deeply_nested_json_is_400(client, connector):
    response = post_bearer(client, connector, b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 400
    response = post_bearer(
        client, connector, b'{"assets": [{"source_key": "a", "attributes": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}]}"
    )
    assert response.status_code == 400


def test_nothing_valid_is_400_with_errors_by_index(client, connector):
    response = post_bearer(client, connector, {"assets": [{"hostname": "no-key"}, "not an object"]})
    assert response.status_code == 400
    errors = problem(response)["errors"]
    assert [error["index"] for error in errors] == [0, 1]
    assert errors[0]["field"] == "source_key"


def test_partly_invalid_batch_is_accepted_and_reported(client, connector):
    response = post_bearer(client, connector, {"assets": [asset(1), {"source_key": "x", "ip_addresses": {"a": 1}}]})
    assert response.status_code == 202
    data = response.json()
    assert data["accepted"] == 1 and data["errors"][0]["index"] == 1
    assert data["errors"][0]["field"].startswith("ip_addresses")
    process_all()
    delivery = Delivery.objects.get()
    assert delivery.status == "partial"
    assert delivery.errors[0]["index"] == 1
    connector.refresh_from_db()
    assert connector.status == "partial"


def test_repeated_idempotency_key_returns_the_first_delivery(client, connector):
    first = post_signed(client, connector, {"assets": [asset(1)]}, msg_id="msg-1")
    again = post_signed(client, connector, {"assets": [asset(1)]}, msg_id="msg-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["delivery_id"] == again.json()["delivery_id"] and again.json()["duplicate"]
    by_header = [post_bearer(client, connector, asset(2), HTTP_IDEMPOTENCY_KEY="k-2") for _ in range(2)]
    assert [r.status_code for r in by_header] == [202, 200]
    assert Delivery.objects.count() == 2


def test_rate_limit_is_429_with_retry_after(client, connector, settings):
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 2
    from django.core.cache import cache

    cache.clear()
    codes = [post_bearer(client, connector, asset(i)).status_code for i in range(3)]
    assert codes == [202, 202, 429]
    response = post_bearer(client, connector, asset(9))
    assert 1 <= int(response["Retry-After"]) <= 60
    cache.clear()


def test_other_methods_are_405_not_500(client, connector):
    """POST and PUT deliver (NetBox lets the admin pick either); nothing else does."""
    assert client.get(f"/webhooks/{connector.uuid}").status_code == 405
    assert client.patch(f"/webhooks/{connector.uuid}", b"{}").status_code == 405
    assert client.delete(f"/webhooks/{connector.uuid}").status_code == 405
    assert client.put("/rest/2.0/am/connector/asset/data/sync", b"{}").status_code == 405


def test_unknown_fields_are_ignored_and_mass_assignment_has_no_effect(client, connector):
    sneaky = asset(
        1,
        id=999,
        kind="managed",
        merged_into=1,
        retired=True,
        uuid="00000000-0000-0000-0000-000000000001",
        provenance={"os": 1},
        connector=123,
        possible_duplicate=True,
        favourite_colour="blue",
    )
    assert post_bearer(client, connector, sneaky).status_code == 202
    process_all()
    created = Asset.objects.get()
    assert created.pk != 999 and created.kind == "unmanaged" and created.merged_into is None
    assert not created.retired and not created.possible_duplicate
    assert str(created.uuid) != "00000000-0000-0000-0000-000000000001"
    source = SourceRecord.objects.get()
    assert source.connector == connector
    assert "favourite_colour" not in source.attributes and "favourite_colour" not in source.extra


def test_deletions_in_the_native_format(client, connector):
    post_bearer(client, connector, {"assets": [asset(1), asset(2)]})
    process_all()
    post_bearer(client, connector, {"deleted": ["src-1"]})
    process_all()
    assert Asset.objects.get(hostname="web-00001").retired
    assert Delivery.objects.first().records_deleted == 1


def test_ten_thousand_record_batch(client, connector):
    response = post_bearer(client, connector, {"assets": [asset(i) for i in range(10_000)]})
    assert response.status_code == 202 and response.json()["accepted"] == 10_000
    process_all()
    delivery = Delivery.objects.get()
    assert delivery.status == "processed" and delivery.records_created == 10_000
    assert Asset.objects.count() == 10_000


CSAM_BODY = {
    "connectorMetaData": {"requestId": "req-1", "connectorUuid": "REPLACE", "source": "SNOW", "assetCount": 1},
    "assetData": [
        {
            "identityAttributes": {
                "sourceNativeKey": "b4fd7c84",
                "hostName": "db-02",
                "fqdn": "db-02.corp.example.com",
                "ipAddress": ["10.20.0.52"],
                "macAddress": "00:50:56:9a:11:02",
                "serialNumber": "VMware-42 1a 6b 0c 9d 3e 11 f0",
                "hardwareUuid": "421A6B0C-9D3E-11F0-8C2B-0050569A1102",
            },
            "coreAttributes": {
                "operatingSystem": "Red Hat Enterprise Linux",
                "osVersion": "9.4",
                "biosInfo": {"manufacturer": "VMware, Inc.", "model": "VMware7,1"},
            },
            "sourceLastUpdatedDate": "2026-11-27T22:40:00Z",
        }
    ],
}


def csam_body(connector, body=None) -> bytes:
    if body is None:
        body = json.loads((SAMPLES / "csam-sync.json").read_text())
    body = json.loads(json.dumps(body or CSAM_BODY))
    body["connectorMetaData"]["connectorUuid"] = str(connector.uuid)
    return json.dumps(body).encode()


CSAM_PATH = "/rest/2.0/am/connector/asset/data/sync"


def test_csam_push_with_the_sample_body(client, make_connector):
    connector = make_connector("ServiceNow", payload_format=PayloadFormat.CSAM)
    response = post_bearer(client, connector, csam_body(connector), path=CSAM_PATH)
    assert response.status_code == 200
    data = response.json()
    assert data["responseCode"] == "SUCCESSFULLY_PUBLISHED" and data["assetsError"] == {}
    assert data["delivery_id"]
    process_all()
    created = Asset.objects.get()
    assert created.hostname == "db-02" and created.os == "Red Hat Enterprise Linux"
    assert created.manufacturer == "VMware, Inc."
    # requestId is the idempotency key
    again = post_bearer(client, connector, csam_body(connector), path=CSAM_PATH)
    assert again.status_code == 200 and again.json()["delivery_id"] == data["delivery_id"]


def test_csam_push_reports_bad_records_by_index(client, connector):
    body = json.loads(json.dumps(CSAM_BODY))
    body["assetData"].append({"identityAttributes": {"hostName": "no-key"}})
    response = post_bearer(client, connector, csam_body(connector, body), path=CSAM_PATH)
    assert response.status_code == 200
    assert list(response.json()["assetsError"]) == ["1"]
    # A connector set to the native format still parses this endpoint's bodies as CSAM.
    process_all()
    assert Delivery.objects.get().status == "partial"


def test_csam_push_errors(client, connector):
    assert client.post(CSAM_PATH, b"{nope", content_type="application/json").status_code == 400
    body = json.loads(json.dumps(CSAM_BODY))
    body["connectorMetaData"]["connectorUuid"] = "00000000-0000-4000-8000-000000000000"
    response = post_bearer(client, connector, json.dumps(body).encode(), path=CSAM_PATH)
    assert response.status_code == 401
    response = post_bearer(client, connector, csam_body(connector), path=CSAM_PATH, token="wrong")
    assert response.status_code == 401
    response = post_signed(client, connector, csam_body(connector), path=CSAM_PATH)
    assert response.status_code == 200


def test_csam_nic_address_and_netbios_only_asset(admin_ui, connector):
    """A NIC's ``address`` is an IP of the asset; an asset known only by NetBIOS name is shown under it."""
    body = {
        "connectorMetaData": {"requestId": "req-nb", "connectorUuid": str(connector.uuid)},
        "assetData": [
            {
                "identityAttributes": {"sourceNativeKey": "nb-1", "netBiosName": "FILESRV-07"},
                "coreAttributes": {
                    "networkInterfaces": [
                        {"interfaceName": "Ethernet0", "address": "10.40.0.7", "gatewayAddress": "10.40.0.1"}
                    ]
                },
            }
        ],
    }
    response = post_bearer(admin_ui, connector, csam_body(connector, body), path=CSAM_PATH)
    assert response.status_code == 200, response.content
    process_all()
    asset = Asset.objects.get()
    assert asset.ip_addresses == ["10.40.0.7"]
    assert asset.display_name == "FILESRV-07"
    page = admin_ui.get(reverse("assets:asset_list"))
    assert "<strong>FILESRV-07</strong>" in page.content.decode()
