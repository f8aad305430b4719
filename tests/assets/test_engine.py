"""Tests of the pure identification engine: no database, no Django (run with ``-p no:django`` if need be)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.engine import (
    CLOUD_INSTANCE,
    FQDN,
    HARDWARE_UUID,
    HOSTNAME,
    IDENTIFIER_KINDS,
    IP,
    MAC,
    NATIVE_KEY_RULE,
    SERIAL,
    SOURCE_NATIVE_KEY,
    AssetRank,
    Decision,
    EngineConfig,
    ExistingSource,
    IdentityIndex,
    Outcome,
    RuleSpec,
    SourceValues,
    identify_records,
    index_keys,
    normalize_cloud_instance_id,
    normalize_fqdn,
    normalize_hostname,
    normalize_ip,
    normalize_mac,
    normalize_record,
    normalize_serial,
    normalize_uuid,
    reconcile,
)
from assets.engine.records import REPORTED_ATTRIBUTES, AssetRecord

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

R_SERIAL = RuleSpec(2, "Serial number", (SERIAL,))
R_UUID = RuleSpec(3, "Hardware UUID", (HARDWARE_UUID,))
R_CLOUD = RuleSpec(4, "Cloud instance ID", (CLOUD_INSTANCE,))
R_MAC = RuleSpec(5, "MAC address", (MAC,))
R_FQDN = RuleSpec(6, "FQDN", (FQDN,))
R_HOST_IP = RuleSpec(7, "Hostname + IP address", (HOSTNAME, IP))
R_HOST = RuleSpec(8, "Hostname", (HOSTNAME,))
R_IP = RuleSpec(9, "IP address", (IP,))
#: A new connector's defaults: everything on except Hostname alone and IP address alone.
DEFAULT_RULES = (R_SERIAL, R_UUID, R_CLOUD, R_MAC, R_FQDN, R_HOST_IP)


def config(rules=DEFAULT_RULES, *, rank=50, create=True, default=True) -> EngineConfig:
    return EngineConfig(trust_rank=rank, rules=tuple(rules), create_unmanaged=create, apply_default_rule=default)


def make_index(assets=None, sources=None, ranks=None) -> IdentityIndex:
    """Build an index from ``{asset_id: {kind: value or [values]}}`` the way the service would load it."""
    identifiers: dict[tuple[str, str], set[int]] = {}
    for asset_id, values in (assets or {}).items():
        for kind, value in values.items():
            for item in [value] if isinstance(value, str) else value:
                identifiers.setdefault((kind, item), set()).add(asset_id)
    return IdentityIndex(sources=dict(sources or {}), identifiers=identifiers, ranks=dict(ranks or {}))


def decide(records, index=None, cfg=None) -> list[Decision]:
    return identify_records(list(records), index or make_index(), cfg or config())


def one(record, index=None, cfg=None) -> Decision:
    (decision,) = decide([record], index, cfg)
    assert decision.reasons, "every decision must explain itself"
    return decision


# ------------------------------------------------------------------------------------------------------------
# Normalizers
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "00-1A-2B-3C-4D-5E",
        "001a.2b3c.4d5e",
        "001A2B3C4D5E",
        "00:1a:2b:3c:4d:5e",
        " 00:1A:2B:3C:4D:5E ",
        "0:1a:2b:3c:4d:5e",
        "00 1a 2b 3c 4d 5e",
    ],
)
def test_normalize_mac_accepts_common_spellings(raw):
    assert normalize_mac(raw) == "00:1a:2b:3c:4d:5e"


@pytest.mark.parametrize("raw", ["", None, "zz:zz:zz:zz:zz:zz", "00:1a:2b:3c:4d", "00:1a:2b:3c:4d:5e:6f", "hello"])
def test_normalize_mac_rejects_non_macs(raw):
    assert normalize_mac(raw) == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10.0.0.5", "10.0.0.5"),
        (" 10.0.0.5 ", "10.0.0.5"),
        ("10.0.0.5/24", "10.0.0.5"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("::ffff:10.0.0.5", "10.0.0.5"),
        ("010.0.0.5", ""),
        ("10.0.0.256", ""),
        ("not-an-ip", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_ip(raw, expected):
    assert normalize_ip(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Web-01.Corp.Example.COM.", "web-01.corp.example.com"),
        ("  web-01  ", "web-01"),
        ("WEB-01..", "web-01"),
        (None, ""),
    ],
)
def test_normalize_hostname_and_fqdn(raw, expected):
    assert normalize_hostname(raw) == expected
    assert normalize_fqdn(raw) == expected


def test_normalize_serial_and_uuid():
    assert normalize_serial("  abc123x ") == "ABC123X"
    assert normalize_serial(None) == ""
    canonical = "4C4C4544-0042-3510-8052-B2C04F4D4E31"
    for spelling in (
        "4c4c4544-0042-3510-8052-b2c04f4d4e31",
        "{4C4C4544-0042-3510-8052-B2C04F4D4E31}",
        "urn:uuid:4c4c4544-0042-3510-8052-b2c04f4d4e31",
        "4c4c454400423510 8052b2c04f4d4e31".replace(" ", ""),
    ):
        assert normalize_uuid(spelling) == canonical
    assert normalize_uuid(" vmware-abc ") == "VMWARE-ABC"  # not a UUID: trimmed and upper-cased like a serial
    assert normalize_cloud_instance_id(" I-0ABC123 ") == "i-0abc123"


text_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "00-1A-2B-3C-4D-5E",
            "001a.2b3c.4d5e",
            "0:1a:2b:3c:4d:5e",
            "10.0.0.1/24",
            "::ffff:10.0.0.1",
            "[::1]",
            "fe80::1%eth0",
            "Web-01.Example.COM. ",
            "{4c4c4544-0042-3510-8052-b2c04f4d4e31}",
            "urn:uuid:4c4c4544-0042-3510-8052-b2c04f4d4e31",
            "To be filled by O.E.M.",
            " a. \u3000.",
        ]
    ),
)


@pytest.mark.parametrize(
    "normalizer",
    [
        normalize_hostname,
        normalize_fqdn,
        normalize_mac,
        normalize_ip,
        normalize_serial,
        normalize_uuid,
        normalize_cloud_instance_id,
    ],
)
@given(value=text_values)
def test_normalizers_are_idempotent(normalizer, value):
    once = normalizer(value)
    assert normalizer(once) == once


# ------------------------------------------------------------------------------------------------------------
# Record normalization and junk filtering
# ------------------------------------------------------------------------------------------------------------


def test_hostname_given_as_fqdn_yields_short_name_and_fqdn():
    normalized = normalize_record(AssetRecord("k", hostname="WEB-01.corp.example.com."))
    assert normalized.identifiers[HOSTNAME] == ("web-01",)
    assert normalized.identifiers[FQDN] == ("web-01.corp.example.com",)
    assert normalized.attributes["hostname"] == "web-01"
    assert normalized.attributes["fqdn"] == "web-01.corp.example.com"


def test_fqdn_first_label_becomes_hostname_when_none_given():
    normalized = normalize_record(AssetRecord("k", fqdn="DB-7.Example.org."))
    assert normalized.identifiers[FQDN] == ("db-7.example.org",)
    assert normalized.identifiers[HOSTNAME] == ("db-7",)
    assert normalized.attributes["hostname"] == "db-7"


def test_fqdn_first_label_replaces_a_junk_hostname_for_matching_only():
    normalized = normalize_record(AssetRecord("k", hostname="localhost", fqdn="db-7.example.org"))
    assert normalized.identifiers[HOSTNAME] == ("db-7",)
    assert normalized.attributes["hostname"] == "localhost"  # kept as the source reported it
    assert any("hostname ignored" in reason for reason in normalized.ignored)


def test_dotless_fqdn_is_only_a_hostname():
    normalized = normalize_record(AssetRecord("k", fqdn="web-01"))
    assert normalized.identifiers[FQDN] == ()
    assert normalized.identifiers[HOSTNAME] == ("web-01",)


def test_record_fqdn_wins_over_the_domain_of_a_dotted_hostname():
    normalized = normalize_record(AssetRecord("k", hostname="web-01.old.example", fqdn="web-01.new.example"))
    assert normalized.identifiers[FQDN] == ("web-01.new.example",)
    assert normalized.identifiers[HOSTNAME] == ("web-01",)


@pytest.mark.parametrize(
    "serial",
    [
        "To be filled by O.E.M.",
        "TO BE FILLED BY OEM",
        "Default string",
        "0",
        "None",
        "N/A",
        "System Serial Number",
        "123456789",
        "Not Specified",
        "Chassis Serial Number",
        "00000000",
        "0000-0000-0000",
        "INVALID",
        "xxxxxxxx",
        "  -  ",
    ],
)
def test_placeholder_serials_are_ignored_but_kept(serial):
    normalized = normalize_record(AssetRecord("k", serial_number=serial))
    assert normalized.identifiers[SERIAL] == ()
    assert normalized.attributes["serial_number"] == normalize_serial(serial)
    assert any(reason.startswith("serial_number ignored") for reason in normalized.ignored)


def test_placeholder_serial_reason_quotes_the_reported_value():
    normalized = normalize_record(AssetRecord("k", serial_number="To be filled by O.E.M."))
    assert normalized.ignored == ("serial_number ignored: placeholder value 'To be filled by O.E.M.'",)


def test_real_serials_are_kept():
    for serial in ("5CG1234XYZ", "VMware-42 1a 2b 3c", "C02XK0ABJG5J", "0000123"):
        assert normalize_record(AssetRecord("k", serial_number=serial)).identifiers[SERIAL] == (
            normalize_serial(serial),
        )


@pytest.mark.parametrize(
    "value",
    [
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
        "03000200-0400-0500-0006-000700080009",
        "Not Settable",
    ],
)
def test_junk_uuids_are_ignored(value):
    normalized = normalize_record(AssetRecord("k", hardware_uuid=value))
    assert normalized.identifiers[HARDWARE_UUID] == ()
    assert normalized.attributes["hardware_uuid"] == normalize_uuid(value)
    assert any(reason.startswith("hardware_uuid ignored") for reason in normalized.ignored)


@pytest.mark.parametrize(
    "mac",
    [
        "00:00:00:00:00:00",
        "FF-FF-FF-FF-FF-FF",
        "01:00:5e:00:00:01",  # multicast
        "02:00:4C:4F:4F:50",  # Microsoft loopback adapter
    ],
)
def test_junk_macs_are_ignored(mac):
    normalized = normalize_record(AssetRecord("k", mac_addresses=(mac, "00:1a:2b:3c:4d:5e")))
    assert normalized.identifiers[MAC] == ("00:1a:2b:3c:4d:5e",)
    assert len(normalized.attributes["mac_addresses"]) == 2  # the junk one is still stored
    assert any(reason.startswith("mac_address ignored") for reason in normalized.ignored)


@pytest.mark.parametrize(
    "ip",
    ["127.0.0.1", "::1", "169.254.10.1", "fe80::1", "0.0.0.0", "::", "224.0.0.251", "ff02::1"],
)
def test_junk_ips_are_ignored(ip):
    normalized = normalize_record(AssetRecord("k", ip_addresses=(ip, "10.1.2.3")))
    assert normalized.identifiers[IP] == ("10.1.2.3",)
    assert any(reason.startswith("ip_address ignored") for reason in normalized.ignored)


def test_private_and_public_ips_are_kept_deduplicated():
    normalized = normalize_record(AssetRecord("k", ip_addresses=("10.0.0.1", "10.0.0.1/24", "8.8.8.8", "fd00::1")))
    assert normalized.identifiers[IP] == ("10.0.0.1", "8.8.8.8", "fd00::1")
    assert normalized.attributes["ip_addresses"] == ("10.0.0.1", "8.8.8.8", "fd00::1")


@pytest.mark.parametrize(
    ("hostname", "fqdn"),
    [
        ("localhost", ""),
        ("LOCALHOST.localdomain", ""),
        ("", "localhost.localdomain"),
        ("ip-10-0-0-1", ""),
        ("ip-10-0-0-1.ec2.internal", ""),
        ("", "ip-10-0-0-1.eu-west-1.compute.internal"),
        ("10.0.0.1", ""),
        ("(none)", ""),
    ],
)
def test_junk_hostnames_are_ignored(hostname, fqdn):
    normalized = normalize_record(AssetRecord("k", hostname=hostname, fqdn=fqdn))
    assert normalized.identifiers[HOSTNAME] == ()
    assert normalized.identifiers[FQDN] == ()
    assert normalized.ignored


def test_hostnames_merely_containing_ip_like_text_are_kept():
    normalized = normalize_record(AssetRecord("k", hostname="ip-phone-12", fqdn="ip-999-1-1-1.example.com"))
    assert normalized.identifiers[HOSTNAME] == ("ip-phone-12",)
    assert normalized.identifiers[FQDN] == ("ip-999-1-1-1.example.com",)


def test_attributes_are_normalized_and_restricted_to_reported_names():
    record = AssetRecord(
        "k",
        hostname="Web-01",
        netbios_name="web01",
        cloud_provider=" AWS ",
        cloud_instance_id="i-0ABC",
        os=" Ubuntu ",
        tags=("prod", " prod ", "", "web"),
        attributes={"rack": "R1"},
    )
    normalized = normalize_record(record)
    assert set(normalized.attributes) == {*REPORTED_ATTRIBUTES, "attributes"}
    assert normalized.attributes["netbios_name"] == "WEB01"
    assert normalized.attributes["cloud_provider"] == "aws"
    assert normalized.attributes["os"] == "Ubuntu"
    assert normalized.attributes["tags"] == ("prod", "web")
    assert normalized.attributes["attributes"] == {"rack": "R1"}
    assert normalized.attributes["attributes"] is not record.attributes
    assert normalized.identifiers[CLOUD_INSTANCE] == ("i-0abc",)
    assert set(normalized.identifiers) == set(IDENTIFIER_KINDS)
    assert normalized.record is record


def test_index_keys_lists_every_usable_identifier():
    records = [
        normalize_record(AssetRecord("a", hostname="web-01", ip_addresses=("10.0.0.1", "127.0.0.1"))),
        normalize_record(AssetRecord("b", serial_number="SN1")),
    ]
    assert index_keys(records) == {(HOSTNAME, "web-01"), (IP, "10.0.0.1"), (SERIAL, "SN1")}


reported_values = st.one_of(
    text_values,
    st.sampled_from(["localhost", "ip-10-0-0-1.ec2.internal", "web-01", "web-01.corp.example.com", "10.0.0.1"]),
)
value_lists = st.lists(
    st.one_of(text_values, st.sampled_from(["10.0.0.1", "127.0.0.1", "00:00:00:00:00:00", "aa-bb-cc-dd-ee-ff"])),
    max_size=4,
).map(tuple)
records_strategy = st.builds(
    AssetRecord,
    source_key=st.text(min_size=1, max_size=5),
    hostname=reported_values,
    fqdn=reported_values,
    netbios_name=text_values,
    ip_addresses=value_lists,
    mac_addresses=value_lists,
    serial_number=text_values,
    hardware_uuid=text_values,
    cloud_provider=text_values,
    cloud_instance_id=text_values,
    tags=st.lists(text_values, max_size=3).map(tuple),
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(record=records_strategy)
def test_normalize_record_is_idempotent_on_its_own_output(record):
    first = normalize_record(record)
    fields = {name: first.attributes[name] for name in REPORTED_ATTRIBUTES}
    again = normalize_record(AssetRecord(record.source_key, attributes=first.attributes["attributes"], **fields))
    assert again.identifiers == first.identifiers
    assert again.attributes == first.attributes


# ------------------------------------------------------------------------------------------------------------
# Source native key and out-of-order protection
# ------------------------------------------------------------------------------------------------------------


def test_native_key_updates_in_place_and_wins_over_rules():
    index = make_index(
        assets={7: {SERIAL: "SN-OTHER"}},
        sources={"host-1": ExistingSource(asset_id=42, updated_at=T0)},
    )
    decision = one(AssetRecord("host-1", serial_number="SN-OTHER", updated_at=T0 + timedelta(hours=1)), index)
    assert decision.outcome is Outcome.UPDATED
    assert decision.asset_id == 42
    assert decision.new_asset_key is None
    assert decision.rule == NATIVE_KEY_RULE
    assert decision.compared == {"Source native key": [f"{SOURCE_NATIVE_KEY}=host-1"]}
    assert decision.candidates == (42,)


def test_older_record_changes_nothing():
    index = make_index(sources={"host-1": ExistingSource(asset_id=42, updated_at=T0)})
    decision = one(AssetRecord("host-1", hostname="renamed", updated_at=T0 - timedelta(seconds=1)), index)
    assert decision.outcome is Outcome.UNCHANGED
    assert decision.asset_id == 42
    assert "out-of-order" in " ".join(decision.reasons)


@pytest.mark.parametrize(
    ("stored", "incoming"), [(T0, T0), (None, T0), (T0, None), (None, None), (T0, T0 + timedelta(days=1))]
)
def test_same_age_or_unknown_age_still_updates(stored, incoming):
    index = make_index(sources={"host-1": ExistingSource(asset_id=42, updated_at=stored)})
    assert one(AssetRecord("host-1", updated_at=incoming), index).outcome is Outcome.UPDATED


def test_naive_timestamps_are_read_as_utc():
    index = make_index(sources={"host-1": ExistingSource(asset_id=42, updated_at=T0)})
    naive_older = (T0 - timedelta(minutes=5)).replace(tzinfo=None)
    assert one(AssetRecord("host-1", updated_at=naive_older), index).outcome is Outcome.UNCHANGED


def test_repeated_source_key_in_a_chunk_is_a_native_match_of_the_first():
    first, second = decide([AssetRecord("new-1", hostname="web-01"), AssetRecord("new-1", hostname="web-02")])
    assert first.outcome is Outcome.CREATED
    assert second.outcome is Outcome.UPDATED
    assert second.rule == NATIVE_KEY_RULE
    assert second.asset_id is None
    assert second.new_asset_key == first.new_asset_key == -1


def test_repeated_source_key_in_a_chunk_respects_order_of_age():
    first, second = decide(
        [
            AssetRecord("new-1", hostname="web-01", updated_at=T0),
            AssetRecord("new-1", updated_at=T0 - timedelta(1)),
        ]
    )
    assert first.outcome is Outcome.CREATED
    assert second.outcome is Outcome.UNCHANGED
    assert second.new_asset_key == first.new_asset_key


# ------------------------------------------------------------------------------------------------------------
# Rules
# ------------------------------------------------------------------------------------------------------------


def test_single_candidate_merges():
    index = make_index(assets={5: {SERIAL: "SN1"}})
    decision = one(AssetRecord("k", serial_number=" sn1 "), index)
    assert decision.outcome is Outcome.MERGED
    assert decision.asset_id == 5
    assert decision.new_asset_key is None
    assert decision.rule == R_SERIAL
    assert decision.candidates == (5,)
    assert decision.compared == {"Serial number": ["serial_number=SN1"]}


def test_placeholder_serial_does_not_merge_two_machines():
    index = make_index(assets={5: {SERIAL: "TO BE FILLED BY O.E.M."}})
    a, b = decide(
        [
            AssetRecord("a", hostname="pc-a", serial_number="To be filled by O.E.M."),
            AssetRecord("b", hostname="pc-b", serial_number="To be filled by O.E.M."),
        ],
        index,
    )
    assert a.outcome is b.outcome is Outcome.CREATED
    assert a.new_asset_key != b.new_asset_key
    assert "serial_number ignored: placeholder value 'To be filled by O.E.M.'" in a.reasons
    assert "Serial number" not in a.compared


def test_rules_are_tried_in_order_first_match_decides():
    index = make_index(
        assets={1: {MAC: "00:1a:2b:3c:4d:5e"}, 2: {HARDWARE_UUID: "4C4C4544-0042-3510-8052-B2C04F4D4E31"}}
    )
    record = AssetRecord(
        "k", mac_addresses=("00-1A-2B-3C-4D-5E",), hardware_uuid="4c4c4544-0042-3510-8052-b2c04f4d4e31"
    )
    assert one(record, index).asset_id == 2  # Hardware UUID comes before MAC address
    assert one(record, index, config((R_MAC, R_UUID))).asset_id == 1


def test_list_attributes_match_on_any_shared_value():
    index = make_index(assets={3: {IP: ["10.0.0.9", "10.0.0.10"]}})
    decision = one(AssetRecord("k", ip_addresses=("192.168.1.1", "10.0.0.10")), index, config((R_IP,)))
    assert decision.outcome is Outcome.MERGED
    assert decision.asset_id == 3


def test_hostname_plus_ip_rule_needs_both_on_the_same_asset():
    index = make_index(assets={1: {HOSTNAME: "web-01"}, 2: {IP: "10.0.0.5"}, 3: {HOSTNAME: "web-01", IP: "10.0.0.5"}})
    rules = (R_HOST_IP,)
    decision = one(AssetRecord("k", hostname="web-01", ip_addresses=("10.0.0.5",)), index, config(rules))
    assert decision.outcome is Outcome.MERGED
    assert decision.asset_id == 3
    assert decision.compared == {"Hostname + IP address": ["hostname=web-01", "ip_address=10.0.0.5"]}

    only_split = make_index(assets={1: {HOSTNAME: "web-01"}, 2: {IP: "10.0.0.5"}})
    decision = one(AssetRecord("k", hostname="web-01", ip_addresses=("10.0.0.5",)), only_split, config(rules))
    assert decision.outcome is Outcome.CREATED


def test_rule_not_applicable_without_all_its_attributes():
    index = make_index(assets={1: {HOSTNAME: "web-01"}})
    decision = one(AssetRecord("k", hostname="web-01"), index, config((R_HOST_IP,), create=False))
    assert decision.outcome is Outcome.SKIPPED
    assert "Hostname + IP address" not in decision.compared
    assert any("not applicable" in reason and "ip_address" in reason for reason in decision.reasons)


def test_junk_values_in_the_index_side_do_not_match_junk_records():
    index = make_index(assets={1: {IP: "127.0.0.1"}, 2: {MAC: "00:00:00:00:00:00"}, 3: {HOSTNAME: "localhost"}})
    record = AssetRecord("k", hostname="localhost", ip_addresses=("127.0.0.1",), mac_addresses=("00:00:00:00:00:00",))
    decision = one(record, index, config((R_MAC, R_HOST, R_IP)))
    # No match, and no new asset either: a record whose only identity is junk is skipped with a reason.
    assert decision.outcome is Outcome.SKIPPED
    assert decision.candidates == () and decision.asset_id is None and decision.new_asset_key is None


SEVERAL = {10: {HOSTNAME: "web-01"}, 11: {HOSTNAME: "web-01"}, 12: {HOSTNAME: "web-01"}}


def test_default_rule_picks_the_most_trusted_candidate():
    ranks = {10: AssetRank(40, T0 + timedelta(days=9)), 11: AssetRank(90, T0), 12: AssetRank(60, T0)}
    decision = one(AssetRecord("k", hostname="web-01"), make_index(SEVERAL, ranks=ranks), config((R_HOST,)))
    assert decision.outcome is Outcome.MERGED
    assert decision.asset_id == 11
    assert decision.candidates == (10, 11, 12)
    assert any("highest trust rank (90)" in reason for reason in decision.reasons)


def test_default_rule_breaks_trust_ties_by_most_recent_update():
    ranks = {10: AssetRank(90, T0), 11: AssetRank(90, None), 12: AssetRank(90, T0 + timedelta(hours=1))}
    decision = one(AssetRecord("k", hostname="web-01"), make_index(SEVERAL, ranks=ranks), config((R_HOST,)))
    assert decision.asset_id == 12
    assert any("most recent update" in reason for reason in decision.reasons)


def test_default_rule_full_tie_is_deterministic_lowest_id():
    decision = one(AssetRecord("k", hostname="web-01"), make_index(SEVERAL), config((R_HOST,)))
    assert decision.asset_id == 10
    assert any("lowest asset id" in reason for reason in decision.reasons)


def test_without_default_rule_several_candidates_fall_through_to_the_next_rule():
    index = make_index({**SEVERAL, 12: {HOSTNAME: "web-01", IP: "10.0.0.5"}})
    rules = (R_HOST, R_HOST_IP)
    decision = one(AssetRecord("k", hostname="web-01", ip_addresses=("10.0.0.5",)), index, config(rules, default=False))
    assert decision.outcome is Outcome.MERGED
    assert decision.asset_id == 12
    assert decision.rule == R_HOST_IP
    assert set(decision.compared) == {"Hostname", "Hostname + IP address"}


def test_without_default_rule_unresolved_candidates_end_ambiguous_and_create_a_flagged_asset():
    decision = one(AssetRecord("k", hostname="web-01"), make_index(SEVERAL), config((R_HOST,), default=False))
    assert decision.outcome is Outcome.AMBIGUOUS
    assert decision.possible_duplicate is True
    assert decision.asset_id is None
    assert decision.new_asset_key == -1
    assert decision.candidates == (10, 11, 12)
    assert decision.rule == R_HOST


def test_ambiguous_without_create_writes_nothing():
    cfg = config((R_HOST,), default=False, create=False)
    decision = one(AssetRecord("k", hostname="web-01"), make_index(SEVERAL), cfg)
    assert decision.outcome is Outcome.AMBIGUOUS
    assert decision.possible_duplicate is False
    assert decision.asset_id is None
    assert decision.new_asset_key is None
    assert any("Create unmanaged asset is off" in reason for reason in decision.reasons)


def test_ambiguous_remembers_the_last_rule_that_saw_several():
    index = make_index({20: {HOSTNAME: "web-01"}, 21: {HOSTNAME: "web-01"}, 22: {IP: "10.0.0.5"}, 23: {IP: "10.0.0.5"}})
    cfg = config((R_HOST, R_IP), default=False, create=False)
    decision = one(AssetRecord("k", hostname="web-01", ip_addresses=("10.0.0.5",)), index, cfg)
    assert decision.outcome is Outcome.AMBIGUOUS
    assert decision.rule == R_IP
    assert decision.candidates == (22, 23)


def test_no_match_with_create_unmanaged_creates():
    decision = one(AssetRecord("k", hostname="web-01", serial_number="SN9"))
    assert decision.outcome is Outcome.CREATED
    assert decision.asset_id is None
    assert decision.new_asset_key == -1
    assert decision.rule is None
    assert decision.possible_duplicate is False


def test_no_match_with_create_unmanaged_off_is_skipped_with_its_reason():
    decision = one(AssetRecord("k", hostname="web-01", serial_number="SN9"), cfg=config(create=False))
    assert decision.outcome is Outcome.SKIPPED
    assert decision.asset_id is None
    assert decision.new_asset_key is None
    assert "no rule matched and Create unmanaged asset is off" in decision.reasons
    summary = [reason for reason in decision.reasons if reason.startswith("rules applied:")]
    assert summary == [
        "rules applied: Serial number; "
        "not applicable: Hardware UUID, Cloud instance ID, MAC address, FQDN, Hostname + IP address"
    ]


def test_no_rules_enabled_still_explains():
    decision = one(AssetRecord("k", hostname="web-01"), cfg=config(()))
    assert decision.outcome is Outcome.CREATED
    assert any("no identification rule is enabled" in reason for reason in decision.reasons)


def test_native_key_rule_passed_in_rules_is_not_applied_twice():
    cfg = config((NATIVE_KEY_RULE, R_HOST))
    decision = one(AssetRecord("k", hostname="web-01"), make_index({3: {HOSTNAME: "web-01"}}), cfg)
    assert decision.asset_id == 3
    assert "Source native key" not in decision.compared


def test_compared_keys_are_capped():
    record = AssetRecord("k", ip_addresses=tuple(f"10.0.0.{i}" for i in range(1, 30)))
    decision = one(record, cfg=config((R_IP,)))
    keys = decision.compared["IP address"]
    assert len(keys) == 9
    assert keys[-1] == "... (+21 more)"


# ------------------------------------------------------------------------------------------------------------
# Within one chunk
# ------------------------------------------------------------------------------------------------------------


def test_two_records_for_the_same_new_machine_share_one_new_asset_key():
    decisions = decide(
        [
            AssetRecord("cmdb-1", hostname="web-01", serial_number="SN1"),
            AssetRecord("other", hostname="db-01", serial_number="SN2"),
            AssetRecord("mdm-7", serial_number="sn1", mac_addresses=("00:1a:2b:3c:4d:5e",)),
            AssetRecord("nac-3", mac_addresses=("001A.2B3C.4D5E",)),  # only linked through the previous record
        ]
    )
    assert [d.outcome for d in decisions] == [
        Outcome.CREATED,
        Outcome.CREATED,
        Outcome.MERGED,
        Outcome.MERGED,
    ]
    assert [d.new_asset_key for d in decisions] == [-1, -2, -1, -1]
    assert all(d.asset_id is None for d in decisions)
    assert decisions[2].candidates == (-1,)
    assert any("a new asset created earlier in this delivery" in reason for reason in decisions[2].reasons)


def test_a_record_merged_into_an_existing_asset_lends_its_identifiers_to_later_records():
    index = make_index({9: {SERIAL: "SN1"}})
    first, second = decide(
        [
            AssetRecord("a", serial_number="SN1", mac_addresses=("00:1a:2b:3c:4d:5e",)),
            AssetRecord("b", mac_addresses=("00:1a:2b:3c:4d:5e",)),
        ],
        index,
    )
    assert first.asset_id == second.asset_id == 9
    assert index.identifiers == make_index({9: {SERIAL: "SN1"}}).identifiers  # caller's index untouched


def test_chunk_created_assets_compete_in_the_default_rule():
    mac = "00:1a:2b:3c:4d:5e"
    index = make_index({5: {HOSTNAME: "web-01", MAC: mac, CLOUD_INSTANCE: "i-0aaa"}}, ranks={5: AssetRank(10, T0)})
    index.held = {5: {CLOUD_INSTANCE: frozenset({"i-0aaa"})}}
    records = [
        AssetRecord("a", hostname="other", serial_number="SN1"),
        # joins -1, which gains web-01 and the MAC (its cloud instance ID differs from asset 5's: the record
        # neither joins nor flags asset 5)
        AssetRecord(
            "b", hostname="web-01", serial_number="SN1", mac_addresses=(mac,), cloud_instance_id="i-0bbb", updated_at=T0
        ),
        # candidates: asset 5 (rank 10) and new asset -1 (rank 50); both agree on hostname and MAC. (The MAC
        # matters: -1 already holds a record of this connector, a host name alone would not overrule that.)
        AssetRecord("c", hostname="web-01", mac_addresses=(mac,)),
    ]
    decisions = decide(records, index, config((R_SERIAL, R_HOST)))
    assert decisions[1].new_asset_key == -1
    assert decisions[2].outcome is Outcome.MERGED
    assert decisions[2].candidates == (5, -1)
    assert decisions[2].new_asset_key == -1
    assert decisions[2].asset_id is None


def test_caller_index_is_not_mutated():
    index = make_index(SEVERAL, sources={"x": ExistingSource(10, T0)}, ranks={10: AssetRank(1, T0)})
    before = copy.deepcopy(index)
    decide(
        [
            AssetRecord("x", hostname="web-01"),
            AssetRecord("y", hostname="web-01"),
            AssetRecord("z", serial_number="Q"),
        ],
        index,
        config((R_HOST, R_SERIAL)),
    )
    assert index == before


def test_a_failing_record_gets_an_error_decision_and_the_chunk_goes_on():
    bad = AssetRecord("bad", attributes=["not", "a", "dict"])  # type: ignore[arg-type]
    decisions = decide([bad, AssetRecord("good", hostname="web-01")])
    assert decisions[0].outcome is Outcome.ERROR
    assert decisions[0].reasons
    assert decisions[1].outcome is Outcome.CREATED
    assert decisions[1].new_asset_key == -1


# ------------------------------------------------------------------------------------------------------------
# Properties of identify_records
# ------------------------------------------------------------------------------------------------------------

pool_hosts = st.sampled_from(["web-01", "web-02", "db-01.corp.example", "localhost", ""])
pool_ips = st.lists(st.sampled_from(["10.0.0.1", "10.0.0.2", "127.0.0.1", "bad"]), max_size=2).map(tuple)
pool_serials = st.sampled_from(["SN1", "SN2", "To be filled by O.E.M.", ""])
chunk_records = st.lists(
    st.builds(
        AssetRecord,
        source_key=st.sampled_from(["a", "b", "c", "d", "e"]),
        hostname=pool_hosts,
        ip_addresses=pool_ips,
        serial_number=pool_serials,
        updated_at=st.one_of(st.none(), st.integers(0, 3).map(lambda h: T0 + timedelta(hours=h))),
    ),
    max_size=8,
)
pool_index = st.builds(
    make_index,
    assets=st.dictionaries(
        st.integers(1, 6),
        st.fixed_dictionaries(
            {},
            optional={
                HOSTNAME: st.sampled_from(["web-01", "web-02", "db-01"]),
                IP: st.sampled_from(["10.0.0.1", "10.0.0.2"]),
                SERIAL: st.sampled_from(["SN1", "SN2"]),
            },
        ),
        max_size=5,
    ),
    sources=st.dictionaries(
        st.sampled_from(["a", "b", "z"]),
        st.builds(ExistingSource, st.integers(1, 6), st.one_of(st.none(), st.just(T0 + timedelta(hours=1)))),
        max_size=2,
    ),
    ranks=st.dictionaries(
        st.integers(1, 6),
        st.builds(AssetRank, st.integers(1, 100), st.one_of(st.none(), st.just(T0))),
        max_size=6,
    ),
)
pool_config = st.builds(
    EngineConfig,
    trust_rank=st.integers(1, 100),
    rules=st.lists(st.sampled_from([R_SERIAL, R_HOST_IP, R_HOST, R_IP, R_FQDN]), unique=True, max_size=4).map(tuple),
    create_unmanaged=st.booleans(),
    apply_default_rule=st.booleans(),
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(records=chunk_records, index=pool_index, cfg=pool_config)
def test_identify_records_is_deterministic_and_well_formed(records, index, cfg):
    before = copy.deepcopy(index)
    first = identify_records(records, index, cfg)
    second = identify_records(list(records), copy.deepcopy(index), cfg)
    assert first == second
    assert index == before
    assert len(first) == len(records)
    new_keys = set()
    for decision in first:
        assert decision.reasons
        assert decision.outcome is not Outcome.ERROR, decision.reasons
        writes = decision.outcome in (
            Outcome.CREATED,
            Outcome.UPDATED,
            Outcome.MERGED,
            Outcome.UNCHANGED,
        ) or (decision.outcome is Outcome.AMBIGUOUS and cfg.create_unmanaged)
        assert (decision.asset_id is not None or decision.new_asset_key is not None) == writes
        assert not (decision.asset_id is not None and decision.new_asset_key is not None)
        # Flagged: an ambiguous record's new asset, and the asset the default rule chose among several candidates.
        if decision.outcome is Outcome.AMBIGUOUS:
            assert decision.possible_duplicate == cfg.create_unmanaged
        elif decision.outcome is Outcome.MERGED:
            assert decision.possible_duplicate == (len(decision.candidates) > 1 or bool(decision.linked))
        elif decision.outcome is not Outcome.CREATED:
            assert not decision.possible_duplicate
        if decision.outcome is Outcome.CREATED or (decision.outcome is Outcome.AMBIGUOUS and cfg.create_unmanaged):
            assert decision.new_asset_key not in new_keys
            new_keys.add(decision.new_asset_key)
        elif decision.new_asset_key is not None:
            assert decision.new_asset_key in new_keys  # only ever points at an asset created earlier in the chunk
    assert new_keys == set(range(-1, -len(new_keys) - 1, -1))


# ------------------------------------------------------------------------------------------------------------
# Reconciliation
# ------------------------------------------------------------------------------------------------------------


def test_reconcile_prefers_trust_then_recency_with_provenance():
    sources = [
        SourceValues(1, 50, T0 + timedelta(days=1), {"hostname": "old-name", "os": "Ubuntu", "model": "X1"}),
        SourceValues(2, 90, T0, {"hostname": "web-01", "os": "", "ip_addresses": ()}),
        SourceValues(3, 50, T0 + timedelta(days=2), {"os": "Debian", "ip_addresses": ("10.0.0.1",)}),
        SourceValues(4, 50, None, {"model": "X2", "tags": ["a"]}),
    ]
    shown = reconcile(sources)
    assert shown["hostname"] == ("web-01", 2)  # most trusted
    assert shown["os"] == ("Debian", 3)  # source 2 reported nothing; 1 and 3 tie on trust, 3 is newer
    assert shown["model"] == ("X1", 1)  # None counts as oldest
    assert shown["ip_addresses"] == (("10.0.0.1",), 3)
    assert shown["tags"] == (["a"], 4)
    assert "serial_number" not in shown


def test_reconcile_full_tie_goes_to_the_highest_source_id():
    shown = reconcile([SourceValues(8, 50, T0, {"os": "A"}), SourceValues(9, 50, T0, {"os": "B"})])
    assert shown["os"] == ("B", 9)


def test_reconcile_ignores_empty_values_and_unknown_attributes():
    sources = [SourceValues(1, 99, T0, {"os": None, "tags": [], "hostname": "  ", "secret": "x"})]
    assert reconcile(sources) == {}


def test_reconcile_lets_a_placeholder_win_only_when_nothing_better_exists():
    trusted = SourceValues(1, 90, T0, {"serial_number": "TO BE FILLED BY O.E.M.", "ip_addresses": ("127.0.0.1",)})
    other = SourceValues(2, 10, T0, {"serial_number": "SN-REAL", "ip_addresses": ("10.0.0.1",)})
    shown = reconcile([trusted, other])
    assert shown["serial_number"] == ("SN-REAL", 2)
    assert shown["ip_addresses"] == (("10.0.0.1",), 2)
    assert reconcile([trusted])["serial_number"] == ("TO BE FILLED BY O.E.M.", 1)
