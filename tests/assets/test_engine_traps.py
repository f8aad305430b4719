"""The traps real estates set for identification, one test each, on the pure engine (no database).

Each trap is also in the quality benchmark's generated estate (connectors_site/bench/quality.py); here every one is
reduced to the fewest records that show it. Then: trust ranks inside one chunk, and the same decisions whatever
the chunk size (a property test that writes each chunk back the way the service would).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.engine import (
    FQDN,
    HARDWARE_UUID,
    HOSTNAME,
    IP,
    MAC,
    SERIAL,
    AssetRank,
    EngineConfig,
    ExistingSource,
    IdentityIndex,
    Outcome,
    RuleSpec,
    identify_records,
)
from assets.engine.inputs import HELD_KINDS
from assets.engine.recency import later
from assets.engine.records import AssetRecord

T0 = datetime(2026, 3, 1, tzinfo=UTC)
OLD = T0 - timedelta(days=400)

R_SERIAL = RuleSpec(2, "Serial number", (SERIAL,))
R_UUID = RuleSpec(3, "Hardware UUID", (HARDWARE_UUID,))
R_CLOUD = RuleSpec(4, "Cloud instance ID", ("cloud_instance_id",))
R_MAC = RuleSpec(5, "MAC address", (MAC,))
R_FQDN = RuleSpec(6, "FQDN", (FQDN,))
R_HOST_IP = RuleSpec(7, "Hostname + IP address", (HOSTNAME, IP))
R_IP = RuleSpec(9, "IP address", (IP,))
DEFAULT_RULES = (R_SERIAL, R_UUID, R_CLOUD, R_MAC, R_FQDN, R_HOST_IP)

UUID_A = "4C4C4544-0042-3510-8052-B2C04F4D4E31"
UUID_B = "4C4C4544-0042-3510-8052-B2C04F4D4E32"


def config(rules=DEFAULT_RULES, *, rank=50, create=True, default=True, shared_limit=5) -> EngineConfig:
    return EngineConfig(rank, tuple(rules), create, default, shared_limit)


def index(assets=None, *, ranks=None, sources=None, mine=()) -> IdentityIndex:
    """``{asset_id: {kind: value or [values]}}`` as the service loads it: identifiers, held values, ranks."""
    identifiers: dict[tuple[str, str], set[int]] = defaultdict(set)
    held: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for asset_id, values in (assets or {}).items():
        for kind, value in values.items():
            for item in [value] if isinstance(value, str) else value:
                identifiers[(kind, item)].add(asset_id)
                if kind in HELD_KINDS:
                    held[asset_id][kind].add(item)
    return IdentityIndex(
        sources=dict(sources or {}),
        identifiers=dict(identifiers),
        ranks=dict(ranks or {}),
        held={asset_id: {kind: frozenset(v) for kind, v in kinds.items()} for asset_id, kinds in held.items()},
        connector_assets=set(mine),
    )


def one(record, idx=None, cfg=None):
    (decision,) = identify_records([record], idx or index(), cfg or config())
    return decision


def said(decision, *fragments) -> bool:
    return any(all(fragment in reason for fragment in fragments) for reason in decision.reasons)


# --- vetoes ---------------------------------------------------------------------------------------------------


def test_hostname_reuse_a_different_serial_vetoes_the_fqdn_and_hostname_ip_matches():
    retired = {1: {SERIAL: "SN-A", HOSTNAME: "web-01", FQDN: "web-01.corp.example", IP: "10.0.0.5"}}
    record = AssetRecord(
        "new", hostname="web-01", fqdn="web-01.corp.example", ip_addresses=("10.0.0.5",), serial_number="SN-B"
    )
    decision = one(record, index(retired))
    assert decision.outcome is Outcome.CREATED
    assert said(decision, "vetoed: serial_number SN-A differs from the record's SN-B")
    assert decision.candidates == ()


def test_veto_by_hardware_uuid_and_cloud_instance_id():
    idx = index({1: {HOSTNAME: "vm-1", IP: "10.0.0.5", HARDWARE_UUID: UUID_A, "cloud_instance_id": "i-0aaa"}})
    by_uuid = one(AssetRecord("a", hostname="vm-1", ip_addresses=("10.0.0.5",), hardware_uuid=UUID_B), idx)
    assert by_uuid.outcome is Outcome.CREATED and said(by_uuid, f"hardware_uuid {UUID_A} differs")
    by_cloud = one(AssetRecord("b", hostname="vm-1", ip_addresses=("10.0.0.5",), cloud_instance_id="i-0bbb"), idx)
    assert by_cloud.outcome is Outcome.CREATED and said(by_cloud, "cloud_instance_id i-0aaa differs")


def test_a_veto_leaves_the_other_candidates():
    idx = index({1: {HOSTNAME: "web-01", SERIAL: "SN-A"}, 2: {HOSTNAME: "web-01"}})
    decision = one(AssetRecord("k", hostname="web-01", serial_number="SN-B"), idx, config((R_SERIAL, _host())))
    assert decision.outcome is Outcome.MERGED and decision.asset_id == 2
    assert decision.candidates == (2,) and decision.possible_duplicate is False


def test_an_absent_or_junk_strong_value_never_vetoes():
    idx = index({1: {HOSTNAME: "web-01", IP: "10.0.0.5", SERIAL: "TO BE FILLED BY O.E.M."}})
    record = AssetRecord("k", hostname="web-01", ip_addresses=("10.0.0.5",), serial_number="SN-B")
    assert one(record, idx).asset_id == 1  # the stored placeholder is junk now: no veto
    assert one(AssetRecord("k", hostname="web-01", ip_addresses=("10.0.0.5",)), index({1: {SERIAL: "SN-A"}})).outcome


def test_vetoes_hold_for_assets_written_earlier_in_the_chunk():
    first, second = identify_records(
        [
            AssetRecord("a", hostname="web-01", ip_addresses=("10.0.0.5",), serial_number="SN-A"),
            AssetRecord("b", hostname="web-01", ip_addresses=("10.0.0.5",), serial_number="SN-B", mac_addresses=()),
        ],
        index(),
        config(),
    )
    assert first.new_asset_key == -1
    assert second.outcome is Outcome.CREATED and second.new_asset_key == -2


# --- cloned VMs -----------------------------------------------------------------------------------------------


def test_cloned_vm_a_uuid_match_contradicted_by_everything_else_is_not_trusted_alone():
    original = {1: {HARDWARE_UUID: UUID_A, HOSTNAME: "vm-a", MAC: "00:50:56:01:02:03", IP: "10.0.0.5"}}
    clone = AssetRecord(
        "clone", hostname="vm-b", hardware_uuid=UUID_A, mac_addresses=("00:50:56:0a:0b:0c",), ip_addresses=("10.0.0.6",)
    )
    decision = one(clone, index(original))
    assert decision.outcome is Outcome.CREATED
    assert decision.possible_duplicate is True  # an admin sees the pair in Duplicates
    assert said(decision, "cloned VMs keep their SMBIOS UUID")


def test_a_uuid_match_with_a_second_identifier_still_merges():
    original = {1: {HARDWARE_UUID: UUID_A, HOSTNAME: "vm-a", MAC: "00:50:56:01:02:03"}}
    renamed = AssetRecord("r", hostname="vm-renamed", hardware_uuid=UUID_A, mac_addresses=("00:50:56:01:02:03",))
    assert one(renamed, index(original), config((R_UUID,))).asset_id == 1
    same_name = AssetRecord("s", hostname="vm-a", hardware_uuid=UUID_A)
    assert one(same_name, index(original)).asset_id == 1


# --- values that identify nothing -----------------------------------------------------------------------------


def test_docker_macs_are_junk_whatever_the_rest_of_the_address():
    idx = index({1: {MAC: "02:42:ac:11:00:02"}, 2: {MAC: "02:42:7f:3a:11:9c"}})
    for mac in ("02:42:ac:11:00:02", "02-42-7F-3A-11-9C"):
        decision = one(AssetRecord("k", hostname="h", mac_addresses=(mac,)), idx)
        assert decision.outcome is Outcome.CREATED
        assert said(decision, "Docker")


def test_hypervisor_and_vpn_adapter_macs_are_junk():
    for mac in ("00:50:56:c0:00:01", "00:50:56:C0:00:08", "0a:00:27:00:00:03", "00:09:0f:aa:00:01"):
        decision = one(AssetRecord("k", mac_addresses=(mac,)), index({1: {MAC: mac.lower()}}))
        # Not matched to asset 1; and with nothing else to identify it, not made into an asset either.
        assert decision.outcome is Outcome.SKIPPED, mac
        assert decision.candidates == (), mac


def test_a_value_held_by_more_assets_than_the_limit_identifies_none_of_them():
    nat = "203.0.113.10"
    idx = index({n: {HOSTNAME: "web-01", IP: nat} for n in range(1, 8)})
    decision = one(AssetRecord("k", hostname="web-01", ip_addresses=(nat,)), idx, config(create=False))
    assert decision.outcome is Outcome.SKIPPED
    assert said(decision, f"ip_address {nat} ignored: shared by 7 assets")
    # at the limit it still counts (5 holders), and 0 turns the limit off
    assert one(
        AssetRecord("k", ip_addresses=(nat,)), index({n: {IP: nat} for n in range(1, 6)}), config((R_IP,))
    ).asset_id
    assert one(AssetRecord("k", ip_addresses=(nat,)), idx, config((R_IP,), shared_limit=0)).outcome is Outcome.MERGED


def test_nat_ip_shared_by_many_does_not_join_machines_with_the_ip_rule():
    nat = "198.51.100.7"
    idx = index({n: {IP: [nat, f"10.0.0.{n}"]} for n in range(1, 10)})
    decision = one(AssetRecord("k", ip_addresses=(nat, "10.0.0.3")), idx, config((R_IP,)))
    assert decision.asset_id == 3 and decision.candidates == (3,)


def test_a_shared_value_counts_assets_written_earlier_in_the_chunk():
    mac = "00:15:5d:00:04:01"  # Hyper-V switch MAC: not on the junk list, learned from the inventory
    records = [AssetRecord(f"k{n}", hostname=f"h{n}", serial_number=f"SN{n}", mac_addresses=(mac,)) for n in range(7)]
    decisions = identify_records(records, index(), config(shared_limit=2))
    assert [d.outcome for d in decisions] == [Outcome.CREATED] * 7  # vetoed by serial while <= 2, ignored after
    assert said(decisions[3], f"mac_address {mac} ignored: shared by 3 assets")


def test_placeholder_serial_and_uuid_do_not_merge():
    idx = index({1: {HOSTNAME: "a"}})
    for record in (
        AssetRecord("k", hostname="b", serial_number="Default string"),
        AssetRecord("k", hostname="b", hardware_uuid="03000200-0400-0500-0006-000700080009"),
        AssetRecord("k", hostname="b", hardware_uuid="00000000-0000-0000-0000-000000000000"),
    ):
        assert one(record, idx).outcome is Outcome.CREATED


# --- spellings, names, moves ----------------------------------------------------------------------------------


def test_mac_spellings_match_each_other():
    idx = index({1: {MAC: "0e:00:00:00:2b:80"}})
    for spelled in ("0E-00-00-00-2B-80", "0e00.0000.2b80", "0E:00:00:00:2B:80", "0e0000002b80"):
        assert one(AssetRecord("k", mac_addresses=(spelled,)), idx).asset_id == 1, spelled


def test_short_name_and_fqdn_in_the_hostname_field_match():
    idx = index({1: {HOSTNAME: "web-01", FQDN: "web-01.corp.example", IP: "10.0.0.5"}})
    fqdn_as_host = one(AssetRecord("k", hostname="WEB-01.corp.example."), idx)
    assert fqdn_as_host.asset_id == 1 and fqdn_as_host.rule == R_FQDN
    short = one(AssetRecord("k", hostname="web-01", ip_addresses=("10.0.0.5",)), idx)
    assert short.asset_id == 1 and short.rule == R_HOST_IP


def test_dhcp_move_the_old_address_with_another_name_is_not_a_match():
    idx = index({1: {HOSTNAME: "srv-1", IP: "10.0.0.8"}, 2: {HOSTNAME: "srv-2", IP: "10.0.0.9"}})
    moved = one(AssetRecord("k", hostname="srv-1", ip_addresses=("10.0.0.9",)), idx)
    assert moved.outcome is Outcome.CREATED  # hostname alone is off by default: names get reused
    with_mac = one(
        AssetRecord("k", hostname="srv-1", ip_addresses=("10.0.0.9",), mac_addresses=("0e:00:00:00:00:01",)),
        index({1: {HOSTNAME: "srv-1", IP: "10.0.0.8", MAC: "0e:00:00:00:00:01"}, 2: {IP: "10.0.0.9"}}),
    )
    assert with_mac.asset_id == 1


def test_reinstalled_agent_same_connector_second_record_joins_through_its_mac():
    mac = "0e:00:00:00:01:b0"
    idx = index(
        {1: {HOSTNAME: "srv-27", IP: "10.0.0.218", MAC: mac}},
        sources={"agent-old": ExistingSource(1, T0 - timedelta(days=30))},
        mine={1},
    )
    decision = one(AssetRecord("agent-new", hostname="srv-27", ip_addresses=("10.0.0.216",), mac_addresses=(mac,)), idx)
    assert decision.outcome is Outcome.MERGED and decision.asset_id == 1


def test_a_source_keeping_two_records_is_not_overruled_by_name_and_address():
    retired = {1: {HOSTNAME: "lap-1", FQDN: "lap-1.corp.example", IP: "10.0.0.5"}}
    record = AssetRecord("CI-new", hostname="lap-1", fqdn="lap-1.corp.example", ip_addresses=("10.0.0.5",))
    assert one(record, index(retired, mine={1})).outcome is Outcome.CREATED
    assert one(record, index(retired)).asset_id == 1  # another connector's asset: the names do match it


def test_thin_record_hostname_and_ip_only():
    idx = index({1: {HOSTNAME: "ws-1", IP: "10.0.0.5", SERIAL: "SN1"}, 2: {HOSTNAME: "ws-1"}})
    thin = one(AssetRecord("k", hostname="ws-1", ip_addresses=("10.0.0.5",), os="Windows"), idx)
    assert thin.asset_id == 1 and thin.rule == R_HOST_IP
    assert one(AssetRecord("k", hostname="ws-9", ip_addresses=("10.0.0.5",)), idx).outcome is Outcome.CREATED


# --- several candidates ---------------------------------------------------------------------------------------


def test_agreement_of_the_other_identifiers_wins_before_trust():
    idx = index(
        {1: {HOSTNAME: "web-01", IP: "10.0.0.5"}, 2: {HOSTNAME: "web-01", IP: "10.0.0.5", MAC: "0e:00:00:00:00:02"}},
        ranks={1: AssetRank(90, T0), 2: AssetRank(30, OLD)},
    )
    record = AssetRecord("k", hostname="web-01", ip_addresses=("10.0.0.5",), mac_addresses=("0e:00:00:00:00:02",))
    decision = one(record, idx, config((R_HOST_IP, R_MAC)))
    assert decision.asset_id == 2
    assert said(decision, "agree with it most", "mac_address")
    assert decision.possible_duplicate is True  # two genuine candidates: flagged for an admin


def test_stale_record_goes_to_the_candidate_current_when_it_was_written():
    idx = index(
        {1: {HOSTNAME: "web-01", IP: "10.0.0.5"}, 2: {HOSTNAME: "web-01", IP: "10.0.0.5"}},
        ranks={1: AssetRank(90, OLD), 2: AssetRank(90, T0)},
    )
    stale = one(AssetRecord("k", hostname="web-01", ip_addresses=("10.0.0.5",), updated_at=OLD), idx)
    assert stale.asset_id == 1 and said(stale, "nearest the record's own")
    current = one(AssetRecord("k", hostname="web-01", ip_addresses=("10.0.0.5",), updated_at=T0), idx)
    assert current.asset_id == 2 and said(current, "most recent update")


def test_a_record_tying_two_assets_flags_both():
    idx = index({1: {MAC: "0e:00:00:00:00:01", HOSTNAME: "ws-1"}, 2: {HOSTNAME: "ws-1", IP: "10.0.0.5"}})
    record = AssetRecord("k", hostname="ws-1", ip_addresses=("10.0.0.5",), mac_addresses=("0e:00:00:00:00:01",))
    decision = one(record, idx)
    # neither asset has a live source here, so the join rule refuses (joins: tests/assets/test_engine_joins.py)
    assert decision.asset_id == 1 and decision.linked == (2,) and decision.possible_duplicate
    assert said(decision, "'Hostname + IP address' alone matches", "not joined")
    conflicting = index(
        {1: {MAC: "0e:00:00:00:00:01", SERIAL: "SN1"}, 2: {HOSTNAME: "ws-1", IP: "10.0.0.5", SERIAL: "SN2"}}
    )
    assert one(record, conflicting).linked == ()


def test_trust_ranks_inside_a_chunk_are_the_best_source_not_the_current_connector():
    """The bug of issue 15: an asset written earlier in the chunk kept the current connector's rank."""
    mac = "0e:00:00:00:00:07"
    idx = index(
        {1: {HOSTNAME: "web-01", SERIAL: "SN1", MAC: mac}, 2: {HOSTNAME: "web-01", MAC: mac}},
        ranks={1: AssetRank(90, T0 - timedelta(days=2)), 2: AssetRank(30, T0 - timedelta(days=1))},
    )
    first, second = identify_records(
        [
            AssetRecord("a", serial_number="SN1", updated_at=T0 - timedelta(days=3)),  # touches asset 1
            AssetRecord("b", hostname="web-01", mac_addresses=(mac,), updated_at=T0),
        ],
        idx,
        config((R_SERIAL, _host()), rank=30),
    )
    assert first.asset_id == 1
    assert second.candidates == (1, 2)
    assert second.asset_id == 1 and said(second, "highest trust rank (90)")


