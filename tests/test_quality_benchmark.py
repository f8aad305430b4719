"""The identification-quality benchmark: its estate generator, its pairwise metrics and a small run end to end."""

import pytest

from assets.models import Asset
from connectors.models import Connector
from connectors_site.bench.quality import (
    DOCKER_MAC,
    TRAPS,
    Rates,
    generate_estate,
    pairwise_quality,
)
from connectors_site.bench.quality_run import ALTERNATIVE_ORDERS, format_quality_table, run_quality

# --- generator ------------------------------------------------------------------------------------------------


def test_the_estate_is_deterministic_per_seed():
    first, again, other = generate_estate(300, seed=7), generate_estate(300, seed=7), generate_estate(300, seed=8)
    assert [source.records for source in first.sources] == [source.records for source in again.sources]
    assert first.truth == again.truth and first.traps == again.traps
    assert [source.records for source in first.sources] != [source.records for source in other.sources]


def test_sources_cover_what_they_would_know():
    estate = generate_estate(1000, seed=3)
    assert [(source.name, source.trust_rank) for source in estate.sources] == [("CMDB", 90), ("MDM", 60), ("EDR", 30)]
    cmdb, mdm, edr = (source.records for source in estate.sources)
    assert all("fqdn" in record and "serial_number" in record and "mac_addresses" not in record for record in cmdb)
    assert all("hardware_uuid" in record and "mac_addresses" in record for record in mdm)
    assert all("ip_addresses" in record and "hostname" in record for record in edr)
    assert 0.2 < sum("serial_number" in record for record in edr) / len(edr) < 0.6
    assert all(record["updated_at"].endswith("Z") for records in (cmdb, mdm, edr) for record in records)
    keys = [(source.name, record["source_key"]) for source in estate.sources for record in source.records]
    assert len(keys) == len(set(keys)) == len(estate.truth)
    # nearly every machine is reported by at least one source (the rest are invisible, and count for nothing)
    assert len(set(estate.truth.values())) > 970


def test_each_trap_occurs_at_roughly_its_rate():
    machines, rates = 2000, Rates()
    estate = generate_estate(machines, seed=11)
    counts = estate.trap_counts()
    assert set(counts) == set(TRAPS)
    for trap in ("hostname_reuse", "cloned_vm", "dhcp_move"):  # pairs: both machines are marked
        assert counts[trap] == 2 * round(getattr(rates, trap) * machines)
    for trap in ("docker_mac", "virtual_mac", "nat_ip", "placeholder_serial"):
        assert counts[trap] == round(getattr(rates, trap) * machines)
    # marked when it happens to a record; ~rate of the records that could carry it
    assert abs(counts["placeholder_uuid"] - rates.placeholder_uuid * machines) <= 5
    assert 0.5 * rates.reinstalled_agent * machines < counts["reinstalled_agent"] <= rates.reinstalled_agent * machines
    assert 0.5 * rates.thin_record * machines < counts["thin_record"] <= rates.thin_record * machines
    assert 0.2 < counts["mac_spelling"] / machines < 0.5
    assert 0.1 < counts["short_fqdn"] / machines < 0.3


def test_traps_are_in_the_records():
    estate = generate_estate(2000, seed=5)
    cmdb, mdm, edr = (source.records for source in estate.sources)
    docker = {estate.truth[("EDR", r["source_key"])] for r in edr if DOCKER_MAC in r.get("mac_addresses", ())}
    assert docker and docker <= {n for n, traps in estate.traps.items() if "docker_mac" in traps}
    reused = [n for n, traps in estate.traps.items() if "hostname_reuse" in traps]
    fqdns = [r["fqdn"] for r in cmdb if estate.truth[("CMDB", r["source_key"])] in reused]
    assert len(fqdns) > len(set(fqdns))  # the retired machine and its replacement report the same FQDN
    cloned = [n for n, traps in estate.traps.items() if "cloned_vm" in traps]
    uuids = [
        r["hardware_uuid"].upper()
        for r in edr
        if estate.truth[("EDR", r["source_key"])] in cloned and r.get("hardware_uuid")
    ]
    assert uuids and len(set(uuids)) <= len(cloned) // 2  # one UUID per clone pair
    spelled = [mac for r in mdm + edr for mac in r.get("mac_addresses", ()) if "-" in mac or "." in mac]
    assert spelled
    reinstalled = [n for n, traps in estate.traps.items() if "reinstalled_agent" in traps]
    per_machine = [sum(1 for (name, _), n in estate.truth.items() if name == "EDR" and n == m) for m in reinstalled]
    assert per_machine and set(per_machine) == {2}
    thin = [r for r in edr if set(r) == {"source_key", "hostname", "ip_addresses", "os", "updated_at"}]
    assert thin


# --- metrics --------------------------------------------------------------------------------------------------

TRUTH = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "c1": "C"}  # 3 + 1 = 4 true pairs


