"""Pure tests of the payload parsers: no database, no Django (run with ``-p no:django``)."""

from __future__ import annotations

import ast
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assets.engine.records import LIST_ATTRIBUTES, SCALAR_ATTRIBUTES, AssetRecord, ParsedBatch, RecordError
from connectors.formats import (
    MAX_RECORDS_PER_DELIVERY,
    PARSERS,
    PayloadError,
    csam_connector_uuid,
    decode_json,
    parse,
    parse_csam,
    parse_native,
)
from connectors.formats import decode as parsers

#: Copies of the shared sample payloads, kept with the tests so a standalone checkout runs them too.
SAMPLES = Path(__file__).resolve().parents[1] / "samples"

NATIVE_SAMPLE = {
    "assets": [
        {
            "source_key": "cmdb-000101",
            "hostname": "web-01",
            "fqdn": "web-01.corp.example.com",
            "ip_addresses": ["10.20.0.11", "2001:db8::11"],
            "mac_addresses": ["00-1A-2B-3C-4D-5E"],
            "serial_number": "SN-7Q2X9",
            "hardware_uuid": "4c4c4544-0042-3510-8052-b7c04f4b4d31",
            "os": "Ubuntu",
            "os_version": "24.04",
            "manufacturer": "Dell Inc.",
            "model": "PowerEdge R650",
            "asset_type": "server",
            "tags": ["prod", "web"],
            "attributes": {"owner": "platform-team", "rack": "B12"},
            "last_seen": "2026-11-28T09:15:00Z",
        },
        {
            "source_key": "cmdb-000102",
            "hostname": "LAPTOP-ANNA",
            "ip_addresses": ["10.30.4.77"],
            "mac_addresses": ["a4:83:e7:12:9c:01"],
            "serial_number": "To be filled by O.E.M.",
            "os": "Windows",
            "os_version": "11 23H2",
            "asset_type": "laptop",
            "last_seen": "2026-11-28T08:01:12Z",
        },
    ],
    "deleted": ["cmdb-000077"],
}

CSAM_SAMPLE = {
    "connectorMetaData": {
        "requestId": "6f1c2a9e-5b7d-4d0e-9a51-0c3f2e8b7d10",
        "connectorUuid": "00000000-0000-0000-0000-000000000000",
        "source": "SNOW",
        "assetCount": 1,
    },
    "assetData": [
        {
            "identityAttributes": {
                "sourceNativeKey": "b4fd7c8437a2d1006e9d9a4f1f3f5a11",
                "hostName": "db-02",
                "fqdn": "db-02.corp.example.com",
                "netBiosName": "DB-02",
                "ipAddress": ["10.20.0.52"],
                "macAddress": "00:50:56:9a:11:02",
                "serialNumber": "VMware-42 1a 6b 0c 9d 3e 11 f0",
                "hardwareUuid": "421A6B0C-9D3E-11F0-8C2B-0050569A1102",
            },
            "coreAttributes": {
                "operatingSystem": "Red Hat Enterprise Linux",
                "osVersion": "9.4",
                "domain": "corp.example.com",
                "biosInfo": {"manufacturer": "VMware, Inc.", "model": "VMware7,1"},
                "networkInterfaces": [
                    {
                        "interfaceName": "ens192",
                        "macAddress": "00:50:56:9a:11:02",
                        "ipv4Address": "10.20.0.52",
                        "type": "PRIVATE",
                    }
                ],
                "softwares": [{"name": "postgresql-server", "version": "16.4"}],
                "customConnectorAttributes": {"assignmentGroup": "DBA"},
            },
            "sourceCreatedDate": "2025-03-02T10:00:00Z",
            "sourceLastUpdatedDate": "2026-11-27T22:40:00Z",
        }
    ],
}


def body(value: object) -> bytes:
    return json.dumps(value).encode()


def copy(value):
    """A fresh deep copy of test data (tests mutate their own copies)."""
    return json.loads(json.dumps(value))


def csam_body(*entries: object, meta: object = None) -> dict:
    return {"connectorMetaData": meta if meta is not None else {"requestId": "r-1"}, "assetData": list(entries)}


def csam_entry(key: str = "k-1", identity: dict | None = None, core: dict | None = None, **extra) -> dict:
    entry = {"identityAttributes": {"sourceNativeKey": key, **(identity or {})}}
    if core is not None:
        entry["coreAttributes"] = core
    entry.update(extra)
    return entry


def only_record(batch: ParsedBatch) -> AssetRecord:
    assert batch.errors == []
    assert len(batch.records) == 1
    return batch.records[0]


def only_error(batch: ParsedBatch) -> RecordError:
    assert len(batch.errors) == 1, batch.errors
    return batch.errors[0]


def native_error(**fields) -> RecordError:
    batch = parse_native({"assets": [{"source_key": "k-1", **fields}]})
    assert batch.records == []
    return only_error(batch)


# ---------------------------------------------------------------------------------------------------------------------
# The module stays pure
# ---------------------------------------------------------------------------------------------------------------------


def test_module_imports_only_stdlib_and_records():
    imported = set()
    for module in Path(parsers.__file__).parent.glob("*.py"):  # every module of the formats package
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module)
    third_party = {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names}
    # jmespath is the mapped format's expression language: a pure library that touches neither Django nor a database.
    # assets.engine.validate: the value checks every format's records go through (pure, like the whole engine).
    assert {name for name in third_party if name.split(".")[0] != "jmespath"} == {
        "assets.engine.records",
        "assets.engine.validate",
    }


def test_parsers_registry():
    from connectors.choices import PayloadFormat

    assert set(PARSERS) == set(PayloadFormat.values), "every payload format has exactly one parser"
    assert parse("native", {"source_key": "k"}) == parse_native({"source_key": "k"})
    assert parse("csam", {"assetData": []}) == parse_csam({"assetData": []})
    assert parsers.MAX_RECORDS_PER_DELIVERY == 100_000
    assert issubclass(PayloadError, ValueError)


# ---------------------------------------------------------------------------------------------------------------------
# decode_json
# ---------------------------------------------------------------------------------------------------------------------


