"""The identification service against a real database: bulk writes, idempotency, bounded queries per chunk."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets.engine import AssetRank, normalize_record
from assets.engine.records import AssetRecord
from assets.models import Asset, Decision, Identifier, SourceRecord
from assets.services import load_index, process_records
from connectors.choices import Module
from connectors.services import update_connector

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def machine(i: int, **extra) -> AssetRecord:
    fields = {
        "source_key": f"k-{i}",
        "hostname": f"host-{i}",
        "serial_number": f"SN{i:06d}",
        "mac_addresses": (f"00:11:22:{i // 65536 % 256:02x}:{i // 256 % 256:02x}:{i % 256:02x}",),
        "ip_addresses": (f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",),
        "os": "Linux",
        "updated_at": T0,
    }
    fields.update(extra)
    return AssetRecord(**fields)


def inventory() -> list[tuple]:
    """A canonical dump: what an admin would compare between two runs."""
    return sorted(
        (a.hostname, a.serial_number, tuple(a.mac_addresses), a.retired, a.sources.count())
        for a in Asset.objects.filter(merged_into__isnull=True)
    )


def test_new_records_create_assets_sources_identifiers_and_decisions(connector):
    result = process_records(connector, [machine(1), machine(2)])
    assert (result.received, result.created, result.errors) == (2, 2, 0)
    asset = Asset.objects.get(hostname="host-1")
    assert asset.serial_number == "SN000001"
    assert asset.mac_addresses == ["00:11:22:00:00:01"]
    assert asset.kind == "unmanaged"
    source = SourceRecord.objects.get(source_key="k-1")
    assert source.asset == asset
    assert asset.provenance["serial_number"] == source.pk
    assert set(Identifier.objects.filter(asset=asset).values_list("kind", flat=True)) == {
        "serial_number",
        "mac_address",
        "hostname",
        "ip_address",
    }
    decision = Decision.objects.get(source_key="k-1")
    assert decision.outcome == "created" and decision.asset == asset and decision.reasons


def test_processing_twice_leaves_the_inventory_unchanged(connector):
    records = [machine(i) for i in range(20)]
    process_records(connector, records)
    before = inventory()
    identifiers = set(Identifier.objects.values_list("pk", "kind", "value"))
    result = process_records(connector, records)
    assert result.updated == 20 and result.created == 0
    assert inventory() == before
    assert set(Identifier.objects.values_list("pk", "kind", "value")) == identifiers


def test_two_records_for_the_same_new_machine_in_one_chunk_make_one_asset(connector):
    process_records(connector, [machine(1, source_key="a"), machine(1, source_key="b", hostname="other")])
    assert Asset.objects.count() == 1
    assert SourceRecord.objects.count() == 2


def test_same_machine_from_two_connectors_merges_and_trust_decides_values(make_connector):
    cmdb = make_connector("CMDB", trust_rank=90)
    mdm = make_connector("MDM", trust_rank=10)
    process_records(mdm, [machine(7, source_key="mdm-7", os="Windows")])
    result = process_records(cmdb, [machine(7, source_key="cmdb-7", os="Linux")])
    assert result.merged == 1
    asset = Asset.objects.get()
    assert asset.os == "Linux"  # the more trusted source wins
    assert asset.provenance["os"] == SourceRecord.objects.get(source_key="cmdb-7").pk
    decision = Decision.objects.get(source_key="cmdb-7")
    assert decision.outcome == "merged" and decision.rule_name == "Serial number"


def test_placeholder_serials_do_not_merge_two_machines(connector):
    junk = "To be filled by O.E.M."
    process_records(
        connector,
        [
            AssetRecord(source_key="a", hostname="laptop-a", serial_number=junk),
            AssetRecord(source_key="b", hostname="laptop-b", serial_number=junk),
        ],
    )
    assert Asset.objects.count() == 2
    assert not Identifier.objects.filter(kind="serial_number").exists()
    assert any("placeholder" in reason for reason in Decision.objects.get(source_key="a").reasons)


def test_an_older_record_changes_nothing(connector):
    process_records(connector, [machine(1, os="v2", updated_at=T0 + timedelta(days=1))])
    result = process_records(connector, [machine(1, os="v1", updated_at=T0)])
    assert result.skipped == 1
    assert Asset.objects.get().os == "v2"
    assert Decision.objects.filter(outcome="unchanged").count() == 1


def test_create_unmanaged_off_skips_with_reason(connector):
    update_connector(connector, create_unmanaged=False)
    result = process_records(connector, [machine(1)])
    assert result.skipped == 1 and not Asset.objects.exists()
    assert "Create unmanaged asset is off" in " ".join(Decision.objects.get().reasons)


def test_connector_without_csam_records_decisions_but_changes_nothing(connector):
    update_connector(connector, modules=[Module.DELIVERY_LOG])
    process_records(connector, [machine(1)], deleted=["k-9"])
    assert not Asset.objects.exists() and not SourceRecord.objects.exists()
    decision = Decision.objects.get(source_key="k-1")
    assert decision.outcome == "created" and "CSAM module off" in " ".join(decision.reasons)


def test_deletion_retires_an_asset_left_without_live_sources(make_connector):
    cmdb, mdm = make_connector("CMDB"), make_connector("MDM")
    process_records(cmdb, [machine(1, source_key="c1"), machine(2, source_key="c2")])
    process_records(mdm, [machine(2, source_key="m2")])
    result = process_records(cmdb, [], deleted=["c1", "c2", "never-sent"])
    assert (result.deleted, result.skipped) == (2, 1)
    assert Asset.objects.get(hostname="host-1").retired
    still_reported = Asset.objects.get(hostname="host-2")
    assert not still_reported.retired
    assert SourceRecord.objects.get(source_key="c1").deleted
    assert not Identifier.objects.filter(source_record__source_key="c1").exists()
    # The source reports it again: the source record comes back to life and the asset is no longer retired.
    process_records(cmdb, [machine(1, source_key="c1", updated_at=T0 + timedelta(days=2))])
    assert not Asset.objects.get(hostname="host-1").retired


def test_queries_per_chunk_do_not_grow_with_chunk_size(make_connector):
    def count(connector, records):
        with CaptureQueriesContext(connection) as ctx:
            process_records(connector, records, chunk_size=len(records))
        return len(ctx.captured_queries)

    small = count(make_connector("small-new"), [machine(i) for i in range(5)])
    large = count(make_connector("large-new"), [machine(i) for i in range(1000, 1200)])
    assert large <= small + 2, (small, large)
    # Updates of existing records too.
    cmdb = make_connector("updates")
    process_records(cmdb, [machine(i) for i in range(3000, 3300)])
    small = count(cmdb, [machine(i, os="new") for i in range(3000, 3005)])
    large = count(cmdb, [machine(i, os="new") for i in range(3100, 3300)])
    assert large <= small + 2, (small, large)


def test_default_rule_ranks_candidates_reached_through_different_values(make_connector):
    """Two MACs of one record point at two different assets: the default rule must know both assets' trust."""
    trusted, casual, newcomer = make_connector("CMDB", trust_rank=90), make_connector("Scan", trust_rank=10), None
    process_records(casual, [AssetRecord(source_key="a", hostname="a", mac_addresses=("00:00:5e:00:00:0a",))])
    process_records(trusted, [AssetRecord(source_key="b", hostname="b", mac_addresses=("00:00:5e:00:00:0b",))])
    newcomer = make_connector("MDM")
    process_records(
        newcomer, [AssetRecord(source_key="n", hostname="n", mac_addresses=("00:00:5e:00:00:0a", "00:00:5e:00:00:0b"))]
    )
    decision = Decision.objects.get(source_key="n")
    assert decision.outcome == "merged" and decision.asset.hostname == "b"


