"""Identifier conflicts: assets whose live sources disagree on a strong identifier (possible false merges)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assets import inventory
from assets.engine.reconcile import SourceValues
from assets.engine.records import AssetRecord
from assets.models import Asset, SourceRecord
from assets.services import process_records
from assets.writes import _insert_new_assets
from connectors.models import Connector
from connectors_site.common.db import allocate_ids
from tests.assets.factories import add_source, make_asset

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
    OldAsset, OldSource = old.get_model("assets", "Asset"), old.get_model("assets", "SourceRecord")
    # Only the assets app was rolled back: the connectors table is at its newest shape, so write it with today's model.
    cmdb = Connector.objects.create(name="CMDB", token_hash="0" * 64, signing_secret="whsec_x")
    mdm = Connector.objects.create(name="MDM", token_hash="1" * 64, signing_secret="whsec_y")
    now = timezone.now()

    def source(asset, connector, key, **attributes):
        return OldSource.objects.create(
            connector_id=connector.pk, source_key=key, asset=asset, attributes=attributes, first_seen=now, last_seen=now
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


# --- the Conflicts page, the filter, the API --------------------------------------------------------------------

CONFLICTS = reverse("assets:conflicts")
HTMX = {"HTTP_HX_REQUEST": "true"}


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def conflicting(cmdb, mdm, index: int) -> Asset:
    """An asset of two sources (CMDB, MDM) whose serials differ, and a hardware UUID only one of them reports."""
    asset = make_asset(cmdb, f"cmdb-{index}", hostname=f"host-{index:02d}", serial_number=f"SN-C{index}")
    add_source(asset, mdm, f"mdm-{index}", hostname=f"host-{index:02d}", serial_number=f"SN-M{index}")
    asset.refresh_from_db()
    assert asset.identifier_conflict
    return asset


def test_the_page_lists_conflicting_assets_with_each_source_and_value(admin_ui, cmdb, mdm):
    asset = conflicting(cmdb, mdm, 1)
    make_asset(cmdb, "calm", hostname="calm-01", serial_number="SN-CALM")
    body = text(admin_ui.get(CONFLICTS))
    assert "1 asset with conflicting identifiers" in body
    assert asset.get_absolute_url() in body and "calm-01" not in body
    assert "SN-C1" in body and "SN-M1" in body and "cmdb-1" in body and "mdm-1" in body
    for source in asset.sources.all():
        assert reverse("assets:source_split", args=[source.pk]) in body
    assert 'Conflicts <span class="count">(1)</span>' in body


def test_the_empty_page_says_what_it_means(admin_ui, cmdb):
    make_asset(cmdb, "calm", hostname="calm-01", serial_number="SN-CALM")
    body = text(admin_ui.get(CONFLICTS))
    assert "No conflicts" in body
    assert "No two sources of one asset report different serial numbers, hardware UUIDs or cloud instance IDs" in body
    assert "Conflicts</a>" in body  # no count in the navigation when there is none


def test_split_asks_for_confirmation_without_javascript_then_splits(admin_ui, cmdb, mdm):
    asset = conflicting(cmdb, mdm, 1)
    source = SourceRecord.objects.get(source_key="mdm-1")
    url = reverse("assets:source_split", args=[source.pk])
    body = text(admin_ui.get(url, {"next": CONFLICTS}))
    assert "Split MDM" in body and f'value="{CONFLICTS}"' in body
    assert SourceRecord.objects.get(pk=source.pk).asset_id == asset.pk  # asking changed nothing

    response = admin_ui.post(url, {"next": CONFLICTS}, follow=True)
    assert response.redirect_chain == [(CONFLICTS, 302)]
    body = text(response)
    assert "an asset of its own" in body and "No conflicts" in body
    assert not Asset.objects.filter(identifier_conflict=True).exists()


def test_split_over_htmx_tells_the_list_to_refresh(admin_ui, cmdb, mdm):
    conflicting(cmdb, mdm, 1)
    other = conflicting(cmdb, mdm, 2)
    source = SourceRecord.objects.get(source_key="mdm-1")
    response = admin_ui.post(reverse("assets:source_split", args=[source.pk]), **HTMX)
    assert response.status_code == 204 and "assets-changed" in json.loads(response["HX-Trigger"])
    body = text(admin_ui.get(CONFLICTS, **HTMX))
    assert '<div id="results"' in body and "hx-swap-oob" in body and 'Conflicts <span class="count">(1)</span>' in body
    assert "an asset of its own" in body  # the message comes with the refreshed list
    assert "host-01" not in body and other.get_absolute_url() in body


def test_viewers_see_no_split_and_get_403(viewer_ui, cmdb, mdm):
    conflicting(cmdb, mdm, 1)
    source = SourceRecord.objects.get(source_key="mdm-1")
    body = text(viewer_ui.get(CONFLICTS))
    url = reverse("assets:source_split", args=[source.pk])
    assert "SN-M1" in body and ">Split<" not in body and url not in body
    assert viewer_ui.get(url).status_code == 403
    assert viewer_ui.post(url).status_code == 403
    assert viewer_ui.post(url, **HTMX).status_code == 403
    assert SourceRecord.objects.get(pk=source.pk).asset.identifier_conflict


def test_the_page_runs_the_same_queries_for_one_or_a_full_page(admin_ui, cmdb, mdm, django_assert_max_num_queries):
    conflicting(cmdb, mdm, 0)
    with CaptureQueriesContext(connection) as one:
        text(admin_ui.get(CONFLICTS))
    for index in range(1, 30):
        conflicting(cmdb, mdm, index)
    with django_assert_max_num_queries(len(one)):
        body = text(admin_ui.get(CONFLICTS))
    assert "30 assets with conflicting identifiers" in body and "Page 1 of 2" in body
    assert "page=2" in body


def test_the_asset_page_shows_the_conflict(admin_ui, cmdb, mdm):
    asset = conflicting(cmdb, mdm, 1)
    body = text(admin_ui.get(asset.get_absolute_url()))
    assert "Its sources disagree on its serial number" in body
    assert "SN-C1" in body and "SN-M1" in body and CONFLICTS in body
    calm = make_asset(cmdb, "calm", hostname="calm-01", serial_number="SN-CALM")
    assert "disagree" not in text(admin_ui.get(calm.get_absolute_url()))


def test_the_asset_list_filters_on_conflicts(admin_ui, cmdb, mdm):
    conflicting(cmdb, mdm, 1)
    make_asset(cmdb, "calm", hostname="calm-01", serial_number="SN-CALM")
    body = text(admin_ui.get(reverse("assets:asset_list"), {"conflict": "true"}))
    assert "host-01" in body and "calm-01" not in body
    body = text(admin_ui.get(reverse("assets:asset_list"), {"conflict": "false"}))
    assert "host-01" not in body and "calm-01" in body


def test_the_integrations_page_counts_conflicts(admin_ui, cmdb, mdm):
    assert "possible false merges" not in text(admin_ui.get(reverse("connectors:integrations")))
    conflicting(cmdb, mdm, 1)
    conflicting(cmdb, mdm, 2)
    body = text(admin_ui.get(reverse("connectors:integrations")))
    assert "2 assets</strong> have sources that disagree" in body and CONFLICTS in body


def test_the_api_filters_and_shows_conflicts(admin_ui, cmdb, mdm):
    asset = conflicting(cmdb, mdm, 1)
    make_asset(cmdb, "calm", hostname="calm-01", serial_number="SN-CALM")
    url = reverse("assets-api:asset-list")
    found = admin_ui.get(url, {"conflict": "true"}).json()["results"]
    assert [item["uuid"] for item in found] == [str(asset.uuid)]
    assert found[0]["identifier_conflicts"] == {
        "serial_number": [
            {
                "value": "SN-C1",
                "source": {"connector_uuid": str(cmdb.uuid), "connector_name": "CMDB", "source_key": "cmdb-1"},
            },
            {
                "value": "SN-M1",
                "source": {"connector_uuid": str(mdm.uuid), "connector_name": "MDM", "source_key": "mdm-1"},
            },
        ]
    }
    calm = admin_ui.get(url, {"conflict": "false"}).json()["results"]
    assert [item["hostname"] for item in calm] == ["calm-01"] and calm[0]["identifier_conflicts"] == {}
    detail = admin_ui.get(reverse("assets-api:asset-detail", args=[asset.uuid])).json()
    assert detail["identifier_conflicts"] == found[0]["identifier_conflicts"]
    schema = admin_ui.get(reverse("schema")).content.decode()
    assert "identifier_conflicts" in schema and "possible false merge" in schema