def _host() -> RuleSpec:
    return RuleSpec(8, "Hostname", (HOSTNAME,))


# --- the same decisions whatever the chunk size ---------------------------------------------------------------


class Store:
    """What the database holds between chunks, written back from decisions the way the service writes them."""

    def __init__(self, assets: dict[int, dict], ranks: dict[int, AssetRank]) -> None:
        start = index(assets, ranks=ranks)
        self.identifiers = {key: set(hits) for key, hits in start.identifiers.items()}
        self.held = {a: {k: set(v) for k, v in kinds.items()} for a, kinds in start.held.items()}
        self.ranks = dict(ranks)
        self.sources: dict[str, ExistingSource] = {}
        self.mine: set[int] = set()
        self.next_id = 100
        self.merged_into: dict[int, int] = {}

    def index(self) -> IdentityIndex:
        return IdentityIndex(
            sources=dict(self.sources),
            identifiers={key: set(hits) for key, hits in self.identifiers.items()},
            ranks=dict(self.ranks),
            held={a: {k: frozenset(v) for k, v in kinds.items()} for a, kinds in self.held.items()},
            connector_assets=set(self.mine),
        )

    def write(self, decisions, cfg: EngineConfig) -> list[int | None]:
        """Apply a chunk's decisions; returns each decision's asset id (new assets get ids in creation order)."""
        new: dict[int, int] = {}
        landed: list[int | None] = []
        for decision in decisions:
            if decision.new_asset_key is not None and decision.new_asset_key not in new:
                new[decision.new_asset_key] = self.next_id
                self.next_id += 1
            target = decision.asset_id if decision.asset_id is not None else new.get(decision.new_asset_key)
            landed.append(target)
            if target is None or decision.outcome in (Outcome.UNCHANGED, Outcome.ERROR):
                continue
            record = decision.normalized.record
            for kind, values in decision.normalized.identifiers.items():
                for value in values:
                    self.identifiers.setdefault((kind, value), set()).add(target)
                    if kind in HELD_KINDS:
                        self.held.setdefault(target, {}).setdefault(kind, set()).add(value)
            rank = self.ranks.get(target, AssetRank(0, None))
            self.ranks[target] = AssetRank(
                max(rank.best_trust_rank, cfg.trust_rank), later(rank.last_updated, record.updated_at)
            )
            previous = self.sources.get(record.source_key)
            self.sources[record.source_key] = ExistingSource(
                target, later(record.updated_at, previous.updated_at) if previous else record.updated_at
            )
            self.mine.add(target)
            for loser, survivor in decision.joins:
                self.join(new.get(loser, loser), new.get(survivor, survivor))
        return landed

    def join(self, loser: int, survivor: int) -> None:
        """A join as the service writes it: the loser's sources and identifiers move to the survivor."""
        self.merged_into[loser] = survivor
        for hits in self.identifiers.values():
            if loser in hits:
                hits.discard(loser)
                hits.add(survivor)
        for kind, values in self.held.pop(loser, {}).items():
            self.held.setdefault(survivor, {}).setdefault(kind, set()).update(values)
        lost, kept = self.ranks.pop(loser, AssetRank(0, None)), self.ranks.get(survivor, AssetRank(0, None))
        self.ranks[survivor] = AssetRank(
            max(lost.best_trust_rank, kept.best_trust_rank), later(lost.last_updated, kept.last_updated)
        )
        for key, source in self.sources.items():
            if source.asset_id == loser:
                self.sources[key] = ExistingSource(survivor, source.updated_at)
        if loser in self.mine:
            self.mine.add(survivor)

    def final(self, target: int | None) -> int | None:
        while target in self.merged_into:
            target = self.merged_into[target]
        return target