# --- property: processing the same records twice leaves the inventory unchanged ------------------------------

import itertools  # noqa: E402

from hypothesis import HealthCheck, assume, given  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from assets.engine.normalize import junk_only  # noqa: E402

_names = itertools.count()
_small = st.integers(min_value=0, max_value=6)
_record = st.builds(
    lambda key, host, serial, mac, ip, os_name, day: AssetRecord(
        source_key=f"k{key}",
        hostname=["", f"host-{host}", "localhost"][host % 3] if host < 6 else f"HOST-{host}.corp.example.com",
        serial_number=["", f"SN{serial}", "To be filled by O.E.M."][serial % 3],
        mac_addresses=(f"00:11:22:33:44:{mac:02x}",) if mac % 2 else (),
        ip_addresses=(f"10.0.0.{ip}", "127.0.0.1") if ip % 3 else (),
        os=os_name,
        updated_at=T0 + timedelta(days=day) if day else None,
    ),
    _small,
    _small,
    _small,
    _small,
    _small,
    st.sampled_from(["Linux", "Windows", ""]),
    st.integers(min_value=0, max_value=3),
)


def _snapshot():
    return (
        sorted(
            (a.pk, a.hostname, a.serial_number, tuple(a.mac_addresses), tuple(a.ip_addresses), a.os, a.retired)
            for a in Asset.objects.all()
        ),
        sorted(SourceRecord.objects.values_list("pk", "asset_id", "source_key", "deleted")),
        sorted(Identifier.objects.values_list("asset_id", "kind", "value")),
    )


