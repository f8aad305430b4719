"""Manual inventory operations: merge, split, their undo and rule definitions (assets.inventory).

Inventory rows are built directly with the ORM by ``tests.assets.factories``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from assets import inventory
from assets.choices import AssetAction, AssetKind, IdentifierKind
from assets.models import Asset, AssetEvent, IdentificationRule, Identifier, RuleSelection, SourceRecord
from tests.assets.factories import add_source, make_asset


@pytest.fixture
def two_connectors(make_connector):
    return make_connector("CMDB", trust_rank=80), make_connector("MDM", trust_rank=40)


def test_merge_moves_sources_and_identifiers_to_the_survivor(two_connectors, connector_admin):
    cmdb, mdm = two_connectors
    keep = make_asset(cmdb, "c-1", hostname="web-01", serial_number="SN1")
    other = make_asset(mdm, "m-1", hostname="web-01", mac_addresses=["00:1a:2b:3c:4d:5e"], os="Ubuntu")
    Asset.objects.filter(pk=keep.pk).update(possible_duplicate=True)
    keep.refresh_from_db()

    event = inventory.merge_assets(keep, [other], actor=connector_admin)

    other.refresh_from_db()
    keep.refresh_from_db()
    assert other.merged_into_id == keep.pk
    assert set(keep.sources.values_list("source_key", flat=True)) == {"c-1", "m-1"}
    assert not Identifier.objects.filter(asset=other).exists()
    assert Identifier.objects.filter(asset=keep, kind=IdentifierKind.MAC, value="00:1a:2b:3c:4d:5e").exists()
    assert keep.os == "Ubuntu" and keep.serial_number == "SN1"  # reconciled from both sources
    assert keep.possible_duplicate is False
    assert event.action == AssetAction.MERGED and event.asset == keep and event.actor == connector_admin
    assert event.details["merged"][0]["uuid"] == str(other.uuid)
    assert event.details["merged"][0]["source_ids"] == [SourceRecord.objects.get(source_key="m-1").pk]
    assert Asset.objects.live().filter(pk=other.pk).count() == 0


def test_merge_of_a_managed_asset_makes_the_survivor_managed_and_undo_restores_it(two_connectors):
    cmdb, mdm = two_connectors
    keep = make_asset(cmdb, "c-1", hostname="db-01")
    managed = make_asset(mdm, "m-1", hostname="db-01", kind=AssetKind.MANAGED)
    event = inventory.merge_assets(keep, [managed])
    keep.refresh_from_db()
    assert keep.kind == AssetKind.MANAGED
    inventory.undo_merge(event)
    keep.refresh_from_db()
    assert keep.kind == AssetKind.UNMANAGED


def test_undo_merge_restores_exactly(two_connectors, connector_admin):
    cmdb, mdm = two_connectors
    keep = make_asset(cmdb, "c-1", hostname="web-01", os="Debian")
    first = make_asset(mdm, "m-1", hostname="web-01", ip_addresses=["10.0.0.5"])
    second = make_asset(mdm, "m-2", hostname="web-01", serial_number="SN2")
    Asset.objects.filter(pk=keep.pk).update(possible_duplicate=True)
    keep.refresh_from_db()
    event = inventory.merge_assets(keep, [first, second], actor=connector_admin)

    undo = inventory.undo_merge(event, actor=connector_admin)

    for asset, key in ((first, "m-1"), (second, "m-2")):
        asset.refresh_from_db()
        assert asset.merged_into_id is None and not asset.retired
        assert list(asset.sources.values_list("source_key", flat=True)) == [key]
        assert set(Identifier.objects.filter(asset=asset).values_list("source_record__source_key", flat=True)) == {key}
    first.refresh_from_db()
    assert first.ip_addresses == ["10.0.0.5"]
    keep.refresh_from_db()
    assert list(keep.sources.values_list("source_key", flat=True)) == ["c-1"]
    assert keep.ip_addresses == [] and keep.possible_duplicate is True
    event.refresh_from_db()
    assert event.undone
    assert undo.action == AssetAction.UNMERGED and undo.details["undoes"] == event.pk
    with pytest.raises(inventory.InventoryError, match="undone already"):
        inventory.undo_merge(event)


def test_merge_refuses_nothing_to_merge_and_merged_assets(two_connectors):
    cmdb, mdm = two_connectors
    keep = make_asset(cmdb, "c-1", hostname="a")
    other = make_asset(mdm, "m-1", hostname="a")
    with pytest.raises(inventory.InventoryError, match="at least one other"):
        inventory.merge_assets(keep, [keep])
    inventory.merge_assets(keep, [other])
    with pytest.raises(inventory.InventoryError, match="merged already"):
        inventory.merge_assets(keep, [other])


def test_undo_merge_refused_when_the_survivor_was_merged_again(two_connectors, make_connector):
    cmdb, mdm = two_connectors
    a = make_asset(cmdb, "c-1", hostname="a")
    b = make_asset(mdm, "m-1", hostname="a")
    c = make_asset(make_connector("NetBox"), "n-1", hostname="a")
    first = inventory.merge_assets(a, [b])
    inventory.merge_assets(c, [a])
    with pytest.raises(inventory.InventoryError, match="undo that merge first"):
        inventory.undo_merge(first)
    b.refresh_from_db()
    assert inventory.resolve_survivor(b) == c


def test_split_moves_one_source_to_a_new_asset(two_connectors, connector_admin):
    cmdb, mdm = two_connectors
    asset = make_asset(cmdb, "c-1", hostname="web-01", serial_number="SN1")
    wrong = add_source(asset, mdm, "m-9", hostname="web-01", mac_addresses=["aa:bb:cc:dd:ee:ff"], os="Windows")
    asset.refresh_from_db()
    assert asset.os == "Windows"

    event = inventory.split_source(wrong, actor=connector_admin)

    wrong.refresh_from_db()
    new_asset = wrong.asset
    assert new_asset != asset and new_asset.kind == AssetKind.UNMANAGED
    assert new_asset.os == "Windows" and new_asset.mac_addresses == ["aa:bb:cc:dd:ee:ff"]
    assert set(Identifier.objects.filter(source_record=wrong).values_list("asset_id", flat=True)) == {new_asset.pk}
    asset.refresh_from_db()
    assert asset.os == "" and list(asset.sources.values_list("source_key", flat=True)) == ["c-1"]
    assert event.action == AssetAction.SPLIT and event.asset == asset and event.actor == connector_admin
    assert event.details["new_asset_uuid"] == str(new_asset.uuid)
    assert event.details["source_record_id"] == wrong.pk


def test_undo_split_moves_the_source_back_and_the_new_asset_redirects(two_connectors):
    cmdb, mdm = two_connectors
    asset = make_asset(cmdb, "c-1", hostname="web-01")
    wrong = add_source(asset, mdm, "m-9", os="Windows")
    event = inventory.split_source(wrong)
    new_asset = Asset.objects.get(uuid=event.details["new_asset_uuid"])

    undo = inventory.undo_split(event)

    wrong.refresh_from_db()
    asset.refresh_from_db()
    new_asset.refresh_from_db()
    assert wrong.asset == asset and asset.os == "Windows"
    assert set(Identifier.objects.filter(source_record=wrong).values_list("asset_id", flat=True)) <= {asset.pk}
    assert new_asset.merged_into == asset
    assert undo.action == AssetAction.UNSPLIT
    event.refresh_from_db()
    assert event.undone


def test_split_refuses_the_only_source(connector):
    asset = make_asset(connector, "c-1", hostname="alone")
    with pytest.raises(inventory.InventoryError, match="only live source"):
        inventory.split_source(asset.sources.get())
    assert AssetEvent.objects.count() == 0


def test_undo_split_refused_after_the_source_moved_again(two_connectors):
    cmdb, mdm = two_connectors
    asset = make_asset(cmdb, "c-1", hostname="web-01")
    wrong = add_source(asset, mdm, "m-9", hostname="web-02")
    event = inventory.split_source(wrong)
    new_asset = Asset.objects.get(uuid=event.details["new_asset_uuid"])
    elsewhere = make_asset(cmdb, "c-2", hostname="web-02")
    inventory.merge_assets(elsewhere, [new_asset])
    with pytest.raises(inventory.InventoryError, match="moved since"):
        inventory.undo_split(event)


def test_undo_event_dispatches_and_refuses_other_actions(two_connectors):
    cmdb, mdm = two_connectors
    keep = make_asset(cmdb, "c-1", hostname="a")
    other = make_asset(mdm, "m-1", hostname="a")
    undo = inventory.undo_event(inventory.merge_assets(keep, [other]))
    with pytest.raises(inventory.InventoryError):
        inventory.undo_event(undo)


# --- rule definitions ------------------------------------------------------------------------------------------


def test_create_rule_is_added_off_at_the_end_of_every_connector(make_connector, connector_admin):
    first, second = make_connector("CMDB"), make_connector("MDM")
    rule = inventory.create_identification_rule(
        name="Serial + MAC", attributes=["serial_number", "mac_address"], actor=connector_admin
    )
    assert rule.attributes == ["serial_number", "mac_address"] and not rule.is_system
    for connector in (first, second):
        selection = list(RuleSelection.objects.filter(connector=connector).order_by("position"))
        assert selection[-1].rule == rule and selection[-1].enabled is False
        assert len({item.position for item in selection}) == len(selection)


@pytest.mark.parametrize(
    ("name", "attributes", "field", "message"),
    [
        ("", ["hostname"], "name", "Give the rule a name"),
        ("serial NUMBER", ["hostname", "fqdn"], "name", "exists already"),
        ("Empty", [], "attributes", "at least one attribute"),
        ("Twice", ["hostname", "hostname"], "attributes", "appear once"),
        ("Bogus", ["shoe_size"], "attributes", "Unknown attribute"),
        ("Copy", ["serial_number"], "attributes", "has these attributes already"),
    ],
)
def test_rule_definition_validation(defaults, name, attributes, field, message):
    with pytest.raises(ValidationError) as caught:
        inventory.create_identification_rule(name=name, attributes=attributes)
    assert message in " ".join(caught.value.message_dict[field])


def test_system_rules_are_read_only(defaults):
    system = IdentificationRule.objects.get(is_system=True)
    with pytest.raises(inventory.ReadOnlyRuleError):
        inventory.update_identification_rule(system, name="Renamed")
    with pytest.raises(inventory.ReadOnlyRuleError):
        inventory.delete_identification_rule(system)
    assert IdentificationRule.objects.filter(pk=system.pk, name="Source native key").exists()


def test_delete_rule_refused_when_it_is_a_connectors_only_rule(connector):
    selection = RuleSelection.objects.filter(connector=connector, rule__is_system=False)
    only = selection.get(rule__name="Serial number")
    selection.exclude(pk=only.pk).update(enabled=False)
    with pytest.raises(inventory.InventoryError, match="only rule turned on for CMDB"):
        inventory.delete_identification_rule(only.rule)
    hostname = IdentificationRule.objects.get(name="Hostname")
    inventory.delete_identification_rule(hostname)
    assert not IdentificationRule.objects.filter(name="Hostname").exists()
    assert not RuleSelection.objects.filter(rule_id=hostname.pk).exists()


def test_stale_assets_helper_sets_last_seen(connector):
    asset = make_asset(connector, "old", hostname="old", seen=timezone.now() - timedelta(days=40))
    assert asset.last_seen < timezone.now() - timedelta(days=39)


def test_split_refuses_a_deleted_source(two_connectors):
    cmdb, mdm = two_connectors
    asset = make_asset(cmdb, "c-1", hostname="web-01")
    add_source(asset, cmdb, "c-2", hostname="web-01")
    gone = add_source(asset, mdm, "m-1", hostname="web-01", deleted=True)
    with pytest.raises(inventory.InventoryError, match="deleted the record"):
        inventory.split_source(gone)


def test_rule_definition_changes_are_audited(connector_admin, defaults):
    from assets.inventory import create_identification_rule, delete_identification_rule, update_identification_rule
    from assets.models import RuleEvent

    rule = create_identification_rule(
        name="Serial + MAC", attributes=["serial_number", "mac_address"], actor=connector_admin
    )
    update_identification_rule(rule, name="Serial and MAC", actor=connector_admin)
    delete_identification_rule(rule, actor=connector_admin)
    events = list(RuleEvent.objects.order_by("id").values_list("rule_name", "action", "actor__username"))
    assert events == [
        ("Serial + MAC", "created", "carol"),
        ("Serial and MAC", "changed", "carol"),
        ("Serial and MAC", "deleted", "carol"),
    ]
    assert RuleEvent.objects.get(action="changed").details == {"changes": {"name": ["Serial + MAC", "Serial and MAC"]}}
