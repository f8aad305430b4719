"""Django admin for the inventory: looked at, not edited; rule definitions editable except the system rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from assets.engine.records import AssetRecord
from assets.models import Asset, AssetEvent, Decision, IdentificationRule, Identifier, SourceRecord
from assets.rule_selection import update_rule_selection
from assets.services import process_records

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def url(model, view: str, *args) -> str:
    return reverse(f"admin:assets_{model._meta.model_name}_{view}", args=args)


def machine(i: int, **extra) -> AssetRecord:
    fields = {
        "source_key": f"k-{i}",
        "hostname": f"host-{i:03}",
        "serial_number": f"SN{i:06d}",
        "mac_addresses": (f"00:11:22:00:00:{i:02x}",),
        "ip_addresses": (f"10.0.0.{i}",),
        "os": "Linux",
        "updated_at": T0,
    }
    fields.update(extra)
    return AssetRecord(**fields)


@pytest.fixture
def inventory(connector):
    """Three assets from one connector, with their source records, identifiers and decisions."""
    process_records(connector, [machine(1), machine(2, os="Windows"), machine(3)])
    Asset.objects.filter(hostname="host-003").update(retired=True, possible_duplicate=True, kind="managed")
    return connector


def listed(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


# --- assets -----------------------------------------------------------------------------------------------------


def test_asset_changelist_renders(admin_client, inventory):
    response = admin_client.get(url(Asset, "changelist"))
    html = response.content.decode()
    assert "host-001" in html and "SN000002" in html and "Windows" in html
    assert url(Asset, "add") not in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "host-002"}, ["host-002"]),
        ({"q": "SN000003"}, ["host-003"]),
        ({"retired__exact": "1"}, ["host-003"]),
        ({"possible_duplicate__exact": "1"}, ["host-003"]),
        ({"kind__exact": "unmanaged"}, ["host-001", "host-002"]),
    ],
)
def test_asset_search_and_filters(admin_client, inventory, params, expected):
    assets = listed(admin_client.get(url(Asset, "changelist"), params))
    assert sorted(asset.hostname for asset in assets) == expected


def test_asset_search_by_uuid(admin_client, inventory):
    asset = Asset.objects.get(hostname="host-001")
    assert [a.hostname for a in listed(admin_client.get(url(Asset, "changelist"), {"q": str(asset.uuid)}))] == [
        "host-001"
    ]


def test_asset_is_view_only(admin_client, inventory):
    asset = Asset.objects.get(hostname="host-001")
    page = admin_client.get(url(Asset, "change", asset.pk))
    assert page.status_code == 200
    html = page.content.decode()
    assert "host-001" in html and "k-1" in html  # the asset and its source record inline
    assert 'name="_save"' not in html
    assert admin_client.get(url(Asset, "add")).status_code == 403
    assert admin_client.post(url(Asset, "change", asset.pk), {"hostname": "renamed"}).status_code == 403
    assert admin_client.post(url(Asset, "delete", asset.pk), {"post": "yes"}).status_code == 403
    asset.refresh_from_db()
    assert asset.hostname == "host-001"


def test_asset_changelist_query_count_is_constant(admin_client, connector, django_assert_max_num_queries):
    process_records(connector, [machine(i) for i in range(1, 4)])
    with django_assert_max_num_queries(50) as few:
        admin_client.get(url(Asset, "changelist"))
    process_records(connector, [machine(i) for i in range(4, 21)])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(listed(admin_client.get(url(Asset, "changelist")))) == 20


# --- the other read-only inventory models -----------------------------------------------------------------------


@pytest.mark.parametrize("model", [SourceRecord, Identifier, Decision, AssetEvent])
def test_read_only_models_render_and_refuse_writes(admin_client, inventory, model, django_user_model):
    if model is AssetEvent:
        AssetEvent.objects.create(asset=Asset.objects.first(), action="retired")
    response = admin_client.get(url(model, "changelist"))
    assert response.status_code == 200
    assert url(model, "add") not in response.content.decode()
    assert admin_client.get(url(model, "add")).status_code == 403
    row = model.objects.first()
    view = admin_client.get(url(model, "change", row.pk))
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    assert admin_client.post(url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=row.pk).exists()


def test_decision_filters(admin_client, inventory, make_connector):
    other = make_connector("MDM")
    process_records(other, [machine(9)])
    by_outcome = listed(admin_client.get(url(Decision, "changelist"), {"outcome__exact": "created"}))
    assert {d.source_key for d in by_outcome} == {"k-1", "k-2", "k-3", "k-9"}
    by_connector = listed(admin_client.get(url(Decision, "changelist"), {"connector__id__exact": other.pk}))
    assert [d.source_key for d in by_connector] == ["k-9"]


def test_source_record_search(admin_client, inventory):
    assert [r.source_key for r in listed(admin_client.get(url(SourceRecord, "changelist"), {"q": "k-2"}))] == ["k-2"]


def test_identifier_search(admin_client, inventory):
    found = listed(admin_client.get(url(Identifier, "changelist"), {"q": "sn000001"}))
    assert [(i.kind, i.value) for i in found] == [("serial_number", "SN000001")]


# --- identification rules ---------------------------------------------------------------------------------------


def test_rule_changelist(admin_client, defaults):
    response = admin_client.get(url(IdentificationRule, "changelist"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Hostname + IP address" in html and "Hostname + IP address" in html


def test_system_rule_is_read_only_and_undeletable(admin_client, defaults):
    rule = IdentificationRule.objects.get(is_system=True)
    page = admin_client.get(url(IdentificationRule, "change", rule.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    response = admin_client.post(url(IdentificationRule, "change", rule.pk), {"name": "Hijacked", "position": 1})
    assert response.status_code == 403
    assert admin_client.post(url(IdentificationRule, "delete", rule.pk), {"post": "yes"}).status_code == 403
    bulk = admin_client.post(
        url(IdentificationRule, "changelist"),
        {"action": "delete_selected", "_selected_action": [rule.pk], "post": "yes"},
    )
    assert bulk.status_code == 403
    rule.refresh_from_db()
    assert rule.name == "Source native key"


def test_a_rule_can_be_edited(admin_client, defaults):
    rule = IdentificationRule.objects.get(name="Hostname")
    data = {"name": " Short hostname ", "description": "Reused names", "attributes": ["hostname"]}
    response = admin_client.post(url(IdentificationRule, "change", rule.pk), data)
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.description, rule.attributes) == ("Short hostname", "Reused names", ["hostname"])


def test_a_new_rule_joins_every_connector_turned_off(admin_client, connector):
    data = {"name": "Serial + MAC", "attributes": ["mac_address", "serial_number"]}
    assert admin_client.post(url(IdentificationRule, "add"), data).status_code == 302
    rule = IdentificationRule.objects.get(name="Serial + MAC")
    assert rule.attributes == ["serial_number", "mac_address"]
    assert not rule.is_system
    selection = list(connector.rule_selection.all())
    assert selection[-1].rule == rule and not selection[-1].enabled


def test_rule_names_and_attribute_sets_are_unique(admin_client, defaults):
    response = admin_client.post(url(IdentificationRule, "add"), {"name": "serial NUMBER", "attributes": ["fqdn"]})
    assert response.status_code == 200
    assert "exists already" in str(response.context["adminform"].form.errors["name"])
    response = admin_client.post(
        url(IdentificationRule, "add"), {"name": "Serial again", "attributes": ["serial_number"]}
    )
    assert "has these attributes already" in str(response.context["adminform"].form.errors["attributes"])


def test_a_rule_needs_known_attributes(admin_client, defaults):
    response = admin_client.post(url(IdentificationRule, "add"), {"name": "Bad", "attributes": ["shoe_size"]})
    assert response.status_code == 200
    assert "shoe_size is not one of the available choices" in response.content.decode()
    assert not IdentificationRule.objects.filter(name="Bad").exists()


def test_a_connectors_last_rule_cannot_be_deleted(admin_client, connector):
    serial = IdentificationRule.objects.get(name="Serial number")
    update_rule_selection(
        connector,
        enabled={
            item.rule_id: item.rule_id == serial.pk or item.rule.is_system
            for item in connector.rule_selection.select_related("rule")
        },
    )
    delete_url = url(IdentificationRule, "delete", serial.pk)
    page = admin_client.get(delete_url)
    assert "CMDB" in page.content.decode() and "turn another one on first" in page.content.decode()
    admin_client.post(delete_url, {"post": "yes"})
    assert IdentificationRule.objects.filter(pk=serial.pk).exists()

    fqdn = IdentificationRule.objects.get(name="FQDN")  # off for this connector: deleting it strands nothing
    assert admin_client.post(url(IdentificationRule, "delete", fqdn.pk), {"post": "yes"}).status_code == 302
    assert not IdentificationRule.objects.filter(pk=fqdn.pk).exists()