def _mixes_junk_only_and_new(records) -> bool:
    """Whether one source key comes both as a junk-only record and as one that may create its asset. A junk-only
    record is skipped only while its key is unknown (engine.normalize.junk_only), so in such a batch the first pass
    skips it and the second, the key now known, applies it: by design, not a lost idempotency."""
    kinds = defaultdict(set)
    for record in records:
        kinds[record.source_key].add(junk_only(normalize_record(record)) is not None)
    return any(len(found) > 1 for found in kinds.values())


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(_record, max_size=12), chunk=st.sampled_from([1, 3, 1000]))
def test_processing_the_same_records_twice_changes_nothing(make_connector, records, chunk):
    assume(not _mixes_junk_only_and_new(records))
    connector = make_connector(f"prop-{next(_names)}")
    process_records(connector, records, chunk_size=chunk)
    first = _snapshot()
    process_records(connector, records, chunk_size=chunk)
    assert _snapshot() == first


def test_the_same_report_again_only_moves_last_seen(connector):
    first_seen = T0 + timedelta(hours=1)
    process_records(connector, [machine(1, last_seen=first_seen)])
    asset = Asset.objects.get()
    source = SourceRecord.objects.get()
    later = first_seen + timedelta(days=1)
    with CaptureQueriesContext(connection) as ctx:
        result = process_records(connector, [machine(1, last_seen=later)])
    assert result.updated == 1
    assert not any("assets_identifier" in q["sql"] and "DELETE" in q["sql"] for q in ctx.captured_queries)
    source.refresh_from_db()
    asset.refresh_from_db()
    assert source.last_seen == later and asset.last_seen == later
    assert source.digest and asset.os == "Linux"
    # A changed report goes the whole way again.
    process_records(connector, [machine(1, os="BSD", last_seen=later)])
    asset.refresh_from_db()
    assert asset.os == "BSD"


# --- vetoes, shared values, trust ranks and duplicates through the real service (both databases) --------------


def test_a_different_serial_vetoes_a_hostname_and_ip_match(make_connector):
    cmdb, edr = make_connector("CMDB", trust_rank=90), make_connector("EDR", trust_rank=30)
    process_records(cmdb, [AssetRecord("ci-1", hostname="web-01", ip_addresses=("10.0.0.5",), serial_number="SN-A")])
    process_records(edr, [AssetRecord("agent-2", hostname="web-01", ip_addresses=("10.0.0.5",), serial_number="SN-B")])
    assert Asset.objects.count() == 2
    decision = Decision.objects.get(source_key="agent-2")
    assert decision.outcome == "created"
    assert any("vetoed: serial_number SN-A differs from the record's SN-B" in reason for reason in decision.reasons)


def test_vetoes_see_assets_written_earlier_in_the_same_chunk(connector):
    records = [
        AssetRecord(
            "a", hostname="web-01", ip_addresses=("10.0.0.5",), hardware_uuid="4C4C4544-0042-3510-8052-B2C04F4D4E31"
        ),
        AssetRecord(
            "b", hostname="web-01", ip_addresses=("10.0.0.5",), hardware_uuid="4C4C4544-0042-3510-8052-B2C04F4D4E32"
        ),
    ]
    process_records(connector, records, chunk_size=10)
    assert Asset.objects.count() == 2