def test_decode_json_valid_and_bom():
    assert decode_json(b'{"a": [1, "\xc3\xa9"]}') == {"a": [1, "é"]}
    assert decode_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}
    assert decode_json(bytearray(b"[1]")) == [1]
    assert decode_json(memoryview(b"[1]")) == [1]


@pytest.mark.parametrize("raw", [b'{"a": "\xff"}', b'{"a": "\xc3"}', b"\xed\xa0\x80", "[1]".encode("utf-16")])
def test_decode_json_rejects_invalid_utf8(raw):
    with pytest.raises(PayloadError) as info:
        decode_json(raw)
    assert "not valid UTF-8" in info.value.message
    assert str(info.value) == info.value.message


def test_decode_json_reports_line_and_column():
    with pytest.raises(PayloadError) as info:
        decode_json(b'{\n  "assets": [\n    {"source_key": "a",}\n  ]\n}')
    message = info.value.message
    assert message.startswith("The body is not valid JSON:")
    assert "line 3, column 23" in message


@pytest.mark.parametrize("raw", [b"", b"   \n", b"\xef\xbb\xbf"])
def test_decode_json_empty_body(raw):
    with pytest.raises(PayloadError, match="empty"):
        decode_json(raw)


@pytest.mark.parametrize("raw", [b"[NaN]", b'{"a": Infinity}', b"-Infinity", b"[1e400]", b"1" * 5000, b"{'a': 1}"])
def test_decode_json_rejects_non_standard_json(raw):
    with pytest.raises(PayloadError, match="not valid JSON"):
        decode_json(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        b'{"assets": [' + b"[" * 100_000,
    ],
    ids=["open-arrays", "balanced-arrays", "balanced-objects", "inside-assets"],
)
def test_decode_json_deep_nesting_is_a_payload_error(raw):
    with pytest.raises(PayloadError, match="nested too deeply"):
        decode_json(raw)


def test_decode_json_deep_nesting_beyond_the_interpreter_is_still_a_payload_error():
    # With the pre-scan disabled by a huge max_depth, the RecursionError fallback must still answer.
    with pytest.raises(PayloadError, match="nested too deeply"):
        decode_json(b"[" * 100_000 + b"]" * 100_000, max_depth=10**9)


def test_decode_json_depth_limit_is_exact():
    assert decode_json(b"[" * 64 + b"]" * 64, max_depth=64) is not None
    with pytest.raises(PayloadError):
        decode_json(b"[" * 65 + b"]" * 65, max_depth=64)
    assert decode_json(b'{"a": {"b": [1]}}', max_depth=3) == {"a": {"b": [1]}}
    with pytest.raises(PayloadError):
        decode_json(b'{"a": {"b": [1]}}', max_depth=2)


def test_decode_json_brackets_inside_strings_do_not_count():
    text = '["' + "[" * 1000 + '", "\\"' + "{" * 1000 + '\\\\", "", "]]"]'
    assert decode_json(text.encode()) == ["[" * 1000, '"' + "{" * 1000 + "\\", "", "]]"]


def test_decode_json_unterminated_string_is_invalid_json_not_too_deep():
    with pytest.raises(PayloadError, match="not valid JSON: Unterminated string"):
        decode_json(b'["' + b"[" * 1000)


def depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.booleans())
def test_nesting_depth_scan_matches_the_real_depth(value, ascii_only):
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert parsers._nesting_depth(raw, 0) == depth(value)
    assert decode_json(raw, max_depth=max(depth(value), 1)) == value


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(alphabet='[]{}"\\:,0a ', max_size=200).map(str.encode))
def test_decode_json_only_raises_payload_error(raw):
    try:
        decode_json(raw, max_depth=8)
    except PayloadError as exc:
        assert exc.message


# ---------------------------------------------------------------------------------------------------------------------
# Native format
# ---------------------------------------------------------------------------------------------------------------------


def test_native_sample_inline():
    batch = parse_native(copy(NATIVE_SAMPLE))
    assert batch.errors == []
    assert batch.deleted == ["cmdb-000077"]
    assert batch.request_id == ""
    web, laptop = batch.records
    assert web == AssetRecord(
        source_key="cmdb-000101",
        hostname="web-01",
        fqdn="web-01.corp.example.com",
        ip_addresses=("10.20.0.11", "2001:db8::11"),
        mac_addresses=("00-1A-2B-3C-4D-5E",),
        serial_number="SN-7Q2X9",
        hardware_uuid="4c4c4544-0042-3510-8052-b7c04f4b4d31",
        os="Ubuntu",
        os_version="24.04",
        manufacturer="Dell Inc.",
        model="PowerEdge R650",
        asset_type="server",
        tags=("prod", "web"),
        attributes={"owner": "platform-team", "rack": "B12"},
        last_seen=datetime(2026, 11, 28, 9, 15, tzinfo=UTC),
    )
    assert web.updated_at is None
    assert laptop.source_key == "cmdb-000102"
    assert laptop.serial_number == "To be filled by O.E.M."
    assert laptop.fqdn == ""
    assert laptop.tags == ()
    assert laptop.attributes == {}


def test_native_sample_file():
    data = decode_json((SAMPLES / "native-batch.json").read_bytes())
    batch = parse_native(data)
    assert batch.errors == []
    assert batch == parse_native(copy(NATIVE_SAMPLE))


def test_native_through_decode_json():
    batch = parse_native(decode_json(body(NATIVE_SAMPLE)))
    assert [record.source_key for record in batch.records] == ["cmdb-000101", "cmdb-000102"]


def test_native_single_object_form():
    asset = copy(NATIVE_SAMPLE["assets"][0])
    record = only_record(parse_native(asset))
    assert record == parse_native(copy(NATIVE_SAMPLE)).records[0]
    batch = parse_native({"hostname": "x", "source_key": 5})
    assert only_record(batch).source_key == "5"
    assert batch.deleted == []


def test_native_single_object_error_has_index_zero():
    batch = parse_native({"source_key": "k", "hostname": {"a": 1}})
    assert only_error(batch) == RecordError(
        0, "hostname", "must be a string of at most 255 characters (got an object)", "k"
    )


