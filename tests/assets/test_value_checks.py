"""Pure unit tests of value validation (assets.engine.validate) and the junk rules around it: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from assets.engine import EngineConfig, IdentityIndex, Outcome, RuleSpec, identify_records, normalize_record, validate
from assets.engine.identifiers import HOSTNAME, IP, MAC, normalize_hostname, normalize_mac
from assets.engine.junk import host_junk
from assets.engine.normalize import junk_only
from assets.engine.reconcile import SourceValues, reconcile, value_junk
from assets.engine.records import AssetRecord, ParsedBatch, RecordError
from assets.engine.validate import (
    ValueChecks,
    hostname_problem,
    ip_problem,
    mac_problem,
    validate_batch,
    validate_record,
)

RECEIVED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NOT_AFTER = RECEIVED + timedelta(days=1)


# --- hostnames and FQDNs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "web-01",
        "WEB-01.corp.example.com.",
        "db_backup-2",  # underscores: Windows computer names and internal zones carry them
        "_sip._tcp.example.com",
        "büro-pc.example.de",  # internationalized names are DNS names once IDNA-encoded
        "a" * 63 + ".example.com",
        "10.0.0.1",  # an address in a host-name field is junk (kept), not invalid
        "localhost",
        "(none)",  # placeholder: junk, kept
        "n/a",
        "",
    ],
)
def test_valid_or_junk_host_names_are_kept(name):
    assert hostname_problem(name) is None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("web 01", "characters no DNS name has (' ')"),
        ("John's MacBook Pro", "characters no DNS name has"),
        ("host!.example.com", "('!')"),
        ("user@host", "('@')"),
        ("web..corp.example.com", "empty label"),
        (".web", "empty label"),
        ("-web", "starts or ends with a hyphen"),
        ("web-.example.com", "starts or ends with a hyphen"),
        ("a" * 64 + ".example.com", "label longer than 63"),
        ("a." * 127 + "com", "longer than 253"),
        ("bü ro", "characters no DNS name has"),
    ],
)
def test_host_names_with_characters_no_dns_name_has_are_invalid(name, why):
    problem = hostname_problem(name)
    assert problem is not None and why in problem


# --- addresses ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["10.0.0.5", "10.0.0.5/24", "2001:db8::1", "[2001:db8::1]", "127.0.0.1", "fe80::1"])
def test_ips_that_parse_are_valid_even_when_junk(value):
    assert ip_problem(value) is None


@pytest.mark.parametrize("value", ["999.1.1.1", "10.0.0", "10.0.0.256", "hello", "10.0.0.5/99", "1.2.3.4.5"])
def test_ips_that_do_not_parse_are_invalid(value):
    assert ip_problem(value) == "is not an IP address"


@pytest.mark.parametrize(
    "value", ["00:1a:2b:3c:4d:5e", "001A.2B3C.4D5E", "00-00-00-00-00-00", "00:1a:2b:3c:4d:5e:6f:70", "001a2b3c4d5e6f70"]
)
def test_macs_of_six_or_eight_octets_are_valid(value):
    assert mac_problem(value) is None


@pytest.mark.parametrize("value", ["00:1a:2b", "00:1a:2b:3c:4d:5e:6f", "zz:zz:zz:zz:zz:zz", "001a2b3c4d", "garbage"])
def test_macs_of_the_wrong_length_are_invalid(value):
    assert "not a MAC address" in mac_problem(value)


def test_eui64_macs_are_normalized_and_junk_tested_like_eui48():
    assert normalize_mac("00-1A-2B-3C-4D-5E-6F-70") == "00:1a:2b:3c:4d:5e:6f:70"
    assert normalize_mac(normalize_mac("001a2b3c4d5e6f70")) == "00:1a:2b:3c:4d:5e:6f:70"  # idempotent
    assert value_junk("mac_addresses", "00:00:00:00:00:00:00:00") == "all-zero MAC"


# --- one record ---------------------------------------------------------------------------------------------------


def test_invalid_values_are_dropped_with_a_warning_each_and_the_rest_is_kept():
    record = AssetRecord(
        "k-1",
        hostname="web 01",
        fqdn="web-01.corp.example.com",
        ip_addresses=("10.0.0.5", "999.1.1.1", "127.0.0.1"),
        mac_addresses=("00:1a:2b", "00:1a:2b:3c:4d:5e"),
        serial_number="To be filled by O.E.M.",  # junk, not invalid: kept
        updated_at=RECEIVED + timedelta(days=3),
        last_seen=RECEIVED - timedelta(hours=1),
    )
    checked = validate_record(record, 4, NOT_AFTER)
    assert checked.hostname == ""
    assert checked.fqdn == "web-01.corp.example.com"
    assert checked.ip_addresses == ("10.0.0.5", "127.0.0.1")
    assert checked.mac_addresses == ("00:1a:2b:3c:4d:5e",)
    assert checked.serial_number == "To be filled by O.E.M."
    assert checked.updated_at is None
    assert checked.last_seen == RECEIVED - timedelta(hours=1)
    assert [(w.index, w.source_key, w.field, w.value) for w in checked.warnings] == [
        (4, "k-1", "hostname", "web 01"),
        (4, "k-1", "ip_addresses", "999.1.1.1"),
        (4, "k-1", "mac_addresses", "00:1a:2b"),
        (4, "k-1", "updated_at", (RECEIVED + timedelta(days=3)).isoformat()),
    ]
    assert all(w.message.endswith("the value was dropped") for w in checked.warnings)
    assert "more than 1 day after the delivery was received" in checked.warnings[-1].message


def test_a_valid_record_is_returned_as_is():
    record = AssetRecord("k", hostname="web-01", ip_addresses=("10.0.0.5",), updated_at=RECEIVED)
    assert validate_record(record, 0, NOT_AFTER) is record


def test_a_timestamp_within_the_tolerance_is_kept():
    record = AssetRecord("k", updated_at=RECEIVED + timedelta(hours=23))
    assert validate_record(record, 0, NOT_AFTER) is record
    assert validate_record(record, 0, RECEIVED + timedelta(hours=1), timedelta(hours=1)).updated_at is None


def test_long_values_are_cut_in_the_warning():
    checked = validate_record(AssetRecord("k", ip_addresses=("x" * 300,)), 0, NOT_AFTER)
    (warning,) = checked.warnings
    assert len(warning.value) == 100 and warning.value.endswith("…")


def test_batch_warnings_name_the_body_index_of_each_record():
    batch = ParsedBatch()
    batch.errors.append(RecordError(0, "source_key", "is required"))
    batch.add(1, AssetRecord("a", ip_addresses=("10.0.0.1",)))
    batch.add(2, AssetRecord("b", ip_addresses=("999.1.1.1",)))
    validate_batch(batch, ValueChecks(received_at=RECEIVED))
    assert [(w.index, w.source_key) for w in batch.warnings] == [(2, "b")]
    assert batch.records[1].ip_addresses == () and batch.records[1].warnings == tuple(batch.warnings)
    assert batch.warnings[0].as_dict() == {
        "index": 2,
        "source_key": "b",
        "field": "ip_addresses",
        "value": "999.1.1.1",
        "message": "is not an IP address; the value was dropped",
    }


def test_the_tolerance_is_a_setting_of_the_checks():
    batch = ParsedBatch()
    batch.add(0, AssetRecord("a", last_seen=RECEIVED + timedelta(hours=2)))
    validate_batch(batch, ValueChecks(received_at=RECEIVED, future_tolerance=timedelta(hours=1)))
    assert [w.field for w in batch.warnings] == ["last_seen"]
    assert "more than 1 hour after" in batch.warnings[0].message


# --- normalization never stores a value that does not parse ---------------------------------------------------------


def test_normalization_drops_addresses_that_do_not_parse():
    normalized = normalize_record(AssetRecord("k", ip_addresses=("999.1.1.1", "10.0.0.5"), mac_addresses=("bad",)))
    assert normalized.attributes["ip_addresses"] == ("10.0.0.5",)
    assert normalized.attributes["mac_addresses"] == ()
    assert "ip_address dropped: not an IP address '999.1.1.1'" in normalized.ignored


# --- junk-only records ------------------------------------------------------------------------------------------------

R_HOST = RuleSpec(8, "Hostname", (HOSTNAME,))
R_IP = RuleSpec(9, "IP address", (IP,))
R_MAC = RuleSpec(5, "MAC address", (MAC,))


def decide(record: AssetRecord, create=True) -> object:
    config = EngineConfig(trust_rank=50, rules=(R_MAC, R_HOST, R_IP), create_unmanaged=create, apply_default_rule=True)
    (decision,) = identify_records([record], IdentityIndex({}, {}, {}), config)
    return decision


@pytest.mark.parametrize(
    "record",
    [
        AssetRecord("k", hostname="localhost"),
        AssetRecord("k", hostname="localhost.localdomain", ip_addresses=("127.0.0.1", "fe80::1")),
        AssetRecord("k", serial_number="To be filled by O.E.M.", mac_addresses=("00:00:00:00:00:00",), os="Linux"),
        AssetRecord("k", ip_addresses=("169.254.1.1",), hardware_uuid="00000000-0000-0000-0000-000000000000"),
    ],
)
def test_a_record_whose_only_identity_is_junk_is_skipped_with_a_reason(record):
    decision = decide(record)
    assert decision.outcome is Outcome.SKIPPED
    assert decision.new_asset_key is None and decision.asset_id is None
    assert any("only identifying values are junk" in reason for reason in decision.reasons)
    assert any("ignored:" in reason for reason in decision.reasons)  # which values, listed before


@pytest.mark.parametrize(
    "record",
    [
        AssetRecord("k", hostname="localhost", ip_addresses=("10.0.0.5",)),  # one real value is enough
        AssetRecord("k", serial_number="To be filled by O.E.M.", hostname="web-01"),
        AssetRecord("k", os="Linux", model="PowerEdge"),  # no identifying value at all: its source key identifies it
    ],
)
def test_a_record_with_a_real_identity_or_none_at_all_is_still_created(record):
    assert junk_only(normalize_record(record)) is None
    assert decide(record).outcome is Outcome.CREATED


# --- reconciliation and display ------------------------------------------------------------------------------------


def test_junk_list_items_are_not_the_assets_value_while_real_ones_exist():
    only = SourceValues(1, 50, RECEIVED, {"ip_addresses": ["127.0.0.1", "10.0.0.5", "fe80::1"]})
    assert reconcile([only])["ip_addresses"] == (["10.0.0.5"], 1)
    junk = SourceValues(2, 90, RECEIVED, {"ip_addresses": ["127.0.0.1"], "mac_addresses": ["00:00:00:00:00:00"]})
    real = SourceValues(3, 10, RECEIVED, {"ip_addresses": ["10.0.0.7", "169.254.0.9"]})
    shown = reconcile([junk, real])
    assert shown["ip_addresses"] == (["10.0.0.7"], 3)  # the less trusted real address beats the trusted loopback
    assert shown["mac_addresses"] == (["00:00:00:00:00:00"], 2)  # no real one anywhere: the junk one is shown


def test_a_placeholder_serial_only_wins_when_no_source_has_a_real_one():
    trusted = SourceValues(1, 90, RECEIVED, {"serial_number": "Default string"})
    other = SourceValues(2, 10, RECEIVED, {"serial_number": "SN-123"})
    assert reconcile([trusted, other])["serial_number"] == ("SN-123", 2)
    assert reconcile([trusted])["serial_number"] == ("Default string", 1)


@pytest.mark.parametrize(
    ("attribute", "value", "note"),
    [
        ("serial_number", "To be filled by O.E.M.", "placeholder value"),
        ("ip_addresses", "127.0.0.1", "loopback address"),
        ("ip_addresses", "169.254.3.4", "link-local address"),
        ("hostname", "localhost", "placeholder host name"),
        ("mac_addresses", "00:00:00:00:00:00", "all-zero MAC"),
        ("serial_number", "SN-123", None),
        ("os", "None", None),  # descriptive attributes are never junk
    ],
)
def test_value_junk_names_why(attribute, value, note):
    assert value_junk(attribute, value) == note


def _hostname_problem_label_by_label(value):
    """The rule as the module docstring states it, checked label by label (what the one-pattern test shortcuts)."""
    name = normalize_hostname(value)
    if not name or host_junk(name) is not None:
        return None
    if len(name) > 253:
        return "too long"
    return next((problem for label in name.split(".") if (problem := validate._label_problem(label))), None)


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "A",
        "-a",
        "a-",
        "a-b",
        "_a_",
        "a" * 63,
        "a" * 64,
        "a..b",
        ".a",
        "a.",
        "a.-b",
        "a.b-",
        "web-01.corp",
        "1.2.3.4",
        "web 01",
        "web!01",
        "localhost",
        "(none)",
        "n/a",
        "bücher.example",
        "xn--bcher-kva.example",
        ".".join(["a" * 63] * 4)[:253],
        ".".join(["a" * 63] * 4)[:254],
        "web-01." + "b" * 63,
        "WEB-01.CORP.",
    ],
)
def test_the_one_pattern_shortcut_gives_the_label_by_label_answer(name):
    assert (validate.hostname_problem(name) is None) == (_hostname_problem_label_by_label(name) is None)
