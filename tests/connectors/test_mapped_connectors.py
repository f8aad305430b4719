"""The mapped payload format end to end: intake, worker, the set_mapping service, the editor and the API."""

from __future__ import annotations

import json

import pytest

from assets.models import Asset, SourceRecord
from connectors.choices import ConnectorAction, DeliveryStatus, PayloadFormat
from connectors.formats.mapped import MappingError
from connectors.inbox import replay_delivery, send_test_delivery
from connectors.models import ConnectorEvent, Delivery
from connectors.services import set_mapping
from connectors.worker import process_delivery

from .helpers import post_bearer
from .test_api import token_client

pytestmark = pytest.mark.django_db

#: What a hypothetical third-party inventory pushes, byte for byte.
INVENTORY_BODY = (
    b'{"result": {"hosts": [{"id": 17, "name": "web-01.corp.example", "net": {"ips": ["10.0.0.5"], '
    b'"mac": "00-1A-2B-3C-4D-5E"}, "hw": {"serial": "SN1"}}]}}'
)
INVENTORY_MAPPING = {
    "records": "result.hosts[]",
    "deleted": "result.removed",
    "fields": {
        "source_key": "id",
        "fqdn": "name",
        "ip_addresses": "net.ips",
        "mac_addresses": "net.mac",
        "serial_number": "hw.serial",
    },
}


@pytest.fixture
def mapped(make_connector, connector_admin):
    connector = make_connector(name="Inventory", payload_format=PayloadFormat.MAPPED)
    set_mapping(connector, INVENTORY_MAPPING, actor=connector_admin)
    return connector


# --- intake and worker ----------------------------------------------------------------------------------------


def test_the_inventory_body_lands_as_an_asset(client, mapped):
    response = post_bearer(client, mapped, INVENTORY_BODY)
    assert response.status_code == 202, response.content
    assert (response.json()["accepted"], response.json()["errors"]) == (1, [])
    delivery = Delivery.objects.get(uuid=response.json()["delivery_id"])
    assert bytes(delivery.body) == INVENTORY_BODY
    assert delivery.payload_format == "mapped" and delivery.mapping == mapped.mapping
    assert process_delivery(delivery.pk) == DeliveryStatus.PROCESSED
    asset = Asset.objects.get()
    assert asset.fqdn == "web-01.corp.example" and asset.hostname == "web-01"
    assert asset.ip_addresses == ["10.0.0.5"]
    assert asset.mac_addresses == ["00:1a:2b:3c:4d:5e"]
    assert asset.serial_number == "SN1"
    assert SourceRecord.objects.get().source_key == "17"


def test_deletions_selected_by_the_mapping_delete_the_source_record(client, mapped):
    post_bearer(client, mapped, INVENTORY_BODY)
    response = post_bearer(client, mapped, {"result": {"hosts": [], "removed": [17]}})
    assert response.status_code == 202 and response.json()["deleted"] == 1
    for pk in Delivery.objects.order_by("pk").values_list("pk", flat=True):
        process_delivery(pk)
    assert SourceRecord.objects.get().deleted
    assert Asset.objects.get().retired


def test_nothing_maps_400_with_per_record_errors(client, mapped):
    response = post_bearer(client, mapped, {"result": {"hosts": [{"name": "a"}, {"ident": 3}]}})
    assert response.status_code == 400
    problem = response.json()
    assert problem["detail"] == "No valid record in the delivery."
    assert [(e["index"], e["field"], e["message"]) for e in problem["errors"]] == [
        (0, "source_key", "is required"),
        (1, "source_key", "is required"),
    ]
    assert Delivery.objects.get().status == DeliveryStatus.REJECTED


def test_records_expression_selecting_nothing_is_a_400_that_names_it(client, mapped):
    response = post_bearer(client, mapped, {"hosts": []})
    assert response.status_code == 400
    assert 'records expression "result.hosts[]" selects nothing' in response.json()["detail"]


def test_no_mapping_yet_is_a_400_not_a_500(client, make_connector):
    connector = make_connector(name="Unmapped", payload_format=PayloadFormat.MAPPED)
    response = post_bearer(client, connector, INVENTORY_BODY)
    assert response.status_code == 400
    assert "no payload mapping yet" in response.json()["detail"]