def test_native_single_object_with_deleted_list():
    batch = parse_native({"source_key": "k", "deleted": ["old"]})
    assert only_record(batch).source_key == "k"
    assert batch.deleted == ["old"]


def test_native_top_level_array():
    batch = parse_native(copy(NATIVE_SAMPLE["assets"]))
    assert [record.source_key for record in batch.records] == ["cmdb-000101", "cmdb-000102"]
    assert batch.deleted == []
    assert parse_native([]) == ParsedBatch()


def test_native_deletions_only():
    batch = parse_native({"deleted": ["a", 7, " b "]})
    assert batch.records == []
    assert batch.deleted == ["a", "7", "b"]
    assert batch.errors == []


def test_native_bad_deletions_are_record_errors():
    batch = parse_native({"assets": [], "deleted": ["a", "", None, {"k": 1}, True, "x" * 256, "b"]})
    assert batch.deleted == ["a", "b"]
    assert [(error.index, error.field) for error in batch.errors] == [
        (1, "deleted[1]"),
        (2, "deleted[2]"),
        (3, "deleted[3]"),
        (4, "deleted[4]"),
        (5, "deleted[5]"),
    ]
    assert batch.errors[0].message == "is required"
    assert "at most 255 characters" in batch.errors[3].message


def test_native_per_record_errors_keep_the_rest():
    data = {
        "assets": [
            {"source_key": "good-1", "hostname": "a"},
            "not an object",
            {"hostname": "no key"},
            {"source_key": "bad-ip", "ip_addresses": ["10.0.0.1", {"v": 4}]},
            {"source_key": "bad-time", "last_seen": "2026-11-28T09:15:00"},
            {"source_key": "good-2", "hostname": "b"},
            None,
        ]
    }
    batch = parse_native(data)
    assert [record.source_key for record in batch.records] == ["good-1", "good-2"]
    assert [(e.index, e.field, e.source_key) for e in batch.errors] == [
        (1, "", ""),
        (2, "source_key", ""),
        (3, "ip_addresses[1]", "bad-ip"),
        (4, "last_seen", "bad-time"),
        (6, "", ""),
    ]
    messages = [error.message for error in batch.errors]
    assert messages[0] == "each asset must be a JSON object (got a string)"
    assert messages[1] == "is required"
    assert messages[2] == "must be a string of at most 255 characters (got an object)"
    assert messages[3].startswith("is not an RFC 3339 timestamp with a timezone")
    assert messages[4] == "each asset must be a JSON object (got null)"


def test_native_unknown_and_mass_assignment_fields_are_ignored():
    plain = {"source_key": "k", "hostname": "h"}
    hostile = {
        **plain,
        "id": 1,
        "pk": 1,
        "kind": "cloud",
        "merged_into": 7,
        "asset_id": 9,
        "retired": True,
        "connector": 3,
        "created_at": "2020-01-01T00:00:00Z",
        "__class__": "x",
        "source_keys": ["other"],
        "attributes_extra": {"a": 1},
    }
    record = only_record(parse_native(hostile))
    assert record == only_record(parse_native(plain))
    assert not hasattr(record, "merged_into")
    assert record.attributes == {}


def test_native_duplicate_source_keys_are_kept():
    batch = parse_native([{"source_key": "k", "hostname": "a"}, {"source_key": "k", "hostname": "b"}])
    assert [record.hostname for record in batch.records] == ["a", "b"]


def test_native_value_normalisation():
    record = only_record(
        parse_native(
            {
                "source_key": "  k-1  ",
                "hostname": "  web-01 ",
                "fqdn": None,
                "serial_number": 12345,
                "os_version": 24.04,
                "model": "",
                "ip_addresses": "10.0.0.1",
                "mac_addresses": [" aa ", None, "", "aa", "bb", 17],
                "tags": "prod",
                "netbios_name": "Ümlaut-PC",
            }
        )
    )
    assert record.source_key == "k-1"
    assert record.hostname == "web-01"
    assert record.fqdn == ""
    assert record.serial_number == "12345"
    assert record.os_version == "24.04"
    assert record.model == ""
    assert record.ip_addresses == ("10.0.0.1",)
    assert record.mac_addresses == ("aa", "bb", "17")
    assert record.tags == ("prod",)
    assert record.netbios_name == "Ümlaut-PC"
    assert only_record(parse_native({"source_key": 42})).source_key == "42"
    assert only_record(parse_native({"source_key": "k", "ip_addresses": None})).ip_addresses == ()


