"""The connectors management API: /api/v1/connectors/ and /api/v1/connectors/<uuid>/rules/."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from drf_spectacular.validation import validate_schema
from knox.models import AuthToken
from rest_framework.test import APIClient

from assets.engine.records import AssetRecord
from assets.models import Asset, IdentificationRule
from assets.services import process_records
from connectors.choices import ConnectorAction
from connectors.models import Connector, ConnectorEvent
from connectors.services import set_enabled, token_matches

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
LIST_URL = reverse("connectors-api:connector-list")


def detail_url(connector: Connector) -> str:
    return reverse("connectors-api:connector-detail", args=[connector.uuid])


def action_url(connector: Connector, name: str) -> str:
    return reverse(f"connectors-api:connector-{name}", args=[connector.uuid])


def rules_url(connector: Connector) -> str:
    return action_url(connector, "rules")


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user)[1]}")
    return client


@pytest.fixture
def api(connector_admin) -> APIClient:
    """A Connector admin authenticated with a DRF token, as a script would be."""
    return token_client(connector_admin)


@pytest.fixture
def viewer_api(viewer) -> APIClient:
    return token_client(viewer)


def events(connector: Connector, action: str) -> int:
    return ConnectorEvent.objects.filter(connector=connector, action=action).count()


def rule_id(name: str) -> int:
    return IdentificationRule.objects.get(name=name).pk


# --- authentication -------------------------------------------------------------------------------------------


def test_token_auth_reads_the_list(api, connector):
    response = api.get(LIST_URL)
    assert response.status_code == 200
    assert [item["name"] for item in response.json()["results"]] == ["CMDB"]


def test_session_auth_reads_the_list(client, viewer, connector):
    client.force_login(viewer)
    response = client.get(LIST_URL)
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_a_bad_token_is_refused_as_problem_json(connector):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    response = client.get(LIST_URL)
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response.json()["detail"] == "Invalid token."


@pytest.mark.parametrize(
    ("method", "url_name"),
    [("get", "list"), ("post", "list"), ("get", "detail"), ("delete", "detail"), ("get", "rules")],
)
def test_anonymous_is_refused(connector, method, url_name):
    url = LIST_URL if url_name == "list" else detail_url(connector) if url_name == "detail" else rules_url(connector)
    response = getattr(APIClient(), method)(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response["Content-Type"] == PROBLEM
    assert Connector.objects.filter(pk=connector.pk).exists()


# --- list, filters, search --------------------------------------------------------------------------------------


def test_list_shows_status_state_url_and_asset_count(api, connector):
    item = api.get(LIST_URL).json()["results"][0]
    assert item["uuid"] == str(connector.uuid)
    assert item["status"] == {"value": "pending", "label": "Pending"}
    assert item["state"] == "enabled"
    assert item["enabled"] is True
    assert item["webhook_url"] == f"http://testserver/webhooks/{connector.uuid}"
    assert item["asset_count"] == 0
    assert item["modules"] == ["csam"]
    assert item["created_by"] == "carol"
    assert item["token_hint"].startswith("chk_")
    assert item["signing_secret_hint"].startswith("whsec_") and item["signing_secret_hint"].endswith("…")
    assert "token" not in item and "signing_secret" not in item


def test_asset_count_counts_live_assets(api, make_connector):
    cmdb, mdm = make_connector("CMDB"), make_connector("MDM")
    process_records(cmdb, [AssetRecord(source_key=f"k{i}", hostname=f"host-{i}") for i in range(3)])
    process_records(mdm, [AssetRecord(source_key="m1", hostname="laptop")])
    Asset.objects.filter(hostname="host-2").update(retired=True)
    counts = {item["name"]: item["asset_count"] for item in api.get(LIST_URL).json()["results"]}
    assert counts == {"CMDB": 2, "MDM": 1}
    assert api.get(detail_url(cmdb)).json()["asset_count"] == 2
    ordered = api.get(LIST_URL, {"ordering": "asset_count"}).json()["results"]
    assert [item["name"] for item in ordered] == ["MDM", "CMDB"]


def test_delete_retires_the_assets_only_it_reports(api, connector):
    process_records(connector, [AssetRecord(source_key="k1", hostname="host-1")])
    assert api.delete(detail_url(connector)).status_code == 204
    assert Asset.objects.get(hostname="host-1").retired is True


def test_disabled_connector_shows_disabled(api, connector):
    set_enabled(connector, False)
    item = api.get(detail_url(connector)).json()
    assert item["status"] == {"value": "disabled", "label": "Disabled"}
    assert item["state"] == "disabled"


def test_filters_and_search(api, make_connector):
    make_connector("ServiceNow CMDB", description="Server CIs")
    make_connector("Intune", description="Laptops from MDM", modules=["csam", "log"], payload_format="csam")
    make_connector("Cloud script", modules=["log"])
    set_enabled(Connector.objects.get(name="Cloud script"), False)

    def names(**params):
        response = api.get(LIST_URL, params)
        assert response.status_code == 200
        return [item["name"] for item in response.json()["results"]]

    assert names() == ["Cloud script", "Intune", "ServiceNow CMDB"]
    assert names(q="laptops") == ["Intune"]
    assert names(q="cmdb") == ["ServiceNow CMDB"]
    assert names(enabled="false") == ["Cloud script"]
    assert names(payload_format="csam") == ["Intune"]
    assert names(module="log") == ["Cloud script", "Intune"]
    assert names(ordering="-name") == ["ServiceNow CMDB", "Intune", "Cloud script"]


def test_an_unknown_filter_value_is_a_problem(api, connector):
    response = api.get(LIST_URL, {"payload_format": "xml"})
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert "payload_format" in response.json()["errors"]


def test_list_is_paginated(api, make_connector):
    for index in range(3):
        make_connector(f"Source {index}")
    body = api.get(LIST_URL, {"limit": 2}).json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"]


def test_list_query_count_does_not_grow(api, make_connector, django_assert_num_queries):
    for index in range(3):
        make_connector(f"Source {index:02}")
    with django_assert_num_queries(3) as few:  # token with its user, count, page
        assert len(api.get(LIST_URL).json()["results"]) == 3
    for index in range(3, 20):
        make_connector(f"Source {index:02}")
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(api.get(LIST_URL).json()["results"]) == 20


# --- create, read, update, delete -------------------------------------------------------------------------------


def test_create_returns_credentials_once(api, defaults, connector_admin):
    response = api.post(
        LIST_URL,
        {"name": "  ServiceNow CMDB ", "description": "Servers", "modules": ["log", "csam"], "trust_rank": 70},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    connector = Connector.objects.get(uuid=body["uuid"])
    assert connector.name == "ServiceNow CMDB"
    assert connector.module_list == ["csam", "log"]
    assert connector.trust_rank == 70
    assert connector.created_by == connector_admin
    assert token_matches(connector, body["token"])
    assert body["signing_secret"] == connector.signing_secret
    assert body["signing_secret"].startswith("whsec_")
    assert body["token_hint"] == connector.token_hint and body["token"].startswith(body["token_hint"])
    assert body["asset_count"] == 0
    assert connector.rule_selection.count() == IdentificationRule.objects.count()
    assert events(connector, ConnectorAction.CREATED) == 1

    again = api.get(detail_url(connector))
    assert again.status_code == 200
    text = again.content.decode()
    assert "token" not in again.json() and "signing_secret" not in again.json()
    assert body["token"] not in text and body["signing_secret"] not in text
    assert body["token"] not in api.get(LIST_URL).content.decode()


def test_create_can_set_the_identification_options(api, defaults):
    response = api.post(
        LIST_URL,
        {"name": "Strict", "modules": ["csam"], "create_unmanaged": False, "apply_default_rule": False},
        format="json",
    )
    assert response.status_code == 201
    connector = Connector.objects.get(name="Strict")
    assert connector.create_unmanaged is False and connector.apply_default_rule is False


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"modules": ["csam"]}, "name", "This field is required."),
        ({"name": "x" * 101, "modules": ["csam"]}, "name", "Ensure this field has no more than 100 characters."),
        ({"name": "A", "description": "d" * 1001, "modules": ["csam"]}, "description", "no more than 1000"),
        ({"name": "A", "modules": []}, "modules", "This list may not be empty."),
        ({"name": "A"}, "modules", "This field is required."),
        ({"name": "A", "modules": ["crm"]}, "modules", '"crm" is not a valid choice.'),
        ({"name": "A", "modules": ["csam"], "trust_rank": 0}, "trust_rank", "greater than or equal to 1"),
        ({"name": "A", "modules": ["csam"], "trust_rank": 101}, "trust_rank", "less than or equal to 100"),
        ({"name": "A", "modules": ["csam"], "payload_format": "xml"}, "payload_format", "not a valid choice"),
    ],
)
def test_create_validation_errors_are_problem_json(api, defaults, body, field, message):
    response = api.post(LIST_URL, body, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 400 and problem["title"]
    assert message in str(problem["errors"][field])
    assert not Connector.objects.exists()


def test_names_are_unique_ignoring_case(api, connector):
    response = api.post(LIST_URL, {"name": "cmdb", "modules": ["csam"]}, format="json")
    assert response.status_code == 409 and response.json()["title"] == "Conflict"
    assert response.json()["errors"]["name"] == ["A connector named “cmdb” already exists (names ignore case)."]
    assert Connector.objects.count() == 1


def test_partial_update_goes_through_the_service(api, connector):
    response = api.patch(
        detail_url(connector), {"description": "Nightly", "trust_rank": 80, "modules": ["csam", "log"]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["trust_rank"] == 80
    connector.refresh_from_db()
    assert (connector.description, connector.trust_rank, connector.modules) == ("Nightly", 80, "csam,log")
    event = ConnectorEvent.objects.get(connector=connector, action=ConnectorAction.EDITED)
    assert event.details["changes"]["trust_rank"] == [50, 80]


def test_renaming_keeps_the_own_name_and_refuses_another(api, make_connector):
    first = make_connector("CMDB")
    make_connector("MDM")
    assert api.patch(detail_url(first), {"name": "cmdb"}, format="json").status_code == 200
    response = api.patch(detail_url(first), {"name": "mdm"}, format="json")
    assert response.status_code == 409
    assert "already exists" in response.json()["errors"]["name"][0]


def test_put_replaces_the_settings(api, connector):
    response = api.put(
        detail_url(connector),
        {
            "name": "CMDB 2",
            "description": "",
            "modules": ["log"],
            "payload_format": "csam",
            "trust_rank": 10,
            "require_signature": True,
            "create_unmanaged": False,
            "apply_default_rule": False,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    connector.refresh_from_db()
    assert connector.name == "CMDB 2"
    assert connector.payload_format == "csam"
    assert connector.require_signature and not connector.create_unmanaged and not connector.apply_default_rule


def test_read_only_fields_are_ignored(api, connector):
    api.patch(detail_url(connector), {"enabled": False, "token_hint": "chk_evil", "asset_count": 9}, format="json")
    connector.refresh_from_db()
    assert connector.enabled is True
    assert connector.token_hint != "chk_evil"


def test_delete_goes_through_the_service(api, connector):
    response = api.delete(detail_url(connector))
    assert response.status_code == 204
    assert not Connector.objects.exists()
    assert ConnectorEvent.objects.filter(action=ConnectorAction.DELETED, connector_name="CMDB").exists()


def test_unknown_uuid_is_404_problem(api, defaults):
    response = api.get(reverse("connectors-api:connector-detail", args=["00000000-0000-0000-0000-000000000000"]))
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM


# --- actions ----------------------------------------------------------------------------------------------------


def test_disable_and_enable_write_audit_rows(api, connector):
    response = api.post(action_url(connector, "disable"))
    assert response.status_code == 200
    assert response.json()["state"] == "disabled"
    connector.refresh_from_db()
    assert connector.enabled is False
    assert events(connector, ConnectorAction.DISABLED) == 1

    assert api.post(action_url(connector, "enable")).json()["status"]["value"] == "pending"
    connector.refresh_from_db()
    assert connector.enabled is True
    assert events(connector, ConnectorAction.ENABLED) == 1


def test_rotate_secret_returns_it_once_and_keeps_the_previous_for_a_while(api, connector):
    old_secret = connector.credentials.signing_secret
    response = api.post(action_url(connector, "rotate-secret"))
    assert response.status_code == 200
    body = response.json()
    connector.refresh_from_db()
    assert body["signing_secret"] == connector.signing_secret != old_secret
    assert connector.previous_signing_secret == old_secret
    assert body["previous_secret_expires_at"]
    assert events(connector, ConnectorAction.SECRET_ROTATED) == 1
    assert body["signing_secret"] not in api.get(detail_url(connector)).content.decode()


def test_rotate_token_returns_a_working_token_once(api, connector):
    old_token = connector.credentials.token
    response = api.post(action_url(connector, "rotate-token"))
    assert response.status_code == 200
    connector.refresh_from_db()
    assert token_matches(connector, response.json()["token"])
    assert not token_matches(connector, old_token)
    assert events(connector, ConnectorAction.TOKEN_ROTATED) == 1


# --- rules ------------------------------------------------------------------------------------------------------


def test_rules_show_the_ordered_selection(api, connector):
    response = api.get(rules_url(connector))
    assert response.status_code == 200
    body = response.json()
    assert body["create_unmanaged"] is True and body["apply_default_rule"] is True
    rules = body["rules"]
    assert [rule["position"] for rule in rules] == list(range(len(rules)))
    assert rules[0] == {
        "id": rule_id("Source native key"),
        "name": "Source native key",
        "description": rules[0]["description"],
        "attributes": ["source_native_key"],
        "is_system": True,
        "required": True,
        "position": 0,
    }
    required = {rule["name"]: rule["required"] for rule in rules}
    assert required["Serial number"] is True
    assert required["Hostname"] is False and required["IP address"] is False


def test_put_rules_reorders_toggles_and_sets_options(api, connector):
    current = api.get(rules_url(connector)).json()["rules"]
    new_order = [current[0], *reversed(current[1:])]
    body = {
        "rules": [{"id": rule["id"], "required": rule["name"] != "Serial number"} for rule in new_order],
        "create_unmanaged": False,
        "apply_default_rule": False,
    }
    response = api.put(rules_url(connector), body, format="json")
    assert response.status_code == 200, response.json()
    rules = response.json()["rules"]
    assert [rule["id"] for rule in rules] == [rule["id"] for rule in new_order]
    assert {rule["name"]: rule["required"] for rule in rules}["Serial number"] is False
    assert response.json()["create_unmanaged"] is False
    connector.refresh_from_db()
    assert connector.create_unmanaged is False and connector.apply_default_rule is False
    assert events(connector, ConnectorAction.RULES_CHANGED) == 1


def test_patch_rules_only_toggles(api, connector):
    before = [rule["id"] for rule in api.get(rules_url(connector)).json()["rules"]]
    response = api.patch(
        rules_url(connector), {"rules": [{"id": rule_id("Hostname"), "required": True}]}, format="json"
    )
    assert response.status_code == 200
    rules = response.json()["rules"]
    assert [rule["id"] for rule in rules] == before
    assert {rule["name"]: rule["required"] for rule in rules}["Hostname"] is True
    assert response.json()["create_unmanaged"] is True


def test_patch_rules_can_set_one_option(api, connector):
    response = api.patch(rules_url(connector), {"apply_default_rule": False}, format="json")
    assert response.status_code == 200
    assert response.json()["apply_default_rule"] is False
    assert response.json()["create_unmanaged"] is True


def test_turning_off_every_rule_is_refused_with_the_reason(api, connector):
    rules = api.get(rules_url(connector)).json()["rules"]
    body = {"rules": [{"id": rule["id"], "required": False} for rule in rules if not rule["is_system"]]}
    response = api.patch(rules_url(connector), body, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert "At least one identification rule besides Source native key must stay on." in response.json()["detail"]
    assert connector.rule_selection.filter(enabled=True, rule__is_system=False).exists()
    assert events(connector, ConnectorAction.RULES_CHANGED) == 0


def test_turning_off_the_system_rule_is_refused(api, connector):
    body = {"rules": [{"id": rule_id("Source native key"), "required": False}]}
    response = api.patch(rules_url(connector), body, format="json")
    assert response.status_code == 400
    assert "system rule and cannot be turned off" in response.json()["detail"]


def test_put_rules_must_list_every_rule(api, connector):
    body = {
        "rules": [{"id": rule_id("Serial number"), "required": True}],
        "create_unmanaged": True,
        "apply_default_rule": True,
    }
    response = api.put(rules_url(connector), body, format="json")
    assert response.status_code == 400
    assert "each of the connector's rules once" in response.json()["detail"]


def test_put_rules_needs_every_member(api, connector):
    response = api.put(rules_url(connector), {"rules": []}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"create_unmanaged", "apply_default_rule"}


def test_rules_listed_twice_are_refused(api, connector):
    item = {"id": rule_id("Hostname"), "required": True}
    response = api.patch(rules_url(connector), {"rules": [item, item]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["rules"] == ["Each rule may be listed once."]


def test_an_unknown_rule_is_refused(api, connector):
    response = api.patch(rules_url(connector), {"rules": [{"id": 999_999, "required": True}]}, format="json")
    assert response.status_code == 400
    assert "not part of this connector's selection" in response.json()["detail"]


# --- roles ------------------------------------------------------------------------------------------------------


def test_a_viewer_reads_everything(viewer_api, connector):
    assert viewer_api.get(LIST_URL).status_code == 200
    assert viewer_api.get(detail_url(connector)).status_code == 200
    assert viewer_api.get(rules_url(connector)).status_code == 200


@pytest.mark.parametrize(
    ("method", "target", "body"),
    [
        ("post", "list", {"name": "New", "modules": ["csam"]}),
        ("put", "detail", {"name": "X", "modules": ["csam"]}),
        ("patch", "detail", {"name": "X"}),
        ("delete", "detail", None),
        ("post", "enable", None),
        ("post", "disable", None),
        ("post", "rotate-secret", None),
        ("post", "rotate-token", None),
        ("put", "rules", {"rules": [], "create_unmanaged": False, "apply_default_rule": False}),
        ("patch", "rules", {"create_unmanaged": False}),
    ],
)
def test_a_viewer_cannot_write(viewer_api, connector, method, target, body):
    url = (
        LIST_URL if target == "list" else detail_url(connector) if target == "detail" else action_url(connector, target)
    )
    before = ConnectorEvent.objects.count()
    response = getattr(viewer_api, method)(url, body, format="json")
    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM
    assert response.json()["detail"] == "Only Connector admins can change this."
    assert ConnectorEvent.objects.count() == before
    connector.refresh_from_db()
    assert connector.name == "CMDB" and connector.enabled and connector.create_unmanaged


def test_staff_may_write_without_the_group(django_user_model, defaults):
    staff = django_user_model.objects.create_user("sam", password="pw-sam-12345", is_staff=True)
    response = token_client(staff).post(LIST_URL, {"name": "By staff", "modules": ["csam"]}, format="json")
    assert response.status_code == 201


# --- OpenAPI ----------------------------------------------------------------------------------------------------


def test_schema_is_valid_openapi(api, connector):
    response = api.get(reverse("schema"), {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    paths = schema["paths"]
    for path in (
        "/api/v1/connectors/",
        "/api/v1/connectors/{uuid}/",
        "/api/v1/connectors/{uuid}/rules/",
        "/api/v1/connectors/{uuid}/rotate-secret/",
    ):
        assert path in paths
        for operation in paths[path].values():
            assert operation["summary"] and operation["description"]
    assert "retired" in paths["/api/v1/connectors/{uuid}/"]["delete"]["description"]
    created = schema["components"]["schemas"]["ConnectorWithCredentials"]["properties"]
    assert "token" in created and "signing_secret" in created
    assert "token" not in schema["components"]["schemas"]["Connector"]["properties"]


def test_docs_render_without_a_cdn(client, viewer):
    client.force_login(viewer)
    response = client.get(reverse("swagger-ui"))
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert sources, "the page loads its assets from somewhere"
    for source in sources:
        parts = urlsplit(source)
        assert not parts.scheme and not parts.netloc, f"{source} is not same-origin"
    script = client.get(reverse("swagger-ui"), {"script": ""})
    assert script.status_code == 200
    assert "https://" not in script.content.decode().replace("https://swagger.io", "")
