"""Writing a payload mapping: the preview follows the typing, errors show next to the expression, Save keeps it."""

import json

import pytest
from playwright.sync_api import expect

from connectors.choices import PayloadFormat

SAMPLE = {
    "result": {
        "hosts": [
            {"id": 17, "name": "web-01.corp.example", "net": {"ips": ["10.0.0.5"], "mac": "00-1A-2B-3C-4D-5E"}},
            {"name": "no-id.corp.example"},
        ]
    }
}


@pytest.mark.django_db(transaction=True)
def test_type_a_mapping_see_the_preview_and_save(signed_in_page, make_connector, tmp_path):
    connector = make_connector(name="Inventory", payload_format=PayloadFormat.MAPPED)
    page = signed_in_page
    page.goto(f"/connectors/{connector.uuid}/")
    expect(page.locator("#mapping-help")).to_contain_text("No mapping yet")
    page.locator(".page-head").get_by_label(f"Actions for {connector.name}").click()
    page.locator(".page-head .menu-items").get_by_role("link", name="Payload mapping").click()
    expect(page.get_by_role("heading", name="Payload mapping", exact=True)).to_be_visible()

    page.get_by_label("Sample body (JSON)").fill(json.dumps(SAMPLE, indent=2))
    page.get_by_role("textbox", name="Records", exact=True).fill("result.hosts[]")
    page.get_by_role("textbox", name="Source key", exact=True).fill("id")
    page.get_by_label("FQDN").press_sequentially("name", delay=30)
    preview = page.locator("#mapping-preview")
    expect(preview).to_contain_text("2 records")
    expect(preview.get_by_role("row", name="17")).to_contain_text("web-01.corp.example")
    expect(preview).to_contain_text("source_key is required")

    # A syntax error shows next to its input while the other fields keep previewing.
    page.get_by_label("IP addresses").press_sequentially("net.ips[", delay=30)
    expect(page.locator("#id_ip_addresses_errors")).to_contain_text("IP addresses is not a valid JMESPath expression")
    expect(page.get_by_label("IP addresses")).to_be_focused()
    page.get_by_label("IP addresses").press("Backspace")
    expect(page.locator("#id_ip_addresses_errors")).to_be_empty()
    expect(preview.get_by_role("row", name="17")).to_contain_text("10.0.0.5")
    page.screenshot(path=tmp_path / "mapping-desktop.png", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=tmp_path / "mapping-390.png", full_page=True)
    page.screenshot(path=tmp_path / "mapping-390-top.png")
    preview.screenshot(path=tmp_path / "mapping-390-preview.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the screen
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name="Save mapping").click()
    expect(page.get_by_role("status").or_(page.locator(".messages"))).to_contain_text("Payload mapping saved")
    connector.refresh_from_db()
    assert connector.mapping["fields"] == {"source_key": "id", "fqdn": "name", "ip_addresses": "net.ips"}
    page.goto(f"/connectors/{connector.uuid}/")
    expect(page.locator("#mapping-help")).to_contain_text("result.hosts[]")
    page.screenshot(path=tmp_path / "connector-mapped.png", full_page=True)