def test_native_limits_are_inclusive():
    record = only_record(
        parse_native({"source_key": "k" * 255, "hostname": "h" * 255, "ip_addresses": [str(i) for i in range(256)]})
    )
    assert len(record.source_key) == 255
    assert len(record.ip_addresses) == 256


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"hostname": "h" * 256}, "hostname", "must be a string of at most 255 characters"),
        ({"os": ["Linux"]}, "os", "must be a string of at most 255 characters (got an array)"),
        ({"model": True}, "model", "must be a string of at most 255 characters (got a boolean)"),
        ({"serial_number": 10**300}, "serial_number", "must be a string of at most 255 characters"),
        ({"os_version": float("nan")}, "os_version", "must be a finite number or a string"),
        ({"tags": {"a": 1}}, "tags", "must be an array of strings (got an object)"),
        ({"tags": ["ok", ["nested"]]}, "tags[1]", "must be a string of at most 255 characters (got an array)"),
        ({"tags": ["x"] * 257}, "tags", "must be an array of at most 256 strings"),
        ({"mac_addresses": ["a", "m" * 256]}, "mac_addresses[1]", "must be a string of at most 255 characters"),
        ({"hostname": "a\x00b"}, "hostname", "must not contain NUL characters"),
        ({"hostname": "a\ud800b"}, "hostname", "contains an unpaired UTF-16 surrogate, which is not valid Unicode"),
        ({"attributes": ["a"]}, "attributes", "must be a JSON object (got an array)"),
        ({"attributes": {str(i): i for i in range(101)}}, "attributes", "must have at most 100 keys"),
        ({"attributes": {"note": "n" * 4097}}, "attributes.note", "must be at most 4096 characters"),
        ({"attributes": {"": 1}}, "attributes", "keys must be non-empty strings of at most 255 characters"),
        ({"attributes": {"k" * 256: 1}}, "attributes", "keys must be non-empty strings of at most 255 characters"),
        ({"attributes": {"n": float("inf")}}, "attributes.n", "contains a number that is not finite"),
        ({"attributes": {"n": [1, float("nan")]}}, "attributes.n", "must contain only JSON values"),
        ({"attributes": {"n": {1, 2}}}, "attributes.n", "must be a JSON value (got a set)"),
        ({"attributes": {"n": ["x" * 300_000]}}, "attributes.n", "is too large"),
        ({"attributes": {"n": {"deep": ["a\x00"]}}}, "attributes.n", "must not contain NUL characters"),
        ({"attributes": {"n": ["\udfff"]}}, "attributes.n", "contains an unpaired UTF-16 surrogate"),
        ({"updated_at": 1700000000}, "updated_at", "is not an RFC 3339 timestamp with a timezone"),
    ],
)
def test_native_field_errors(fields, field, message):
    error = native_error(**fields)
    assert error.index == 0
    assert error.field == field
    assert error.source_key == "k-1"
    assert error.message.startswith(message)


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        (None, "source_key", "is required"),
        ("   ", "source_key", "is required"),
        ("k" * 256, "source_key", "must be a non-empty string of at most 255 characters"),
        (True, "source_key", "must be a non-empty string of at most 255 characters (got a boolean)"),
        (1.5, "source_key", "must be a non-empty string of at most 255 characters (got a number)"),
        ({"id": 1}, "source_key", "must be a non-empty string of at most 255 characters (got an object)"),
    ],
)
def test_native_source_key_errors(value, field, message):
    batch = parse_native([{"source_key": value, "hostname": "h"}])
    assert only_error(batch) == RecordError(0, field, message, "")


def test_native_surrogate_from_json_escape_is_a_record_error():
    batch = parse_native(decode_json(b'[{"source_key": "a", "hostname": "x\\ud800"}, {"source_key": "b"}]'))
    assert [record.source_key for record in batch.records] == ["b"]
    assert only_error(batch).field == "hostname"


def test_native_attributes_are_kept_as_json():
    attributes = {
        "owner": "team",
        "cost": 12.5,
        "count": 3,
        "active": False,
        "none": None,
        "nested": {"a": [1, "two", {"b": None}]},
        "unicode": "żółw",
    }
    record = only_record(parse_native({"source_key": "k", "attributes": attributes}))
    assert record.attributes == attributes
    assert record.attributes is not attributes
    assert json.loads(json.dumps(record.attributes)) == attributes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T09:15:00Z", datetime(2026, 11, 28, 9, 15, tzinfo=UTC)),
        ("2026-11-28t09:15:00z", datetime(2026, 11, 28, 9, 15, tzinfo=UTC)),
        ("2026-11-28T11:15:00+02:00", datetime(2026, 11, 28, 9, 15, tzinfo=UTC)),
        ("2026-11-28T04:15:00-05:00", datetime(2026, 11, 28, 9, 15, tzinfo=UTC)),
        ("2026-11-28T09:15:00.123456Z", datetime(2026, 11, 28, 9, 15, 0, 123456, tzinfo=UTC)),
        ("2026-11-28T09:15:00.1Z", datetime(2026, 11, 28, 9, 15, 0, 100000, tzinfo=UTC)),
        ("2026-11-28T09:15:00.000+0000", datetime(2026, 11, 28, 9, 15, tzinfo=UTC)),
        ("2026-11-28 09:15:00+00:00", datetime(2026, 11, 28, 9, 15, tzinfo=UTC)),
        ("  2026-11-28T09:15:00Z ", datetime(2026, 11, 28, 9, 15, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_native_timestamps_with_timezone(text, expected):
    record = only_record(parse_native({"source_key": "k", "last_seen": text, "updated_at": text}))
    assert record.last_seen == expected
    assert record.updated_at == expected
    if expected is not None:
        assert record.last_seen.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-28T09:15:00",  # naive
        "2026-11-28",
        "2026-11-28T09:15Z",
        "28/11/2026 09:15:00 +00:00",
        "2026-13-01T00:00:00Z",
        "2026-11-28T25:00:00Z",
        "2026-11-28T09:15:00+24:00",
        "2026-11-28T09:15:00 UTC",
        "0001-01-01T00:00:00+01:00",
        "\uff12\uff10\uff12\uff16-11-28T09:15:00Z",  # fullwidth digits
        "2026-11-28T09:15:00Z junk",
    ],
)
def test_native_timestamps_without_timezone_or_invalid(text):
    error = native_error(last_seen=text)
    assert error.field == "last_seen"
    assert error.message.startswith("is not an RFC 3339 timestamp with a timezone")


def test_native_updated_at_and_last_seen_are_separate():
    record = only_record(parse_native({"source_key": "k", "last_seen": "2026-11-28T09:15:00Z"}))
    assert record.updated_at is None
    record = only_record(parse_native({"source_key": "k", "updated_at": "2026-11-28T09:15:00Z"}))
    assert record.last_seen is None
    assert record.updated_at == datetime(2026, 11, 28, 9, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ("assets", "", "The body is a string"),
        (12, "", "The body is a number"),
        (None, "", "The body is null"),
        (True, "", "The body is a boolean"),
        ({}, "", "The body has no assets"),
        ({"hostname": "x"}, "", "The body has no assets"),
        ({"assets": {"source_key": "a"}}, "assets", '"assets" must be an array of asset objects (got an object)'),
        ({"assets": None}, "assets", '"assets" must be an array'),
        ({"assets": [], "deleted": "a"}, "deleted", '"deleted" must be an array of source_key strings'),
        ({"deleted": None}, "deleted", '"deleted" must be an array'),
        ({"source_key": "k", "deleted": True}, "deleted", '"deleted" must be an array'),
    ],
)
def test_native_payload_errors(data, field, fragment):
    with pytest.raises(PayloadError) as info:
        parse_native(data)
    assert info.value.field == field
    assert fragment in info.value.message
    assert info.value.message.endswith(".")


