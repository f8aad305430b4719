"""Which strong identifiers an asset's sources disagree on: pure, no database."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from assets.engine.reconcile import SourceValues, strong_conflicts


def source(source_id: int, **attributes) -> SourceValues:
    return SourceValues(source_id, 50, None, attributes)


def test_two_real_serials_disagree():
    found = strong_conflicts([source(1, serial_number="SN-1"), source(2, serial_number="SN-2")])
    assert found == {"serial_number": [("SN-1", 1), ("SN-2", 2)]}


def test_one_source_never_conflicts():
    assert strong_conflicts([source(1, serial_number="SN-1", hardware_uuid="X")]) == {}
    assert strong_conflicts([]) == {}


def test_case_and_format_are_normalized():
    assert strong_conflicts([source(1, serial_number="sn-1"), source(2, serial_number=" SN-1 ")]) == {}
    uuids = [
        source(1, hardware_uuid="4c4c4544-0042-3510-8052-b7c04f4b4d31"),
        source(2, hardware_uuid="{4C4C4544004235108052B7C04F4B4D31}"),
    ]
    assert strong_conflicts(uuids) == {}
    assert strong_conflicts([source(1, cloud_instance_id="I-0ABC"), source(2, cloud_instance_id="i-0abc")]) == {}


def test_junk_values_never_count():
    sources = [
        source(1, serial_number="SN-1", hardware_uuid="00000000-0000-0000-0000-000000000000"),
        source(2, serial_number="To be filled by O.E.M.", hardware_uuid="4c4c4544-0042-3510-8052-b7c04f4b4d31"),
        source(3, serial_number="0", cloud_instance_id="N/A"),
        source(4, serial_number="", cloud_instance_id="i-0abc"),
    ]
    assert strong_conflicts(sources) == {}


def test_three_sources_two_agreeing_lists_every_real_value():
    sources = [
        source(7, serial_number="SN-A", os="Linux"),
        source(3, serial_number="sn-a"),
        source(5, serial_number="SN-B"),
        source(9, hostname="web-01"),
    ]
    assert strong_conflicts(sources) == {"serial_number": [("SN-A", 3), ("SN-A", 7), ("SN-B", 5)]}


def test_each_strong_kind_is_checked_and_weak_ones_are_not():
    sources = [
        source(1, serial_number="S1", hardware_uuid="4c4c4544-0042-3510-8052-b7c04f4b4d31", hostname="a"),
        source(2, serial_number="S1", hardware_uuid="4c4c4544-0042-3510-8052-b7c04f4b4d32", hostname="b"),
        source(3, cloud_instance_id="i-1", mac_addresses=["00:1a:2b:3c:4d:5e"]),
        source(4, cloud_instance_id="i-2", mac_addresses=["00:1a:2b:3c:4d:5f"]),
    ]
    assert set(strong_conflicts(sources)) == {"hardware_uuid", "cloud_instance_id"}


@given(st.lists(st.sampled_from(["SN-1", "sn-1", "SN-2", "", "N/A", "0"]), min_size=1, max_size=6))
def test_a_conflict_means_two_different_real_values(serials):
    sources = [source(index, serial_number=value) for index, value in enumerate(serials)]
    real = {value.upper() for value in serials if value.upper() in {"SN-1", "SN-2"}}
    assert bool(strong_conflicts(sources)) == (len(real) > 1)
