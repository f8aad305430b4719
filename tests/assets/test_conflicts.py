"""Identifier conflicts: assets whose live sources disagree on a strong identifier (possible false merges)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from assets import inventory
from assets.engine.reconcile import SourceValues
from assets.engine.records import AssetRecord
from assets.models import Asset, SourceRecord
from assets.services import process_records
from assets.writes import _insert_new_assets
from connectors_site.common.db import allocate_ids

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def record(key: str, **fields) -> AssetRecord:
    fields.setdefault("fqdn", "web-01.corp.example.com")
    fields.setdefault("updated_at", T0)
    return AssetRecord(source_key=key, **fields)


@pytest.fixture
def false_merge(cmdb, mdm) -> Asset:
    """CMDB reports web-01 with serial SN-1; the MDM's record of web-01 joins it by FQDN, then reports serial
    SN-2 (its own record, found again by its source key: no rule is asked again)."""
    process_records(cmdb, [record("cmdb-web", serial_number="SN-1")])
    process_records(mdm, [record("mdm-web")])
    process_records(mdm, [record("mdm-web", serial_number="sn-2", updated_at=T0 + timedelta(hours=1))])
    assert Asset.objects.live().count() == 1
    return Asset.objects.live().get()


def test_sources_reporting_different_serials_flag_the_asset(false_merge, cmdb, mdm):
    cmdb_source = SourceRecord.objects.get(connector=cmdb)
    mdm_source = SourceRecord.objects.get(connector=mdm)
    assert false_merge.identifier_conflict
    assert false_merge.identifier_conflicts == {
        "serial_number": [{"value": "SN-1", "source": cmdb_source.pk}, {"value": "SN-2", "source": mdm_source.pk}]
    }


def test_the_same_serial_in_another_spelling_or_a_placeholder_is_no_conflict(cmdb, mdm):
    process_records(cmdb, [record("cmdb-web", serial_number="SN-1")])
    process_records(mdm, [record("mdm-web", serial_number="sn-1 ")])
    process_records(mdm, [record("mdm-db", fqdn="db.corp.example.com", serial_number="To be filled by O.E.M.")])
    process_records(cmdb, [record("cmdb-db", fqdn="db.corp.example.com", serial_number="SN-DB")])
    assert Asset.objects.live().count() == 2
    assert not Asset.objects.filter(identifier_conflict=True).exists()


def test_splitting_one_source_clears_the_flag_on_both_assets(false_merge, mdm):
    event = inventory.split_source(SourceRecord.objects.get(connector=mdm))
    original = Asset.objects.get(pk=false_merge.pk)
    split_out = Asset.objects.get(pk=event.details["new_asset_id"])
    assert (original.serial_number, split_out.serial_number) == ("SN-1", "SN-2")
    assert not original.identifier_conflict and original.identifier_conflicts == {}
    assert not split_out.identifier_conflict
    # Undoing the split brings the conflict back: it is derived from the sources, never set by hand.
    inventory.undo_event(event)
    assert Asset.objects.get(pk=false_merge.pk).identifier_conflict


def test_the_source_deleting_its_record_clears_the_flag(false_merge, mdm):
    process_records(mdm, [], deleted=["mdm-web"])
    asset = Asset.objects.get(pk=false_merge.pk)
    assert not asset.identifier_conflict and asset.identifier_conflicts == {}
    assert not asset.retired


def test_a_retired_asset_keeps_no_conflict(false_merge, cmdb, mdm):
    process_records(mdm, [], deleted=["mdm-web"])
    process_records(mdm, [record("mdm-web", serial_number="SN-2", updated_at=T0 + timedelta(days=1))])
    assert Asset.objects.get(pk=false_merge.pk).identifier_conflict
    process_records(cmdb, [], deleted=["cmdb-web"])
    process_records(mdm, [], deleted=["mdm-web"])
    asset = Asset.objects.get(pk=false_merge.pk)
    assert asset.retired and not asset.identifier_conflict


def test_a_new_asset_is_inserted_with_its_conflict(connector):
    now = timezone.now()
    [asset_id] = allocate_ids(Asset, 1)
    born = {
        asset_id: [
            (SourceValues(11, 50, None, {"hardware_uuid": "4C4C4544-0042-3510-8052-B7C04F4B4D31"}), now),
            (SourceValues(12, 50, None, {"hardware_uuid": "4c4c4544-0042-3510-8052-b7c04f4b4d32"}), now),
        ]
    }
    _insert_new_assets(born, set(), now=now)
    asset = Asset.objects.get(pk=asset_id)
    assert asset.identifier_conflict
    assert [item["source"] for item in asset.identifier_conflicts["hardware_uuid"]] == [11, 12]


@pytest.mark.django_db(transaction=True)
def test_the_migration_flags_existing_assets(defaults):
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    before = [("assets", "0009_asset_identifier_conflict")]
    executor.migrate(before)
    executor.loader.build_graph()
    old = executor.loader.project_state(before).apps
    Connector = old.get_model("connectors", "Connector")
    OldAsset, OldSource = old.get_model("assets", "Asset"), old.get_model("assets", "SourceRecord")
    cmdb = Connector.objects.create(name="CMDB", token_hash="0" * 64, signing_secret="whsec_x")
    mdm = Connector.objects.create(name="MDM", token_hash="1" * 64, signing_secret="whsec_y")
    now = timezone.now()

    def source(asset, connector, key, **attributes):
        return OldSource.objects.create(
            connector=connector, source_key=key, asset=asset, attributes=attributes, first_seen=now, last_seen=now
        )

    merged, agreeing, alone = OldAsset.objects.create(), OldAsset.objects.create(), OldAsset.objects.create()
    source(merged, cmdb, "c1", serial_number="SN-1")
    source(merged, mdm, "m1", serial_number="SN-2")
    source(agreeing, cmdb, "c2", serial_number="SN-3")
    source(agreeing, mdm, "m2", serial_number="sn-3")
    source(alone, cmdb, "c3", serial_number="SN-4")

    executor = MigrationExecutor(connection)
    executor.migrate(latest)

    assert list(Asset.objects.filter(identifier_conflict=True).values_list("pk", flat=True)) == [merged.pk]
    assert [item["value"] for item in Asset.objects.get(pk=merged.pk).identifier_conflicts["serial_number"]] == [
        "SN-1",
        "SN-2",
    ]