def test_native_too_many_records():
    with pytest.raises(PayloadError, match="at most 100000"):
        parse_native([{}] * (MAX_RECORDS_PER_DELIVERY + 1))
    with pytest.raises(PayloadError):
        parse_native({"assets": [{}] * MAX_RECORDS_PER_DELIVERY, "deleted": ["x"]})


def test_native_record_limit_is_inclusive(monkeypatch):
    monkeypatch.setattr(parsers, "MAX_RECORDS_PER_DELIVERY", 3)
    assert len(parse_native([{"source_key": str(i)} for i in range(3)]).records) == 3
    with pytest.raises(PayloadError):
        parse_native([{"source_key": str(i)} for i in range(4)])


def test_native_parsing_does_not_mutate_the_input():
    data = copy(NATIVE_SAMPLE)
    parse_native(data)
    assert data == NATIVE_SAMPLE


# ---------------------------------------------------------------------------------------------------------------------
# CSAM format
# ---------------------------------------------------------------------------------------------------------------------


def test_csam_sample_inline():
    batch = parse_csam(copy(CSAM_SAMPLE))
    assert batch.request_id == "6f1c2a9e-5b7d-4d0e-9a51-0c3f2e8b7d10"
    assert batch.deleted == []
    record = only_record(batch)
    assert record == AssetRecord(
        source_key="b4fd7c8437a2d1006e9d9a4f1f3f5a11",
        hostname="db-02",
        fqdn="db-02.corp.example.com",
        netbios_name="DB-02",
        ip_addresses=("10.20.0.52",),
        mac_addresses=("00:50:56:9a:11:02",),
        serial_number="VMware-42 1a 6b 0c 9d 3e 11 f0",
        hardware_uuid="421A6B0C-9D3E-11F0-8C2B-0050569A1102",
        os="Red Hat Enterprise Linux",
        os_version="9.4",
        manufacturer="VMware, Inc.",
        model="VMware7,1",
        attributes={
            "assignmentGroup": "DBA",
            "csam.domain": "corp.example.com",
            "csam.networkInterfaces": [
                {
                    "interfaceName": "ens192",
                    "macAddress": "00:50:56:9a:11:02",
                    "ipv4Address": "10.20.0.52",
                    "type": "PRIVATE",
                }
            ],
            "csam.softwares": [{"name": "postgresql-server", "version": "16.4"}],
            "csam.sourceCreatedDate": "2025-03-02T10:00:00Z",
        },
        updated_at=datetime(2026, 11, 27, 22, 40, tzinfo=UTC),
        last_seen=datetime(2026, 11, 27, 22, 40, tzinfo=UTC),
    )


def test_csam_sample_file():
    data = decode_json((SAMPLES / "csam-sync.json").read_bytes())
    batch = parse_csam(data)
    assert batch.errors == []
    assert batch.request_id == "6f1c2a9e-5b7d-4d0e-9a51-0c3f2e8b7d10"
    assert batch == parse_csam(copy(CSAM_SAMPLE))
    assert csam_connector_uuid(data) == "00000000-0000-0000-0000-000000000000"


def test_csam_request_id():
    assert parse_csam(csam_body()).request_id == "r-1"
    assert parse_csam({"assetData": []}).request_id == ""
    assert parse_csam(csam_body(meta={"requestId": None})).request_id == ""
    assert parse_csam(csam_body(meta={"requestId": 123})).request_id == "123"
    assert parse_csam(csam_body(meta={"requestId": "  abc "})).request_id == "abc"
    # The whole requestId is the idempotency key, however long (the inbox stores a long one as its hash).
    assert parse_csam(csam_body(meta={"requestId": "r" * 300})).request_id == "r" * 300


@pytest.mark.parametrize("request_id", [{"a": 1}, ["r"], True, "r" * 8191])
def test_csam_bad_request_id_is_a_payload_error(request_id):
    with pytest.raises(PayloadError) as info:
        parse_csam(csam_body(meta={"requestId": request_id}))
    assert info.value.field == "connectorMetaData.requestId"
    assert info.value.message.startswith('"connectorMetaData.requestId" must be a string')


def test_csam_connector_uuid():
    assert csam_connector_uuid(CSAM_SAMPLE) == "00000000-0000-0000-0000-000000000000"
    assert csam_connector_uuid({"connectorMetaData": {"connectorUuid": "not-a-uuid"}}) == "not-a-uuid"
    assert csam_connector_uuid({"connectorMetaData": {"connectorUuid": 12}}) is None
    assert csam_connector_uuid({"connectorMetaData": {}}) is None
    assert csam_connector_uuid({"connectorMetaData": "x"}) is None
    assert csam_connector_uuid({"assetData": []}) is None
    assert csam_connector_uuid(["connectorMetaData"]) is None
    assert csam_connector_uuid(None) is None


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ([], "", "The body is an array"),
        ("x", "", "The body is a string"),
        ({"connectorMetaData": "m", "assetData": []}, "connectorMetaData", '"connectorMetaData" must be a JSON object'),
        ({"connectorMetaData": [], "assetData": []}, "connectorMetaData", "must be a JSON object (got an array)"),
        ({"connectorMetaData": {}}, "assetData", 'The body has no "assetData"'),
        ({"connectorMetaData": {}, "assetData": {}}, "assetData", '"assetData" must be an array'),
        ({"connectorMetaData": {}, "assetData": None}, "assetData", '"assetData" must be an array'),
        ({"assets": []}, "assetData", 'The body has no "assetData"'),
    ],
)
def test_csam_payload_errors(data, field, fragment):
    with pytest.raises(PayloadError) as info:
        parse_csam(data)
    assert info.value.field == field
    assert fragment in info.value.message


def test_csam_too_many_records():
    with pytest.raises(PayloadError, match="at most 100000"):
        parse_csam({"assetData": [{}] * (MAX_RECORDS_PER_DELIVERY + 1)})


