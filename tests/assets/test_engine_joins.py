"""Joins (pure, no database): a record that ties two existing assets together merges them when the evidence is
strong and nothing says "two machines"; otherwise both stay apart, flagged as possible duplicates."""

from __future__ import annotations

from dataclasses import replace

from assets.engine import HOSTNAME, IP, MAC, SERIAL, AssetRank, Outcome, identify_records
from assets.engine.records import AssetRecord

from .test_engine_traps import DEFAULT_RULES, R_FQDN, R_HOST_IP, T0, config, index

MAC_A = "0e:00:00:00:00:0a"
CMDB, MDM = 10, 20

#: A machine twice: its CMDB asset (1, name and address; its placeholder serial kept it apart) and its MDM asset
#: (2, the MAC). The EDR record matches 2 by MAC and 1 by Hostname + IP.
MACHINE = {1: {HOSTNAME: "web-01", IP: "10.0.0.5", SERIAL: "0"}, 2: {MAC: MAC_A, HOSTNAME: "web-01"}}
RANKS = {1: AssetRank(90, T0), 2: AssetRank(60, T0)}
EDR = AssetRecord("edr-1", hostname="web-01", ip_addresses=("10.0.0.5",), mac_addresses=(MAC_A,), updated_at=T0)


def machine_index(assets=MACHINE, ranks=RANKS, connectors=None, mine=()):
    idx = index(assets, ranks=ranks, mine=mine)
    idx.connectors = connectors if connectors is not None else {1: frozenset({CMDB}), 2: frozenset({MDM})}
    return idx


def decide(records, idx, cfg=None):
    return identify_records(list(records), idx, cfg or config(DEFAULT_RULES, rank=30))


def test_a_record_linking_two_assets_joins_them_into_the_most_trusted():
    (decision,) = decide([EDR], machine_index())
    assert decision.outcome is Outcome.MERGED
    assert decision.asset_id == 1  # CMDB's asset: trust rank 90
    assert decision.joins == ((2, 1),)
    assert decision.linked == () and not decision.possible_duplicate
    assert any("joined into an existing asset 'web-01', trust rank 90" in reason for reason in decision.reasons)


def test_the_survivor_is_the_oldest_on_equal_trust():
    (decision,) = decide([EDR], machine_index(ranks={1: AssetRank(60, T0), 2: AssetRank(60, T0)}))
    assert decision.asset_id == 1 and decision.joins == ((2, 1),)


def test_after_a_join_the_chunk_sees_the_loser_as_the_survivor():
    later_record = AssetRecord("edr-2", mac_addresses=(MAC_A,), updated_at=T0)
    first, second = decide([EDR, later_record], machine_index())
    assert first.joins == ((2, 1),)
    assert second.asset_id == 1 and second.candidates == (1,)


def test_a_strong_identifier_conflict_blocks_the_join():
    assets = {1: {**MACHINE[1], SERIAL: "SN-A"}, 2: {**MACHINE[2], SERIAL: "SN-B"}}
    (decision,) = decide([EDR], machine_index(assets))
    # the MAC rule decides; Hostname + IP ties asset 1, but the serials say two machines: not even flagged
    assert decision.asset_id == 2 and decision.joins == () and decision.linked == ()


def test_a_connector_holding_both_assets_blocks_the_join():
    idx = machine_index(connectors={1: frozenset({CMDB}), 2: frozenset({CMDB, MDM})})
    (decision,) = decide([EDR], idx)
    assert decision.asset_id == 2 and decision.joins == ()
    assert decision.linked == (1,) and decision.possible_duplicate
    assert any("a connector reports both under different source keys" in reason for reason in decision.reasons)


def test_weak_evidence_blocks_the_join():
    """Names and addresses only (FQDN to one asset, Hostname + IP to the other): flagged, never joined."""
    assets = {1: {HOSTNAME: "web-01", IP: "10.0.0.5"}, 2: {"fqdn": "web-01.corp.example"}}
    record = replace(EDR, fqdn="web-01.corp.example", mac_addresses=())
    (decision,) = decide([record], machine_index(assets), config((R_FQDN, R_HOST_IP), rank=30))
    assert decision.asset_id == 2 and decision.joins == ()
    assert decision.linked == (1,) and decision.possible_duplicate
    assert any("neither link is by a strong identifier" in reason for reason in decision.reasons)


def test_a_retired_asset_is_never_joined():
    (decision,) = decide([EDR], machine_index(ranks={2: AssetRank(60, T0)}))  # asset 1: no live source
    assert decision.asset_id == 2 and decision.joins == () and decision.linked == (1,)
    assert any("a retired asset is never joined" in reason for reason in decision.reasons)


def test_a_default_rule_pick_is_never_joined():
    """The record's own asset was chosen among several candidates: too uncertain to merge anything into it."""
    assets = {**MACHINE, 3: {MAC: MAC_A}}
    (decision,) = decide([EDR], machine_index(assets, ranks={**RANKS, 3: AssetRank(30, T0)}))
    assert decision.joins == ()
    assert decision.possible_duplicate