def test_the_worker_and_a_replay_use_the_mapping_in_force_at_receipt(client, mapped, connector_admin):
    response = post_bearer(client, mapped, INVENTORY_BODY)
    delivery = Delivery.objects.get(uuid=response.json()["delivery_id"])
    changed = {**INVENTORY_MAPPING, "fields": {"source_key": "hw.serial", "hostname": "name"}}
    set_mapping(mapped, changed, actor=connector_admin)
    process_delivery(delivery.pk)
    assert SourceRecord.objects.get().source_key == "17"
    replay_delivery(delivery, actor=connector_admin)
    process_delivery(delivery.pk)
    assert list(SourceRecord.objects.values_list("source_key", flat=True)) == ["17"]


def test_the_test_delivery_goes_through_the_mapping(mapped, connector_admin):
    delivery = send_test_delivery(mapped, actor=connector_admin)
    assert delivery.payload_format == "mapped"
    assert process_delivery(delivery.pk) == DeliveryStatus.PROCESSED
    assert SourceRecord.objects.get().source_key == "connector-test-asset"


# --- the service ----------------------------------------------------------------------------------------------


def test_set_mapping_audits_old_and_new(mapped, connector_admin):
    before = mapped.mapping
    new = {**INVENTORY_MAPPING, "fields": {**INVENTORY_MAPPING["fields"], "hostname": " name "}}
    set_mapping(mapped, new, actor=connector_admin)
    mapped.refresh_from_db()
    assert mapped.mapping["fields"]["hostname"] == "name"
    event = ConnectorEvent.objects.filter(connector=mapped, action=ConnectorAction.MAPPING_CHANGED).latest("pk")
    assert event.actor == connector_admin
    assert event.details["changes"] == {"hostname": ["", "name"]}
    assert event.details["mapping"] == {"old": before, "new": mapped.mapping}
    set_mapping(mapped, new, actor=connector_admin)  # no change, no row
    assert ConnectorEvent.objects.filter(action=ConnectorAction.MAPPING_CHANGED).count() == 2


def test_set_mapping_refuses_a_bad_mapping_and_keeps_the_old_one(mapped, connector_admin):
    with pytest.raises(MappingError) as caught:
        set_mapping(mapped, {"records": "result.hosts[", "fields": {"hostname": "name"}}, actor=connector_admin)
    assert set(caught.value.errors) == {"records", "fields.source_key"}
    mapped.refresh_from_db()
    assert mapped.mapping["records"] == "result.hosts[]"


# --- the editor -----------------------------------------------------------------------------------------------


def form_data(mapping: dict, sample: object = None) -> dict:
    data = {"records": mapping.get("records", ""), "deleted": mapping.get("deleted", ""), **mapping["fields"]}
    if sample is not None:
        data["sample"] = json.dumps(sample)
    return data


def test_connector_page_links_the_editor_and_shows_the_mapping(admin_ui, mapped, make_connector):
    page = admin_ui.get(mapped.get_absolute_url()).content.decode()
    assert f"/connectors/{mapped.uuid}/mapping/" in page
    assert "<code>result.hosts[]</code>" in page
    assert "&quot;serial&quot;: &quot;TEST-CONNECTOR-0001&quot;" in page  # the curl body fits the mapping
    unmapped = make_connector(name="Fresh", payload_format=PayloadFormat.MAPPED)
    assert "No mapping yet" in admin_ui.get(unmapped.get_absolute_url()).content.decode()
    native = make_connector(name="Native")
    assert "/mapping/" not in admin_ui.get(native.get_absolute_url()).content.decode()