def test_csam_network_interfaces_are_merged():
    entry = csam_entry(
        identity={"ipAddress": "10.0.0.1", "macAddress": ["AA:AA"]},
        core={
            "networkInterfaces": [
                {"interfaceName": "eth0", "ipv4Address": "10.0.0.1", "ipv6Address": "fe80::1", "macAddress": "AA:AA"},
                {"ipAddress": ["10.0.0.2", "10.0.0.3"], "macAddress": "BB:BB"},
                {"interfaceName": "lo"},
                {"ipv4Address": None, "ipv6Address": ["fe80::1", "fe80::2"], "macAddress": ["CC:CC", "BB:BB"]},
            ]
        },
    )
    record = only_record(parse_csam(csam_body(entry)))
    assert record.ip_addresses == ("10.0.0.1", "fe80::1", "10.0.0.2", "10.0.0.3", "fe80::2")
    assert record.mac_addresses == ("AA:AA", "BB:BB", "CC:CC")
    assert record.attributes["csam.networkInterfaces"][0]["interfaceName"] == "eth0"


def test_csam_network_interface_address_fields_of_the_connector_clients():
    """CSAM's connector clients name a NIC's IPs ``address`` / ``addressV6``; gateway and DNS are not the asset's."""
    nic = {
        "interfaceName": "ens192",
        "hostname": "db-02",
        "address": "10.20.0.52",
        "addressV6": "2001:db8::52",
        "macAddress": "00:50:56:AA:BB:CC",
        "gatewayAddress": "10.20.0.1",
        "dnsAddress": "10.20.0.2",
    }
    entry = csam_entry(identity={"hostName": "db-02"}, core={"networkInterfaces": [nic]})
    record = only_record(parse_csam(csam_body(entry)))
    assert record.ip_addresses == ("10.20.0.52", "2001:db8::52")
    assert record.mac_addresses == ("00:50:56:AA:BB:CC",)
    assert record.attributes["csam.networkInterfaces"] == [nic]


def test_csam_core_address_and_dns_name():
    entry = csam_entry(
        identity={"hostName": "db-02", "ipAddress": ["10.0.0.1"]},
        core={"address": "10.0.0.9", "dnsName": "db-02.corp.example.com", "osArchitecture": "x86_64"},
    )
    record = only_record(parse_csam(csam_body(entry)))
    assert record.ip_addresses == ("10.0.0.1", "10.0.0.9")
    assert record.fqdn == "db-02.corp.example.com"
    assert record.attributes == {"csam.osArchitecture": "x86_64"}
    given = csam_entry(identity={"fqdn": "db-02.other.org"}, core={"dnsName": "db-02.corp.example.com"})
    assert only_record(parse_csam(csam_body(given))).fqdn == "db-02.other.org"


def test_csam_identity_keys_without_a_column_are_kept():
    identity = {"netBiosName": "DB-02", "networkUuid": "n-1", "qualysAssetId": 123}
    core = {"instanceUuidSource": "VMWARE", "lastLoggedOnUser": "CORP\\ana", "domainRole": "Member server"}
    record = only_record(parse_csam(csam_body(csam_entry(identity=identity, core=core))))
    assert record.netbios_name == "DB-02"
    assert record.attributes == {
        "csam.networkUuid": "n-1",
        "csam.qualysAssetId": 123,
        "csam.instanceUuidSource": "VMWARE",
        "csam.lastLoggedOnUser": "CORP\\ana",
        "csam.domainRole": "Member server",
    }


def test_csam_network_interfaces_without_identity_addresses():
    entry = csam_entry(core={"networkInterfaces": [{"ipv4Address": "10.1.1.1", "macAddress": "00:11"}]})
    record = only_record(parse_csam(csam_body(entry)))
    assert record.ip_addresses == ("10.1.1.1",)
    assert record.mac_addresses == ("00:11",)


@pytest.mark.parametrize(
    ("core", "field", "message"),
    [
        ({"networkInterfaces": "eth0"}, "coreAttributes.networkInterfaces", "must be an array of objects"),
        ({"networkInterfaces": [{}, "eth1"]}, "coreAttributes.networkInterfaces[1]", "must be a JSON object"),
        (
            {"networkInterfaces": [{"ipv4Address": {"a": 1}}]},
            "coreAttributes.networkInterfaces[0].ipv4Address",
            "must be an array of strings",
        ),
        (
            {"networkInterfaces": [{"macAddress": ["ok", 1.5, True]}]},
            "coreAttributes.networkInterfaces[0].macAddress[2]",
            "must be a string of at most 255 characters (got a boolean)",
        ),
        (
            {
                "networkInterfaces": [{"ipAddress": [f"10.0.{i // 250}.{i % 250}" for i in range(200)]}] * 2
                + [{"ipAddress": [f"10.9.{i // 250}.{i % 250}" for i in range(100)]}]
            },
            "coreAttributes.networkInterfaces",
            "adds up to more than 256 IP addresses",
        ),
        ({"biosInfo": "VMware"}, "coreAttributes.biosInfo", "must be a JSON object (got a string)"),
        ({"biosInfo": {"manufacturer": ["x"]}}, "coreAttributes.biosInfo.manufacturer", "must be a string"),
        ({"operatingSystem": {"name": "Linux"}}, "coreAttributes.operatingSystem", "must be a string"),
        ({"tags": [{"value": "x"}]}, "coreAttributes.tags[0].name", "is required"),
        ({"tags": ["a", ["b"]]}, "coreAttributes.tags[1]", 'must be a string or an object with a "name" string'),
        ({"customConnectorAttributes": "x"}, "coreAttributes.customConnectorAttributes", "must be a JSON object"),
        (
            {"customConnectorAttributes": {"note": "n" * 5000}},
            "coreAttributes.customConnectorAttributes.note",
            "must be at most 4096",
        ),
        ({"softwares": [{"name": "x" * 1000}] * 300}, "coreAttributes.softwares", "is too large"),
        ({"lastScanDate": "yesterday"}, "coreAttributes.lastScanDate", "is not an RFC 3339 timestamp"),
    ],
)
def test_csam_core_errors(core, field, message):
    batch = parse_csam(csam_body(csam_entry("good"), csam_entry("bad", core=core)))
    assert [record.source_key for record in batch.records] == ["good"]
    error = only_error(batch)
    assert error.index == 1
    assert error.field == f"assetData[1].{field}"
    assert error.source_key == "bad"
    assert error.message.startswith(message)


