import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assets import inventory
from assets.choices import AssetKind
from assets.models import Asset, IdentificationRule, RuleSelection
from tests.assets.factories import add_source, make_asset

ASSETS = reverse("assets-api:asset-list")
RULES = reverse("assets-api:identification-rule-list")
PROBLEM = "application/problem+json"


def detail(asset) -> str:
    return reverse("assets-api:asset-detail", args=[asset.uuid])


def rule_url(rule) -> str:
    return reverse("assets-api:identification-rule-detail", args=[rule.pk])


@pytest.fixture
def web(cmdb, mdm):
    asset = make_asset(
        cmdb, "cmdb-web", hostname="web-01", serial_number="SN-WEB", ip_addresses=["10.0.0.5"], os="Ubuntu"
    )
    add_source(asset, mdm, "mdm-web", hostname="web-01", os="Windows", mac_addresses=["00:1a:2b:3c:4d:5e"])
    asset.refresh_from_db()
    return asset


def hostnames(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["hostname"] for row in response.json()["results"]]


def test_list_is_lean_and_paginated(admin_ui, web):
    response = admin_ui.get(ASSETS)
    body = response.json()
    assert body["count"] == 1
    row = body["results"][0]
    assert row["uuid"] == str(web.uuid) and row["hostname"] == "web-01" and row["ip_addresses"] == ["10.0.0.5"]
    assert row["url"].endswith(detail(web))
    assert "provenance" not in row and "sources" not in row


def test_list_takes_the_same_filters_as_the_page(admin_ui, web, cmdb, mdm):
    make_asset(cmdb, "db", hostname="db-01", os="Windows Server", kind=AssetKind.MANAGED)
    make_asset(mdm, "old", hostname="old-01", deleted=True)
    assert sorted(hostnames(admin_ui.get(ASSETS))) == ["db-01", "web-01"]
    assert hostnames(admin_ui.get(ASSETS, {"q": "00-1A-2B"})) == ["web-01"]
    assert hostnames(admin_ui.get(ASSETS, {"q": "10.0.0"})) == ["web-01"]
    assert hostnames(admin_ui.get(ASSETS, {"q": "SN-W"})) == ["web-01"]
    assert hostnames(admin_ui.get(ASSETS, {"kind": "managed"})) == ["db-01"]
    assert hostnames(admin_ui.get(ASSETS, {"os": "server"})) == ["db-01"]
    assert hostnames(admin_ui.get(ASSETS, {"connector": str(mdm.uuid)})) == ["web-01"]
    assert sorted(hostnames(admin_ui.get(ASSETS, {"connector": str(mdm.uuid), "include_retired": "true"}))) == [
        "old-01",
        "web-01",
    ]
    assert hostnames(admin_ui.get(ASSETS, {"ordering": "hostname"})) == ["db-01", "web-01"]
    assert hostnames(admin_ui.get(ASSETS, {"ordering": "-hostname", "include_retired": "true"})) == [
        "web-01",
        "old-01",
        "db-01",
    ]


def test_bad_filter_is_a_problem(admin_ui, web):
    response = admin_ui.get(ASSETS, {"connector": "nope"})
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert "connector" in response.json()["errors"]


def test_list_query_count_is_constant(admin_ui, cmdb):
    def count():
        with CaptureQueriesContext(connection) as queries:
            assert admin_ui.get(ASSETS, {"limit": 100}).status_code == 200
        return len(queries)

    for index in range(5):
        make_asset(cmdb, f"a{index}", hostname=f"a{index}")
    few = count()
    for index in range(5, 60):
        make_asset(cmdb, f"a{index}", hostname=f"a{index}")
    assert count() == few


def test_detail_has_provenance_and_sources(admin_ui, web, cmdb, mdm):
    response = admin_ui.get(detail(web))
    assert response.status_code == 200
    body = response.json()
    assert body["os"] == "Ubuntu"
    assert body["provenance"]["os"] == {
        "value": "Ubuntu",
        "source": {
            "connector_uuid": str(cmdb.uuid),
            "connector_name": "CMDB",
            "source_key": "cmdb-web",
            "trust_rank": 80,
        },
    }
    assert body["provenance"]["mac_addresses"]["value"] == ["00:1a:2b:3c:4d:5e"]
    assert body["provenance"]["mac_addresses"]["source"]["connector_name"] == "MDM"
    assert [source["source_key"] for source in body["sources"]] == ["cmdb-web", "mdm-web"]
    mdm_source = body["sources"][1]
    assert mdm_source["connector"] == {"uuid": str(mdm.uuid), "name": "MDM"}
    assert mdm_source["attributes"]["os"] == "Windows" and mdm_source["deleted"] is False


def test_detail_of_a_retired_asset_and_of_a_merged_one(admin_ui, web, cmdb):
    retired = make_asset(cmdb, "gone", hostname="old-01", deleted=True)
    response = admin_ui.get(detail(retired))
    assert response.status_code == 200 and response.json()["retired"] is True
    loser = make_asset(cmdb, "dup", hostname="web-01")
    inventory.merge_assets(web, [loser])
    response = admin_ui.get(detail(loser))
    assert response.status_code == 302 and response["Location"].endswith(detail(web))