def test_editor_shows_the_stored_mapping(admin_ui, mapped):
    response = admin_ui.get(f"/connectors/{mapped.uuid}/mapping/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'value="result.hosts[]"' in page and 'value="hw.serial"' in page
    assert '<label for="id_source_key">Source key' in page
    assert "Save mapping" in page


def test_htmx_preview_answers_the_records_and_field_errors(admin_ui, mapped):
    sample = {"result": {"hosts": [json.loads(INVENTORY_BODY)["result"]["hosts"][0], {"name": "x"}]}}
    data = form_data({"records": "result.hosts[]", "fields": {"source_key": "id", "fqdn": "name", "os": "os |"}})
    response = admin_ui.post(
        f"/connectors/{mapped.uuid}/mapping/preview/", {**data, "sample": json.dumps(sample)}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert "2 records" in html and "1 with an error" in html
    assert '<th scope="row">17</th>' in html and "web-01.corp.example" in html
    assert "<code>source_key</code> is required" in html
    assert (
        'id="id_os_errors" class="error-slot" hx-swap-oob="true"><p class="error">Operating system is not a valid'
        in html
    )
    assert mapped.events.filter(action=ConnectorAction.MAPPING_CHANGED).count() == 1  # nothing saved


def test_preview_without_javascript_renders_the_whole_page(viewer_ui, mapped):
    data = form_data(INVENTORY_MAPPING, json.loads(INVENTORY_BODY))
    response = viewer_ui.post(f"/connectors/{mapped.uuid}/mapping/preview/", data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" in page and "1 record" in page and "web-01.corp.example" in page
    assert "Save mapping" not in page  # viewers read and preview, never save


def test_save_stores_and_audits(admin_ui, mapped):
    data = form_data({"records": "@", "fields": {"source_key": "id", "hostname": "name"}}, sample="not used")
    response = admin_ui.post(f"/connectors/{mapped.uuid}/mapping/", data)
    assert response.status_code == 302
    mapped.refresh_from_db()
    assert mapped.mapping == {"records": "@", "deleted": "", "fields": {"source_key": "id", "hostname": "name"}}
    assert "Payload mapping saved" in admin_ui.get(response.url).content.decode()


def test_save_with_errors_is_a_400_with_the_errors_next_to_the_fields(admin_ui, mapped):
    data = form_data({"records": "result.hosts[", "fields": {"hostname": "name"}})
    response = admin_ui.post(f"/connectors/{mapped.uuid}/mapping/", data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "The mapping was not saved" in page
    assert '<div id="id_records_errors" class="error-slot"><p class="error">Records is not a valid JMESPath' in page
    assert '<div id="id_source_key_errors" class="error-slot"><p class="error">Source key is required.' in page
    assert 'aria-invalid="true"' in page
    mapped.refresh_from_db()
    assert mapped.mapping["records"] == "result.hosts[]"


def test_viewer_cannot_save(viewer_ui, mapped):
    response = viewer_ui.post(f"/connectors/{mapped.uuid}/mapping/", form_data(INVENTORY_MAPPING))
    assert response.status_code == 403
    page = viewer_ui.get(f"/connectors/{mapped.uuid}/mapping/").content.decode()
    assert "readonly" in page and "Save mapping" not in page


def test_actions_menu_offers_the_editor_only_for_mapped_connectors(admin_ui, mapped, make_connector):
    make_connector(name="Native")
    page = admin_ui.get("/connectors/").content.decode()
    assert page.count("Payload mapping</a>") == 1


# --- the API --------------------------------------------------------------------------------------------------


def test_api_reads_the_mapping(mapped, viewer):
    reply = token_client(viewer).get(f"/api/v1/connectors/{mapped.uuid}/").json()
    assert reply["mapping"] == mapped.mapping and reply["payload_format"] == "mapped"


def test_api_writes_the_mapping_through_the_service(mapped, connector_admin):
    api = token_client(connector_admin)
    new = {"records": "@", "fields": {"source_key": "id"}}
    response = api.patch(f"/api/v1/connectors/{mapped.uuid}/", {"mapping": new}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["mapping"] == {"records": "@", "deleted": "", "fields": {"source_key": "id"}}
    assert mapped.events.filter(action=ConnectorAction.MAPPING_CHANGED).count() == 2
    whole = api.get(f"/api/v1/connectors/{mapped.uuid}/").json()
    writable = {key: whole[key] for key in ("name", "description", "modules", "payload_format", "mapping")}
    assert api.put(f"/api/v1/connectors/{mapped.uuid}/", writable, format="json").status_code == 200


def test_api_creates_a_mapped_connector_with_its_mapping(connector_admin):
    body = {"name": "Script", "modules": ["csam"], "payload_format": "mapped", "mapping": INVENTORY_MAPPING}
    response = token_client(connector_admin).post("/api/v1/connectors/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["mapping"]["records"] == "result.hosts[]"


def test_api_refuses_an_invalid_mapping_with_field_errors(mapped, connector_admin):
    bad = {"records": "result.hosts[", "fields": {"source_key": "id", "colour": "c"}}
    response = token_client(connector_admin).patch(
        f"/api/v1/connectors/{mapped.uuid}/", {"mapping": bad}, format="json"
    )
    assert response.status_code == 400
    errors = response.json()["errors"]["mapping"]
    assert set(errors) == {"records", "fields"}
    assert "not native fields: colour" in errors["fields"][0]


def test_viewer_cannot_write_the_mapping(mapped, viewer):
    response = token_client(viewer).patch(f"/api/v1/connectors/{mapped.uuid}/", {"mapping": {}}, format="json")
    assert response.status_code == 403