def run_in_chunks(assets, ranks, records, cfg, size):
    store = Store(assets, ranks)
    summary = []
    for start in range(0, len(records), size):
        decisions = identify_records(records[start : start + size], store.index(), cfg)
        for decision, target in zip(decisions, store.write(decisions, cfg), strict=True):
            summary.append((decision.outcome, target, decision.possible_duplicate, len(decision.joins)))
    # the same outcomes, and the same grouping of records into assets once the joins are applied
    return [(outcome, store.final(target), flagged, joins) for outcome, target, flagged, joins in summary]


_hosts = st.sampled_from(["", "web-01", "web-02", "db-01.corp.example"])
_ips = st.lists(st.sampled_from(["10.0.0.1", "10.0.0.2", "203.0.113.10"]), max_size=2).map(tuple)
_macs = st.lists(st.sampled_from(["0e:00:00:00:00:01", "0e:00:00:00:00:02", "00:15:5d:00:04:01"]), max_size=2).map(
    tuple
)
_serials = st.sampled_from(["", "SN1", "SN2", "SN3", "0"])
_uuids = st.sampled_from(["", UUID_A, UUID_B])
_times = st.one_of(st.none(), st.integers(0, 5).map(lambda d: T0 + timedelta(days=d)))
_inventory = st.dictionaries(
    st.integers(1, 5),
    st.fixed_dictionaries(
        {},
        optional={
            HOSTNAME: st.sampled_from(["web-01", "web-02", "db-01"]),
            IP: st.sampled_from(["10.0.0.1", "10.0.0.2", "203.0.113.10"]),
            MAC: st.sampled_from(["0e:00:00:00:00:01", "00:15:5d:00:04:01"]),
            SERIAL: st.sampled_from(["SN1", "SN2"]),
            HARDWARE_UUID: st.just(UUID_A),
        },
    ),
    max_size=5,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    assets=_inventory,
    rank_values=st.lists(st.sampled_from([30, 60, 90]), min_size=5, max_size=5),
    rows=st.lists(st.tuples(_hosts, _ips, _macs, _serials, _uuids, _times), max_size=14),
    cfg=st.builds(
        EngineConfig,
        trust_rank=st.sampled_from([30, 60, 90]),
        rules=st.sampled_from([DEFAULT_RULES, (R_HOST_IP, R_SERIAL, R_MAC), (R_IP, R_UUID)]),
        create_unmanaged=st.booleans(),
        apply_default_rule=st.booleans(),
        shared_limit=st.sampled_from([0, 2, 5]),
    ),
)
def test_chunk_size_never_changes_a_decision(assets, rank_values, rows, cfg):
    ranks = {asset_id: AssetRank(rank_values[asset_id - 1], T0) for asset_id in assets}
    records = [
        AssetRecord(
            f"k{n}", hostname=h, ip_addresses=i, mac_addresses=m, serial_number=s, hardware_uuid=u, updated_at=t
        )
        for n, (h, i, m, s, u, t) in enumerate(rows)
    ]
    whole = run_in_chunks(assets, ranks, records, cfg, max(len(records), 1))
    for size in (1, 3, 7):
        assert run_in_chunks(assets, ranks, records, cfg, size) == whole, size