def test_csam_per_record_errors_keep_the_rest():
    data = csam_body(
        csam_entry("k-0"),
        "not an object",
        {"coreAttributes": {"operatingSystem": "Linux"}},
        {"identityAttributes": {"hostName": "no-key", "qualysAssetId": 1}},
        csam_entry("k-4", identity={"serialNumber": {"sn": 1}}),
        {"identityAttributes": ["k"]},
        csam_entry("k-6", sourceLastUpdatedDate="2026-11-27T22:40:00"),
        csam_entry("k-7", core="Linux"),
        csam_entry("k-8"),
    )
    batch = parse_csam(data)
    assert [record.source_key for record in batch.records] == ["k-0", "k-8"]
    assert [(e.index, e.field, e.message, e.source_key) for e in batch.errors] == [
        (1, "assetData[1]", "must be a JSON object (got a string)", ""),
        (2, "assetData[2].identityAttributes.sourceNativeKey", "is required", ""),
        (3, "assetData[3].identityAttributes.sourceNativeKey", "is required", ""),
        (
            4,
            "assetData[4].identityAttributes.serialNumber",
            "must be a string of at most 255 characters (got an object)",
            "k-4",
        ),
        (5, "assetData[5].identityAttributes", "must be a JSON object (got an array)", ""),
        (
            6,
            "assetData[6].sourceLastUpdatedDate",
            'is not an RFC 3339 timestamp with a timezone (for example "2026-11-28T09:15:00Z")',
            "k-6",
        ),
        (7, "assetData[7].coreAttributes", "must be a JSON object (got a string)", "k-7"),
    ]


def test_csam_fqdn_from_domain():
    def fqdn(identity, domain):
        return only_record(parse_csam(csam_body(csam_entry(identity=identity, core={"domain": domain})))).fqdn

    assert fqdn({"hostName": "db-02"}, "corp.example.com") == "db-02.corp.example.com"
    assert fqdn({"hostName": "db-02"}, ".corp.example.com.") == "db-02.corp.example.com"
    assert fqdn({"hostName": "DB-02.Corp.Example.com"}, "corp.example.com") == "DB-02.Corp.Example.com"
    assert fqdn({"hostName": "db-02", "fqdn": "db-02.other.org"}, "corp.example.com") == "db-02.other.org"
    assert fqdn({"netBiosName": "DB-02"}, "corp.example.com") == ""
    assert fqdn({"hostName": "db-02"}, None) == ""
    assert fqdn({"hostName": "h" * 250}, "example.com") == ""  # too long to combine: left empty
    record = only_record(parse_csam(csam_body(csam_entry(identity={"hostName": "a"}, core={"domain": "b.c"}))))
    assert record.attributes == {"csam.domain": "b.c"}


def test_csam_core_mapping_and_fallbacks():
    entry = csam_entry(
        identity={"instanceUuid": "i-0abc", "qualysAssetId": 12345, "futureKey": "x"},
        core={
            "provider": "AWS",
            "type": "VM",
            "manufacturer": "Direct Inc.",
            "biosInfo": {"manufacturer": "Bios Inc.", "model": "Bios Model", "version": "1.2"},
            "tags": ["prod", {"name": "web"}, {"name": "prod"}, "  "],
            "cpuCount": 4,
            "timeZone": "UTC",
        },
    )
    record = only_record(parse_csam(csam_body(entry)))
    assert record.cloud_instance_id == "i-0abc"
    assert record.cloud_provider == "AWS"
    assert record.asset_type == "VM"
    assert record.manufacturer == "Direct Inc."
    assert record.model == "Bios Model"
    assert record.tags == ("prod", "web")
    assert record.attributes == {
        "csam.qualysAssetId": 12345,
        "csam.futureKey": "x",
        "csam.biosInfo": {"version": "1.2"},
        "csam.cpuCount": 4,
        "csam.timeZone": "UTC",
    }

    preferred = csam_entry(core={"cloudProvider": "Azure", "provider": "AWS", "assetType": "Server", "type": "VM"})
    record = only_record(parse_csam(csam_body(preferred)))
    assert (record.cloud_provider, record.asset_type) == ("Azure", "Server")
    empty_preferred = csam_entry(
        core={"cloudProvider": "", "provider": "GCP", "model": None, "biosInfo": {"model": "m"}}
    )
    record = only_record(parse_csam(csam_body(empty_preferred)))
    assert (record.cloud_provider, record.model) == ("GCP", "m")


def test_csam_minimal_entry():
    record = only_record(parse_csam({"assetData": [{"identityAttributes": {"sourceNativeKey": 77}}]}))
    assert record == AssetRecord(source_key="77")


def test_csam_timestamps():
    def times(entry):
        record = only_record(parse_csam(csam_body(entry)))
        return record.updated_at, record.last_seen

    updated = datetime(2026, 11, 27, 22, 40, tzinfo=UTC)
    scanned = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    assert times(csam_entry(sourceLastUpdatedDate="2026-11-27T22:40:00Z")) == (updated, updated)
    assert times(csam_entry(sourceLastUpdatedDate="2026-11-28T00:40:00+02:00")) == (updated, updated)
    assert times(
        csam_entry(sourceLastUpdatedDate="2026-11-27T22:40:00Z", core={"lastScanDate": "2026-11-28T01:00:00Z"})
    ) == (updated, scanned)
    assert times(
        csam_entry(
            sourceLastUpdatedDate="2026-11-27T22:40:00Z",
            core={"lastSeen": "2026-11-28T01:00:00Z", "lastScanDate": "2020-01-01T00:00:00Z"},
        )
    ) == (updated, scanned)
    assert times(csam_entry(sourceLastUpdatedDate="2026-11-27T22:40:00Z", lastSeen="2026-11-28T01:00:00Z")) == (
        updated,
        scanned,
    )
    assert times(csam_entry()) == (None, None)
    record = only_record(parse_csam(csam_body(csam_entry(sourceCreatedDate="2025-03-02T10:00:00Z", lastSeen=None))))
    assert record.attributes == {"csam.sourceCreatedDate": "2025-03-02T10:00:00Z"}


