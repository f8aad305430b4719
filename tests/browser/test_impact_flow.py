"""Rule-change impact in a browser: propose a change, watch the preview finish by itself, apply it."""

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from assets.engine.records import AssetRecord
from assets.impact_models import ImpactPreview
from assets.impact_previews import run_preview
from assets.models import SourceRecord
from assets.services import process_records

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_preview_a_rule_change_then_apply_it(signed_in_page, make_connector, tmp_path):
    page = signed_in_page
    cmdb, mdm = make_connector("CMDB", trust_rank=80), make_connector("MDM", trust_rank=40)
    process_records(cmdb, [AssetRecord("c1", hostname="web-01", serial_number="SN1", updated_at=T0)])
    process_records(mdm, [AssetRecord("m1", hostname="web-01", updated_at=T0)])

    page.goto(f"/connectors/{mdm.uuid}/rules/")
    page.get_by_role("link", name="Preview a rule change").click()
    page.get_by_label("Required: Hostname", exact=True).check()
    page.screenshot(path=tmp_path / "impact-form.png", full_page=True)
    page.get_by_role("button", name="Preview impact").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Impact of a rule change")
    expect(page.locator("#impact-status")).to_contain_text("Waiting for a worker")
    expect(page.get_by_text("Hostname: off → required")).to_be_visible()

    # A worker computes it; the page notices by itself.
    run_preview(ImpactPreview.objects.get().pk)
    expect(page.locator("#impact-status")).to_contain_text("1 record re-identified", timeout=10_000)
    page.get_by_text("Records that move into another asset: 1 example").click()
    expect(page.locator("#impact-status")).to_contain_text("m1")
    page.screenshot(path=tmp_path / "impact-ready.png", full_page=True)

    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="Applied")).to_be_visible()
    expect(page.get_by_text("Exactly as the preview below said.")).to_be_visible()
    page.screenshot(path=tmp_path / "impact-applied.png", full_page=True)
    assert SourceRecord.objects.get(source_key="m1").asset_id == SourceRecord.objects.get(source_key="c1").asset_id
