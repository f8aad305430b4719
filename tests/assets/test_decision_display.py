"""Decision traces as people read them: grouped steps, labels instead of stored field names, candidates by name;
merges of same-named assets tell them apart."""

import json

import pytest

from assets.decision_display import Step, _compared, humanize, steps
from connectors.inbox import store_delivery
from connectors.worker import process_delivery
from tests.assets.factories import make_asset

pytestmark = pytest.mark.django_db


def test_steps_group_the_rules_that_could_not_decide_and_mark_the_decisive_one():
    trace = [
        "rule 'Serial number' not applicable: the record has no usable serial_number",
        "rule 'Hardware UUID' not applicable: the record has no usable hardware_uuid",
        "rule 'MAC address' found no matching asset",
        "mac_address 02:42:ac:11:00:02 ignored: shared by 40 assets (more than 25, the shared-value limit)",
        "rule 'Hostname + IP address' matched an existing asset on hostname=web-01, ip_address=10.0.0.5",
    ]
    assert steps(trace) == [
        Step("Not applicable (the record lacks what they compare): Serial number, Hardware UUID", muted=True),
        Step("No matching asset: MAC address", muted=True),
        Step("MAC address 02:42:ac:11:00:02 ignored: shared by 40 assets (more than 25, the shared-value limit)"),
        Step(
            "rule 'Hostname + IP address' matched an existing asset on Hostname=web-01, IP address=10.0.0.5",
            final=True,
        ),
    ]


def test_the_closing_summary_is_dropped_and_values_are_left_alone():
    trace = ["no rule matched: created a new unmanaged asset", "rules applied: MAC address; not applicable: FQDN"]
    assert steps(trace) == [Step("no rule matched: created a new unmanaged asset", final=True)]
    assert humanize("host hostname-01 at fqdn.example.com, no usable fqdn") == (
        "host hostname-01 at fqdn.example.com, no usable FQDN"
    )


def test_compared_keys_read_as_labelled_values():
    compared = {
        "Serial number": ["serial_number=SN-1"],
        "Hostname + IP address": ["hostname=web-01", "ip_address=10.0.0.5", "... (+3 more)"],
        "FQDN": [],
    }
    assert _compared(compared) == [
        ("Serial number", [("", "SN-1")]),
        ("Hostname + IP address", [("Hostname", "web-01"), ("IP address", "10.0.0.5"), ("", "... (+3 more)")]),
    ]


def test_delivery_page_shows_a_readable_trace_with_candidates_by_name(admin_ui, cmdb, mdm):
    existing = make_asset(cmdb, "cmdb-db", hostname="db-061", serial_number="SN-DB-061")
    body = json.dumps({"assets": [{"source_key": "mdm-db", "hostname": "db-061", "serial_number": "SN-DB-061"}]})
    delivery = store_delivery(mdm, body.encode()).delivery
    process_delivery(delivery.pk)

    page = admin_ui.get(delivery.get_absolute_url()).content.decode()
    decisions = page[page.index('id="decisions"') : page.index('id="raw-body"')]
    assert "serial_number" not in decisions and "hardware_uuid" not in decisions
    assert '<span class="muted">Serial number:</span> <span class="chip mono">SN-DB-061</span>' in decisions
    assert f'<a href="{existing.get_absolute_url()}">db-061</a>' in decisions
    assert f">{str(existing.uuid)[:8]}</span>" in decisions
    assert '<li class=" final">' in decisions


def test_a_merge_of_same_named_assets_tells_them_apart(admin_ui, cmdb, mdm):
    keep = make_asset(cmdb, "cmdb-db", hostname="db-061")
    other = make_asset(mdm, "mdm-db", hostname="db-061")
    admin_ui.post("/csam/duplicates/merge/", {"survivor": str(keep.uuid), "assets": [str(keep.uuid), str(other.uuid)]})
    page = admin_ui.get("/csam/duplicates/").content.decode()
    change = page.split('<table class="list events">')[1].split("</tr>")[1]
    assert f">{str(other.uuid)[:8]}</span>" in change and f">{str(keep.uuid)[:8]}</span>" in change