def test_csam_custom_attributes_merge_and_namespacing():
    entry = csam_entry(
        identity={"qualysAssetId": 9},
        core={"customConnectorAttributes": {"owner": "dba", "csam.qualysAssetId": "spoofed"}, "softwares": []},
        extraTopLevel={"a": 1},
    )
    record = only_record(parse_csam(csam_body(entry)))
    assert record.attributes == {
        "owner": "dba",
        "csam.qualysAssetId": 9,
        "csam.softwares": [],
        "csam.extraTopLevel": {"a": 1},
    }


def test_csam_attribute_count_limit():
    custom = {f"k{i}": i for i in range(99)}
    ok = csam_entry(core={"customConnectorAttributes": custom, "domain": "d"})
    assert len(only_record(parse_csam(csam_body(ok))).attributes) == 100
    too_many = csam_entry("k", core={"customConnectorAttributes": custom, "domain": "d", "cpuCount": 2})
    error = only_error(parse_csam(csam_body(too_many)))
    assert error.field == "assetData[0]"
    assert error.message.startswith("has more than 100 attributes")


def test_csam_through_decode_json():
    raw = body(CSAM_SAMPLE)
    data = decode_json(raw)
    assert csam_connector_uuid(data) == "00000000-0000-0000-0000-000000000000"
    assert parse_csam(data) == parse_csam(copy(CSAM_SAMPLE))


def test_csam_parsing_does_not_mutate_the_input():
    data = copy(CSAM_SAMPLE)
    parse_csam(data)
    assert data == CSAM_SAMPLE


# ---------------------------------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------------------------------

any_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities included: parse_* may be handed any Python value
    | st.text(max_size=300),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=6),
    max_leaves=60,
)
native_keys = st.sampled_from(
    [
        "source_key",
        *SCALAR_ATTRIBUTES,
        *LIST_ATTRIBUTES,
        "attributes",
        "last_seen",
        "updated_at",
        "id",
        "merged_into",
    ]
)
timestamps = st.datetimes(timezones=st.none() | st.timezones()).map(lambda value: value.isoformat())
native_values = any_json | timestamps | st.integers(min_value=-5, max_value=5) | st.text(max_size=5)
native_assets = st.dictionaries(native_keys, native_values, max_size=8)
native_bodies = (
    any_json
    | native_assets
    | st.lists(native_assets | any_json, max_size=6)
    | st.fixed_dictionaries(
        {"assets": st.lists(native_assets | any_json, max_size=6)},
        optional={"deleted": st.lists(any_json, max_size=6) | any_json},
    )
)


def check_batch(batch: ParsedBatch) -> None:
    assert isinstance(batch, ParsedBatch)
    for record in batch.records:
        assert isinstance(record, AssetRecord)
        assert isinstance(record.source_key, str)
        assert 0 < len(record.source_key) <= 255
        assert record.source_key == record.source_key.strip()
        for name in SCALAR_ATTRIBUTES:
            value = getattr(record, name)
            assert isinstance(value, str)
            assert len(value) <= 255
            assert "\x00" not in value
        for name in LIST_ATTRIBUTES:
            values = getattr(record, name)
            assert isinstance(values, tuple)
            assert len(values) <= 256
            assert all(isinstance(value, str) and 0 < len(value) <= 255 for value in values)
        assert isinstance(record.attributes, dict)
        assert len(record.attributes) <= 100
        json.dumps(record.attributes, allow_nan=False).encode()
        for moment in (record.updated_at, record.last_seen):
            assert moment is None or moment.utcoffset() == timedelta(0)
    for error in batch.errors:
        assert isinstance(error, RecordError)
        assert error.index >= 0
        assert isinstance(error.field, str)
        assert error.message
    for key in batch.deleted:
        assert isinstance(key, str)
        assert 0 < len(key) <= 255


@settings(max_examples=250, deadline=None)
@given(native_bodies)
def test_parse_native_only_raises_payload_error(data):
    try:
        batch = parse_native(data)
    except PayloadError as exc:
        assert exc.message
        return
    check_batch(batch)
    if isinstance(data, list):
        items = data
    elif "assets" in data:
        items = data["assets"]
    else:
        items = [data] if "source_key" in data else []
    asset_errors = [error for error in batch.errors if not error.field.startswith("deleted[")]
    assert len(batch.records) + len(asset_errors) == len(items)
    assert len({error.index for error in asset_errors}) == len(asset_errors)


csam_identity = st.dictionaries(
    st.sampled_from(
        [
            "sourceNativeKey",
            "hostName",
            "fqdn",
            "netBiosName",
            "ipAddress",
            "macAddress",
            "serialNumber",
            "qualysAssetId",
        ]
    ),
    native_values,
    max_size=6,
)
csam_core = st.dictionaries(
    st.sampled_from(
        [
            "operatingSystem",
            "biosInfo",
            "networkInterfaces",
            "domain",
            "tags",
            "customConnectorAttributes",
            "provider",
            "lastScanDate",
            "softwares",
        ]
    ),
    any_json | st.lists(st.dictionaries(st.sampled_from(["ipv4Address", "macAddress", "name"]), native_values)),
    max_size=6,
)
csam_entries = st.fixed_dictionaries(
    {"identityAttributes": csam_identity},
    optional={"coreAttributes": csam_core | any_json, "sourceLastUpdatedDate": timestamps | any_json},
)
csam_bodies = any_json | st.fixed_dictionaries(
    {"assetData": st.lists(csam_entries | any_json, max_size=5)},
    optional={"connectorMetaData": st.fixed_dictionaries({}, optional={"requestId": any_json}) | any_json},
)


@settings(max_examples=250, deadline=None)
@given(csam_bodies)
def test_parse_csam_only_raises_payload_error(data):
    try:
        batch = parse_csam(data)
    except PayloadError as exc:
        assert exc.message
        return
    check_batch(batch)
    assert len(batch.records) + len(batch.errors) == len(data["assetData"])
    assert all(error.field.startswith(f"assetData[{error.index}]") for error in batch.errors)
    uuid = csam_connector_uuid(data)
    assert uuid is None or isinstance(uuid, str)