def test_a_value_shared_by_more_assets_than_the_limit_stops_matching(make_connector, settings):
    settings.IDENTIFIER_SHARED_LIMIT = 3
    mac = "00:15:5d:00:04:01"
    first = make_connector("MDM")
    process_records(
        first, [AssetRecord(f"m{n}", hostname=f"h{n}", mac_addresses=(mac,)) for n in range(4)], chunk_size=1
    )
    # the first record made an asset, the next three matched it by the MAC: one asset so far
    assert Asset.objects.count() == 1
    process_records(
        make_connector("EDR"), [AssetRecord(f"e{n}", hostname=f"x{n}", serial_number=f"S{n}") for n in range(4)]
    )
    Identifier.objects.filter(kind="serial_number").update(kind="mac_address", value=mac)  # 5 assets hold the MAC
    result = process_records(make_connector("NAC"), [AssetRecord("n", mac_addresses=(mac,))])
    assert result.created == 1
    assert any("shared by 5 assets" in reason for reason in Decision.objects.get(source_key="n").reasons)


def test_load_index_ranks_and_holds_every_reached_asset(make_connector):
    """Issue 15's bug: ranks were loaded only for assets one record saw together, so an asset that became a
    candidate later in the chunk (through what earlier records wrote) competed with the current connector's rank."""
    cmdb, scan, edr = (
        make_connector("CMDB", trust_rank=90),
        make_connector("Scan", trust_rank=40),
        make_connector("EDR"),
    )
    process_records(cmdb, [AssetRecord("ci", hostname="web-01", serial_number="SN1", updated_at=T0)])
    process_records(scan, [AssetRecord("sc", hostname="web-02", serial_number="SN2", updated_at=T0)])
    trusted, other = Asset.objects.get(hostname="web-01"), Asset.objects.get(hostname="web-02")
    records = [AssetRecord("e1", serial_number="SN1"), AssetRecord("e2", hostname="web-02")]  # each reaches one asset
    index = load_index(edr, [normalize_record(record) for record in records])
    assert index.ranks[trusted.pk] == AssetRank(90, T0) and index.ranks[other.pk] == AssetRank(40, T0)
    assert index.held[trusted.pk] == {"serial_number": frozenset({"SN1"}), "hostname": frozenset({"web-01"})}
    assert index.connector_assets == set()
    assert load_index(cmdb, [normalize_record(records[0])]).connector_assets == {trusted.pk}


def test_the_default_rule_flags_the_chosen_existing_asset(make_connector):
    first, second, third = make_connector("A", trust_rank=90), make_connector("B", trust_rank=40), make_connector("C")
    process_records(first, [AssetRecord("a", hostname="web-01", ip_addresses=("10.0.0.5",), serial_number="SN1")])
    process_records(second, [AssetRecord("b", hostname="web-01", ip_addresses=("10.0.0.5",), serial_number="SN2")])
    process_records(third, [AssetRecord("c", hostname="web-01", ip_addresses=("10.0.0.5",))])
    decision = Decision.objects.get(source_key="c")
    assert decision.outcome == "merged" and len(decision.candidates) == 2
    assert decision.asset.hostname == "web-01" and decision.asset.sources.filter(source_key="a").exists()
    assert list(Asset.objects.filter(possible_duplicate=True)) == [decision.asset]


@pytest.mark.parametrize("chunk_size", [1, 3, 7])
def test_chunk_size_does_not_change_the_inventory(make_connector, chunk_size):
    records = [
        AssetRecord(
            f"k{n}",
            hostname=f"web-{n % 3}",
            ip_addresses=(f"10.0.0.{n % 4}",),
            serial_number=["", "SN1", "SN2"][n % 3],
            mac_addresses=(f"0e:00:00:00:00:0{n % 5}",) if n % 2 else (),
            updated_at=T0 + timedelta(hours=n),
        )
        for n in range(12)
    ]

    def grouping(connector, size):
        process_records(connector, records, chunk_size=size)
        by_asset = defaultdict(set)
        for key, asset_id in SourceRecord.objects.filter(connector=connector).values_list("source_key", "asset_id"):
            by_asset[asset_id].add(key)
        outcomes = dict(Decision.objects.filter(connector=connector).values_list("source_key", "outcome"))
        SourceRecord.objects.filter(connector=connector).delete()
        Asset.objects.all().delete()
        return sorted(map(sorted, by_asset.values())), outcomes

    assert grouping(make_connector("chunked"), chunk_size) == grouping(make_connector("whole"), len(records))