def test_unknown_asset_is_a_404_problem(admin_ui, defaults):
    for uuid in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        response = admin_ui.get(f"{ASSETS}{uuid}/")
        assert response.status_code == 404 and response["Content-Type"] == PROBLEM


def test_assets_are_read_only(admin_ui, web):
    assert admin_ui.post(ASSETS, {}, content_type="application/json").status_code == 405
    assert admin_ui.delete(detail(web)).status_code == 405


# --- identification rules -------------------------------------------------------------------------------------


def test_rules_list(admin_ui, cmdb):
    response = admin_ui.get(RULES)
    assert response.status_code == 200
    rules = {rule["name"]: rule for rule in response.json()["results"]}
    assert rules["Source native key"]["is_system"] is True
    assert rules["Hostname + IP address"]["attributes"] == ["hostname", "ip_address"]
    assert rules["Serial number"]["used_by"] == 1 and rules["Hostname"]["used_by"] == 0


def test_create_rule_through_the_service(admin_ui, cmdb):
    response = admin_ui.post(
        RULES, {"name": "Serial + MAC", "attributes": ["serial_number", "mac_address"]}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["attributes"] == ["serial_number", "mac_address"] and body["is_system"] is False
    assert body["used_by"] == 0
    assert RuleSelection.objects.get(connector=cmdb, rule_id=body["id"]).enabled is False


@pytest.mark.parametrize(
    ("data", "field", "status"),
    [
        ({"name": "Empty", "attributes": []}, "attributes", 400),
        ({"name": "Twice", "attributes": ["fqdn", "fqdn"]}, "attributes", 400),
        ({"name": "Bogus", "attributes": ["shoe_size"]}, "attributes", 400),
        ({"name": "Typed", "attributes": "fqdn"}, "attributes", 400),
        ({"attributes": ["fqdn"]}, "name", 400),
        # Valid, but taken by another rule: a conflict with what exists.
        ({"name": "SERIAL NUMBER", "attributes": ["ip_address", "fqdn"]}, "name", 409),
        ({"name": "Another FQDN", "attributes": ["fqdn"]}, "attributes", 409),
    ],
)
def test_create_rule_validation(admin_ui, defaults, data, field, status):
    response = admin_ui.post(RULES, data, content_type="application/json")
    assert response.status_code == status and response["Content-Type"] == PROBLEM
    assert field in response.json()["errors"]


def test_update_and_delete_rule(admin_ui, cmdb):
    rule = inventory.create_identification_rule(name="Cloud + host", attributes=["cloud_instance_id", "hostname"])
    response = admin_ui.patch(
        rule_url(rule), {"attributes": ["cloud_instance_id", "fqdn"]}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["attributes"] == ["cloud_instance_id", "fqdn"]
    response = admin_ui.put(
        rule_url(rule),
        {"name": "Cloud", "attributes": ["cloud_instance_id"], "description": "x"},
        content_type="application/json",
    )
    assert response.status_code == 409 and "attributes" in response.json()["errors"]  # same as "Cloud instance ID"
    assert admin_ui.delete(rule_url(rule)).status_code == 204
    assert not IdentificationRule.objects.filter(pk=rule.pk).exists()


def test_system_rule_is_protected(admin_ui, defaults):
    system = IdentificationRule.objects.get(is_system=True)
    for response in (
        admin_ui.patch(rule_url(system), {"name": "Mine"}, content_type="application/json"),
        admin_ui.put(rule_url(system), {"name": "Mine", "attributes": ["fqdn"]}, content_type="application/json"),
        admin_ui.delete(rule_url(system)),
    ):
        assert response.status_code == 403 and response["Content-Type"] == PROBLEM
        assert response.json()["detail"] == "Source native key is a system rule and is read only."
    assert IdentificationRule.objects.filter(pk=system.pk, name="Source native key").exists()


def test_deleting_a_connectors_only_rule_is_a_conflict(admin_ui, cmdb):
    selection = RuleSelection.objects.filter(connector=cmdb, rule__is_system=False)
    only = selection.get(rule__name="FQDN")
    selection.exclude(pk=only.pk).update(enabled=False)
    response = admin_ui.delete(rule_url(only.rule))
    assert response.status_code == 409 and response["Content-Type"] == PROBLEM
    assert "only rule turned on for CMDB" in response.json()["detail"]


def test_viewer_reads_but_cannot_write(viewer_ui, web, defaults):
    assert viewer_ui.get(ASSETS).status_code == 200
    assert viewer_ui.get(detail(web)).status_code == 200
    assert viewer_ui.get(RULES).status_code == 200
    rule = IdentificationRule.objects.get(name="Hostname")
    for response in (
        viewer_ui.post(RULES, {"name": "Mine", "attributes": ["fqdn"]}, content_type="application/json"),
        viewer_ui.patch(rule_url(rule), {"name": "Renamed"}, content_type="application/json"),
        viewer_ui.delete(rule_url(rule)),
    ):
        assert response.status_code == 403 and response["Content-Type"] == PROBLEM
    assert IdentificationRule.objects.filter(pk=rule.pk, name="Hostname").exists()


def test_anonymous_is_refused(client, defaults):
    assert client.get(ASSETS).status_code in (401, 403)
    assert Asset.objects.count() == 0
