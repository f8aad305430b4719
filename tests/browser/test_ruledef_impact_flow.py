"""Impact of a rule definition change in a browser: from the edit form's Preview impact (keyboard only), watch the
preview finish by itself, apply it."""

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from assets import inventory
from assets.engine.records import AssetRecord
from assets.models import IdentificationRule, SourceRecord
from assets.ruledef_models import RuleImpactPreview
from assets.ruledef_previews import run_rule_preview
from assets.services import process_records

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_preview_a_definition_change_from_the_edit_form_then_apply_it(
    signed_in_page, make_connector, settings, tmp_path
):
    settings.DATA_DIR = tmp_path
    page = signed_in_page
    inventory.delete_identification_rule(IdentificationRule.objects.get(name="IP address"))
    a, b = make_connector("Alpha", trust_rank=80), make_connector("Beta", trust_rank=40)
    process_records(a, [AssetRecord("a1", hostname="web-a", ip_addresses=("10.0.0.5",), updated_at=T0)])
    process_records(b, [AssetRecord("b1", hostname="web-b", ip_addresses=("10.0.0.5",), updated_at=T0)])
    rule = IdentificationRule.objects.get(name="Hostname + IP address")

    page.goto(rule.get_absolute_url())
    page.get_by_label("2nd attribute").select_option("")
    page.get_by_label("1st attribute").select_option("ip_address")
    page.get_by_label("Name").fill("IP address only")
    button = page.get_by_role("button", name="Preview impact")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Impact of a rule change")
    expect(page.locator("#impact-status")).to_contain_text("Waiting for a worker")
    expect(page.get_by_text("Attributes: Hostname + IP address → IP address")).to_be_visible()

    run_rule_preview(RuleImpactPreview.objects.get().pk)
    expect(page.locator("#impact-status")).to_contain_text("2 records of 2 connectors re-identified", timeout=10_000)
    page.get_by_text("Records that move into another asset: 1 example").click()
    expect(page.locator("#impact-status")).to_contain_text("a1")
    page.screenshot(path=tmp_path / "rule-impact-ready.png", full_page=True)

    page.get_by_role("button", name="Apply").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Applied")).to_be_visible()
    expect(page.get_by_text("Exactly as the preview below said.")).to_be_visible()
    assert SourceRecord.objects.get(source_key="a1").asset_id == SourceRecord.objects.get(source_key="b1").asset_id
