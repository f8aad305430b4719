"""Pure tests of the mapped payload format: no database, no Django."""

from __future__ import annotations

import pytest

from assets.engine.records import RecordError
from connectors.formats import PayloadError, parse, parse_native
from connectors.formats.mapped import MAPPED_FIELDS, MappingError, clean_mapping, example_body, parse_mapped
from connectors.formats.samples import sample_record

HOSTS_MAPPING = {
    "records": "result.hosts[]",
    "deleted": "result.removed",
    "fields": {
        "source_key": "id",
        "hostname": "name",
        "ip_addresses": "net.ips",
        "mac_addresses": "net.mac",
        "serial_number": "hw.serial",
        "tags": "labels",
        "attributes": "{site: site.name, owner: owner}",
        "updated_at": "changed",
    },
}
HOST = {
    "id": 17,
    "name": "web-01.corp.example",
    "net": {"ips": ["10.0.0.5"], "mac": "00-1A-2B-3C-4D-5E"},
    "hw": {"serial": "SN1"},
    "labels": "prod",
    "site": {"name": "Paris"},
    "owner": "ops",
    "changed": "2026-11-28T09:15:00Z",
}


def test_nested_records_become_native_records():
    batch = parse_mapped({"result": {"hosts": [HOST]}}, HOSTS_MAPPING)
    assert not batch.errors
    (record,) = batch.records
    assert record.source_key == "17"
    assert record.hostname == "web-01.corp.example"
    assert record.ip_addresses == ("10.0.0.5",)
    assert record.mac_addresses == ("00-1A-2B-3C-4D-5E",)  # a scalar becomes a one-element list
    assert record.serial_number == "SN1"
    assert record.tags == ("prod",)
    assert record.attributes == {"site": "Paris", "owner": "ops"}
    assert record.updated_at.isoformat() == "2026-11-28T09:15:00+00:00"


def test_same_record_as_the_native_body_with_the_same_values():
    native = {
        "source_key": 17,
        "hostname": "web-01.corp.example",
        "ip_addresses": ["10.0.0.5"],
        "mac_addresses": "00-1A-2B-3C-4D-5E",
        "serial_number": "SN1",
        "tags": "prod",
        "attributes": {"site": "Paris", "owner": "ops"},
        "updated_at": "2026-11-28T09:15:00Z",
    }
    assert parse_mapped({"result": {"hosts": [HOST]}}, HOSTS_MAPPING) == parse_native(native)


def test_at_selects_a_top_level_array_and_list_fields_take_lists_or_scalars():
    mapping = {"records": "@", "fields": {"source_key": "key", "ip_addresses": "ips", "tags": "[team, env]"}}
    batch = parse_mapped([{"key": "a", "ips": "10.0.0.1", "team": "web", "env": None}, {"key": "b"}], mapping)
    assert [(r.source_key, r.ip_addresses, r.tags) for r in batch.records] == [
        ("a", ("10.0.0.1",), ("web",)),
        ("b", (), ()),
    ]


def test_one_object_is_one_record():
    batch = parse_mapped({"device": {"serial": "X1"}}, {"records": "device", "fields": {"source_key": "serial"}})
    assert [r.source_key for r in batch.records] == ["X1"]


def test_deleted_keys_list_or_one_key():
    mapping = {"records": "items", "deleted": "gone[].id", "fields": {"source_key": "id"}}
    batch = parse_mapped({"items": [], "gone": [{"id": "a"}, {"id": 7}]}, mapping)
    assert batch.deleted == ["a", "7"] and not batch.records
    one = parse_mapped({"gone_key": "z"}, {"records": "items", "deleted": "gone_key", "fields": {"source_key": "id"}})
    assert one.deleted == ["z"]


def test_missing_source_key_is_an_error_for_that_record_only():
    body = {"result": {"hosts": [HOST, {"name": "no-id"}, {"id": "  ", "name": "blank"}]}}
    batch = parse_mapped(body, HOSTS_MAPPING)
    assert [r.source_key for r in batch.records] == ["17"]
    assert batch.errors == [RecordError(1, "source_key", "is required"), RecordError(2, "source_key", "is required")]