def test_perfect_answer():
    result = pairwise_quality(TRUTH, {"a1": 1, "a2": 1, "a3": 1, "b1": 2, "b2": 2, "c1": 3})
    assert (result["precision"], result["recall"], result["f1"]) == (1.0, 1.0, 1.0)
    assert (result["true_pairs"], result["predicted_pairs"], result["right_pairs"]) == (4, 4, 4)
    assert result["false_merge_assets"] == result["split_machines"] == 0
    assert result["errors_by_trap"] == {}


def test_one_false_merge():
    result = pairwise_quality(
        TRUTH, {"a1": 1, "a2": 1, "a3": 1, "b1": 2, "b2": 2, "c1": 2}, {"B": {"nat_ip"}, "C": {"nat_ip", "docker_mac"}}
    )
    # asset 2 holds b1, b2, c1: 3 predicted pairs, 1 right; asset 1: 3 right
    assert (result["predicted_pairs"], result["right_pairs"], result["true_pairs"]) == (6, 4, 4)
    assert result["precision"] == pytest.approx(4 / 6)
    assert result["recall"] == 1.0
    assert result["f1"] == pytest.approx(0.8)
    assert result["false_merge_assets"] == 1 and result["split_machines"] == 0
    assert result["false_merges"] == [{"asset": 2, "machines": ["B", "C"], "traps": ["nat_ip"]}]
    assert result["errors_by_trap"] == {"nat_ip": 1}


def test_one_split():
    result = pairwise_quality(TRUTH, {"a1": 1, "a2": 1, "a3": 9, "b1": 2, "b2": 2, "c1": 3}, {"A": {"mac_spelling"}})
    assert (result["predicted_pairs"], result["right_pairs"], result["true_pairs"]) == (2, 2, 4)
    assert result["precision"] == 1.0
    assert result["recall"] == pytest.approx(0.5)
    assert result["f1"] == pytest.approx(2 / 3)
    assert result["split_machines"] == 1 and result["false_merge_assets"] == 0
    assert result["splits"] == [{"machine": "A", "assets": 2, "traps": ["mac_spelling"]}]
    assert result["errors_by_trap"] == {"mac_spelling": 1}


def test_skipped_records_are_singletons_and_untrapped_errors_count_as_none():
    # a2 skipped (None) and a3 missing: each its own asset, so A is split in three; b1/b2 skipped apart
    result = pairwise_quality(TRUTH, {"a1": 1, "a2": None, "b1": None, "b2": None, "c1": 3})
    assert result["assets"] == 6
    assert (result["predicted_pairs"], result["right_pairs"]) == (0, 0)
    assert result["precision"] == 1.0 and result["recall"] == 0.0 and result["f1"] == 0.0
    assert result["split_machines"] == 2
    assert {split["machine"]: split["assets"] for split in result["splits"]} == {"A": 3, "B": 2}
    assert result["errors_by_trap"] == {"none": 2}


def test_everything_in_one_asset():
    result = pairwise_quality(TRUTH, dict.fromkeys(TRUTH, 1))
    assert (result["predicted_pairs"], result["right_pairs"]) == (15, 4)
    assert result["precision"] == pytest.approx(4 / 15) and result["recall"] == 1.0
    assert result["false_merge_assets"] == 1
    assert result["false_merges"][0]["machines"] == ["A", "B", "C"]


# --- end to end -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_small_estate_through_the_real_intake(defaults):
    results = run_quality(60, seed=4, orders={"default": None, "strong only": ALTERNATIVE_ORDERS["strong only"]})

    assert list(results["orders"]) == ["default", "strong only"]
    assert results["records"] == sum(results["records_per_source"].values()) > 60
    for metrics in results["orders"].values():
        assert metrics["records"] == results["records"] and metrics["machines"] == 60
        assert 0 < metrics["precision"] <= 1 and 0 < metrics["recall"] <= 1 and 0 < metrics["f1"] <= 1
        assert metrics["skipped"] == 0
        assert set(metrics["deliveries"]) == {"processed"}
        assert metrics["right_pairs"] <= min(metrics["predicted_pairs"], metrics["true_pairs"])
        assert metrics["false_merge_assets"] == len(metrics["false_merges"])
        assert metrics["split_machines"] == len(metrics["splits"])
        assert (metrics["false_merge_assets"] > 0) == (metrics["precision"] < 1)
        assert (metrics["split_machines"] > 0) == (metrics["recall"] < 1)
        attributed = sum(len(error["traps"]) for error in metrics["false_merges"] + metrics["splits"])
        assert sum(metrics["errors_by_trap"].values()) == attributed
    # CMDB, MDM and EDR each made an asset for every machine they alone know, so there is something to merge
    assert results["orders"]["default"]["assets"] < results["records"]
    # each order started from an empty inventory and left it empty
    assert not Asset.objects.exists() and not Connector.objects.exists()

    table = format_quality_table(results)
    assert "default" in table and "strong only" in table and ("PASS" in table or "MISS" in table)
    assert all(trap in table for trap in TRAPS)


@pytest.mark.django_db
def test_it_refuses_a_non_empty_inventory(defaults):
    Asset.objects.create(hostname="already-here")
    with pytest.raises(RuntimeError, match="empty inventory"):
        run_quality(10, seed=1, orders={"default": None})
