"""Joins through the service, on both databases: a record tying two existing assets together merges them like a
manual merge (sources, identifiers, merged_into, an audit row Undo can reverse), in a constant number of queries."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets import inventory
from assets.choices import AssetAction
from assets.engine.records import AssetRecord
from assets.models import Asset, AssetEvent, Decision, Identifier, SourceRecord
from assets.services import process_records

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def mac(i: int) -> str:
    return f"0e:00:00:00:{i // 256 % 256:02x}:{i % 256:02x}"


def cmdb_record(i: int) -> AssetRecord:
    # a placeholder serial: nothing strong for the MDM record to match
    return AssetRecord(
        f"c{i}", hostname=f"web-{i}", ip_addresses=(f"10.0.{i // 256}.{i % 256}",), serial_number="0", updated_at=T0
    )


def mdm_record(i: int) -> AssetRecord:
    return AssetRecord(f"m{i}", hostname=f"web-{i}", mac_addresses=(mac(i),), updated_at=T0)


def edr_record(i: int) -> AssetRecord:
    return AssetRecord(
        f"e{i}",
        hostname=f"web-{i}",
        ip_addresses=(f"10.0.{i // 256}.{i % 256}",),
        mac_addresses=(mac(i),),
        os="Linux",
        updated_at=T0,
    )


def test_a_linking_record_joins_two_assets_with_an_undoable_audit_row(cmdb, mdm, make_connector):
    edr = make_connector("EDR", trust_rank=20)
    process_records(cmdb, [cmdb_record(1)])
    process_records(mdm, [mdm_record(1)])
    survivor = Asset.objects.get(sources__connector=cmdb)
    loser = Asset.objects.get(sources__connector=mdm)
    assert survivor != loser

    result = process_records(edr, [edr_record(1)])

    assert result.merged == 1
    loser.refresh_from_db()
    survivor.refresh_from_db()
    assert loser.merged_into == survivor and not loser.retired
    assert set(SourceRecord.objects.values_list("asset_id", flat=True)) == {survivor.pk}
    assert set(Identifier.objects.values_list("asset_id", flat=True)) == {survivor.pk}
    assert survivor.mac_addresses == [mac(1)] and survivor.os == "Linux" and not survivor.possible_duplicate
    decision = Decision.objects.get(source_key="e1")
    assert decision.outcome == "merged" and decision.asset_id == survivor.pk
    assert any("joined into an existing asset 'web-1'" in reason for reason in decision.reasons)
    event = AssetEvent.objects.get(action=AssetAction.MERGED)
    assert event.asset == survivor and event.actor is None
    assert event.details["automatic"] and event.details["source_keys"] == ["e1"]
    assert event.details["merged"][0]["id"] == loser.pk

    inventory.undo_merge(event)
    loser.refresh_from_db()
    assert loser.merged_into is None
    assert SourceRecord.objects.get(source_key="m1").asset == loser
    assert set(Identifier.objects.filter(source_record__source_key="m1").values_list("asset_id", flat=True)) == {
        loser.pk
    }


def test_joins_cost_a_constant_number_of_queries_per_chunk(cmdb, mdm, make_connector):
    edr = make_connector("EDR", trust_rank=20)
    process_records(cmdb, [cmdb_record(i) for i in range(30)])
    process_records(mdm, [mdm_record(i) for i in range(30)])

    def count(records):
        with CaptureQueriesContext(connection) as ctx:
            process_records(edr, records, chunk_size=len(records))
        return len(ctx.captured_queries)

    one = count([edr_record(0)])
    many = count([edr_record(i) for i in range(1, 30)])
    assert AssetEvent.objects.filter(action=AssetAction.MERGED).count() == 30
    assert Asset.objects.filter(merged_into__isnull=True).count() == 30
    assert many == one, (one, many)


def test_a_join_inside_one_chunk_lands_later_records_on_the_survivor(cmdb, mdm, make_connector):
    edr = make_connector("EDR", trust_rank=20)
    process_records(cmdb, [cmdb_record(1)])
    process_records(mdm, [mdm_record(1)])
    process_records(edr, [edr_record(1), AssetRecord("e-again", mac_addresses=(mac(1),), updated_at=T0)])
    live = Asset.objects.filter(merged_into__isnull=True)
    assert live.count() == 1
    assert SourceRecord.objects.get(source_key="e-again").asset == live.get()


def test_a_joined_new_asset_whose_only_record_moved_on_is_not_needed(cmdb, make_connector):
    """A record makes a new asset, a second record joins it into an existing one, the first record comes again in
    the same chunk: its native key now lands on the survivor, the new asset is never written."""
    mdm = make_connector("MDM", trust_rank=40)
    process_records(cmdb, [cmdb_record(1)])
    first = AssetRecord("m1", hostname="web-1", mac_addresses=(mac(1),), updated_at=T0)
    tie = AssetRecord("m2", hostname="web-1", ip_addresses=("10.0.0.1",), mac_addresses=(mac(1),), updated_at=T0)
    process_records(mdm, [first, tie, first])
    decision = Decision.objects.get(source_key="m2")
    assert any("joined into an existing asset 'web-1'" in reason for reason in decision.reasons)
    (asset,) = Asset.objects.all()
    assert set(SourceRecord.objects.values_list("asset_id", flat=True)) == {asset.pk}