def test_bad_values_are_reported_like_native():
    body = {"result": {"hosts": [{**HOST, "name": {"nested": 1}}, {**HOST, "id": 18, "changed": "yesterday"}]}}
    batch = parse_mapped(body, HOSTS_MAPPING)
    assert [(e.index, e.field, e.source_key) for e in batch.errors] == [(0, "hostname", "17"), (1, "updated_at", "18")]
    assert batch.errors[0].message == "must be a string of at most 255 characters (got an object)"


def test_a_function_failing_on_one_record_is_that_records_error():
    mapping = {"records": "@", "fields": {"source_key": "id", "hostname": "join('-', name)"}}
    batch = parse_mapped([{"id": "a", "name": 5}, {"id": "b", "name": ["web", "01"]}], mapping)
    assert [r.hostname for r in batch.records] == ["web-01"]
    (error,) = batch.errors
    assert (error.index, error.field, error.source_key) == (0, "hostname", "a")
    assert error.message.startswith("the expression failed: In function join()")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"result": {}}, r"The records expression \"result\.hosts\[\]\" selects nothing in this body"),
        ({"result": {"hosts": "x"}}, "selects nothing"),  # a projection over a string gives null
        ({"result": 5}, "selects nothing"),
    ],
)
def test_a_body_the_records_expression_cannot_use_is_a_payload_error(body, message):
    with pytest.raises(PayloadError, match=message):
        parse_mapped(body, {"records": "result.hosts[]", "fields": {"source_key": "id"}})


def test_records_selecting_a_scalar_is_a_payload_error():
    with pytest.raises(PayloadError, match="selects a string"):
        parse_mapped({"hosts": "x"}, {"records": "hosts", "fields": {"source_key": "id"}})


def test_no_mapping_or_a_broken_stored_mapping_is_a_payload_error_not_a_crash():
    with pytest.raises(PayloadError, match="no payload mapping yet"):
        parse("mapped", [{"id": 1}], mapping=None)
    with pytest.raises(PayloadError, match="cannot be used"):
        parse("mapped", [{"id": 1}], mapping={"records": "a.[", "fields": {"source_key": "id"}})


@pytest.mark.parametrize(
    ("mapping", "errors"),
    [
        ({"records": "hosts[", "fields": {"source_key": "id"}}, {"records"}),
        ({"records": "@", "fields": {"source_key": "id", "hostname": "name name"}}, {"fields.hostname"}),
        ({"records": "@", "fields": {"hostname": "name"}}, {"fields.source_key"}),
        ({"records": "@", "fields": {"source_key": "id", "colour": "c"}}, {"fields"}),
        ({"records": "@", "deleted": "'open", "fields": {"source_key": "id"}}, {"deleted"}),
        ({"records": "@", "fields": {"source_key": "nope(id)"}}, {"fields.source_key"}),
        ({"records": "", "fields": {"source_key": 5}}, {"records", "fields.source_key"}),
        ({"records": "@", "fields": {"source_key": "id"}, "extra": 1}, {"mapping"}),
        ("@", {"mapping"}),
    ],
)
def test_bad_mappings_say_which_expression_is_wrong(mapping, errors):
    with pytest.raises(MappingError) as caught:
        clean_mapping(mapping)
    assert set(caught.value.errors) == errors


def test_syntax_errors_are_one_line_with_the_position():
    with pytest.raises(MappingError) as caught:
        clean_mapping({"records": "@", "fields": {"source_key": "id", "hostname": "name name"}})
    message = caught.value.errors["fields.hostname"]
    assert message == "is not a valid JMESPath expression: Unexpected token: name (at character 6)"


def test_clean_mapping_trims_and_drops_empty_expressions():
    clean = clean_mapping({"records": " @ ", "deleted": "", "fields": {"source_key": " id ", "hostname": ""}})
    assert clean == {"records": "@", "deleted": "", "fields": {"source_key": "id"}}
    assert clean_mapping({}) == {} and clean_mapping(None) == {}
    assert MAPPED_FIELDS[0] == "source_key" and "attributes" in MAPPED_FIELDS


def test_example_body_fits_the_mapping():
    body = example_body(HOSTS_MAPPING, sample_record())
    (record,) = parse_mapped(body, HOSTS_MAPPING).records
    assert record.source_key == "connector-test-asset" and record.ip_addresses == ("192.0.2.10",)
    assert example_body({"records": "@", "fields": {"source_key": "to_string(id)"}}, sample_record()) is None
    assert example_body({}, sample_record()) is None
