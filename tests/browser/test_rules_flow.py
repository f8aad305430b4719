"""Tuning a connector's identification rules: toggles and moves are saved at once and survive a reload."""

import pytest
from playwright.sync_api import expect


def rule_names(page) -> list[str]:
    return page.locator("#rule-list li .name strong").all_inner_texts()


@pytest.mark.django_db(transaction=True)
def test_turn_a_rule_off_and_move_another_up(signed_in_page, connector, tmp_path):
    page = signed_in_page
    page.goto(f"/connectors/{connector.uuid}/")
    page.locator(".page-head").get_by_label(f"Actions for {connector.name}").click()
    page.locator(".page-head .menu-items").get_by_role("link", name="Asset Identification Rules").click()
    expect(page.get_by_role("heading", name="Asset Identification Rules")).to_be_visible()
    assert rule_names(page)[:5] == [
        "Source native key",
        "Serial number",
        "Hardware UUID",
        "Cloud instance ID",
        "MAC address",
    ]

    serial = page.get_by_role("switch", name="Required: Serial number")
    expect(serial).to_have_attribute("aria-checked", "true")
    serial.click()
    expect(page.get_by_role("switch", name="Required: Serial number")).to_have_attribute("aria-checked", "false")
    expect(page.get_by_role("switch", name="Required: Serial number")).to_be_focused()
    saved = page.locator("#rule-list").get_by_role("status")
    expect(saved).to_be_visible()
    expect(saved).to_have_text("✓ Saved: Serial number is now off.")

    page.get_by_role("button", name="Move MAC address up").click()
    expect(page.locator("#rule-list li").nth(3)).to_contain_text("MAC address")
    expect(page.get_by_role("button", name="Move MAC address up")).to_be_focused()
    # Keyboard: Enter on the focused button moves it again.
    page.keyboard.press("Enter")
    expect(page.locator("#rule-list li").nth(2)).to_contain_text("MAC address")
    page.screenshot(path=tmp_path / "rules.png", full_page=True)

    page.reload()
    assert rule_names(page)[:5] == [
        "Source native key",
        "Serial number",
        "MAC address",
        "Hardware UUID",
        "Cloud instance ID",
    ]
    expect(page.get_by_role("switch", name="Required: Serial number")).to_have_attribute("aria-checked", "false")


@pytest.mark.django_db(transaction=True)
def test_refusal_shows_next_to_the_list_and_preview_answers(signed_in_page, connector, tmp_path):
    page = signed_in_page
    connector.rule_selection.filter(rule__is_system=False).exclude(rule__name="FQDN").update(enabled=False)
    page.goto(f"/connectors/{connector.uuid}/rules/")
    page.get_by_role("switch", name="Required: FQDN").click()
    expect(page.get_by_role("alert")).to_contain_text("At least one identification rule")
    expect(page.get_by_role("switch", name="Required: FQDN")).to_have_attribute("aria-checked", "true")

    page.get_by_label("Record (JSON)").fill('{"source_key": "k-1", "fqdn": "web-01.corp.example.com"}')
    page.get_by_role("button", name="Preview identification").click()
    expect(page.locator(".preview-result")).to_contain_text("Created")
    page.screenshot(path=tmp_path / "refusal-and-preview.png", full_page=True)
