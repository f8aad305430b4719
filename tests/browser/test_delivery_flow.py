"""Send test delivery, watch it being processed by a real worker without reloading, then find the test asset."""

import re

import pytest
from playwright.sync_api import expect

from connectors.models import Delivery

pytestmark = pytest.mark.slow


@pytest.mark.django_db(transaction=True)
def test_send_a_test_delivery_and_watch_it_reach_the_inventory(signed_in_page, connector, start_worker, tmp_path):
    page = signed_in_page

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connectors").click()
    page.get_by_role("link", name=connector.name, exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(connector.name)
    expect(page.get_by_text("No delivery yet.")).to_be_visible()
    page.screenshot(path=tmp_path / "connector.png", full_page=True)

    page.get_by_role("button", name="Send test delivery").click()
    delivery = Delivery.objects.get(connector=connector)
    expect(page).to_have_url(re.compile(rf"/deliveries/{delivery.uuid}/$"))
    expect(page.get_by_text("Test delivery queued; it appears in the inventory once processed.")).to_be_visible()
    assert delivery.is_test

    # No worker runs yet: the delivery waits, and its page polls for news.
    status = page.locator("#delivery-status")
    expect(status).to_have_text("Queued")
    expect(page.locator("#delivery-live")).to_have_attribute("hx-trigger", "every 2s")
    expect(page.get_by_text("Stored and waiting for a worker")).to_be_visible()
    page.screenshot(path=tmp_path / "delivery-queued.png", full_page=True)

    # Once a worker runs, the status card updates itself: the page is never reloaded, so this marker survives.
    page.evaluate("window.stillTheSamePage = true")
    worker = start_worker()
    expect(status).to_have_text("Processed", timeout=90_000)
    assert page.evaluate("window.stillTheSamePage") is True, f"page reloaded (worker log: {worker.log_path})"
    expect(page.get_by_text("This page updates itself")).to_have_count(0)
    expect(page.locator("#delivery-live")).not_to_have_attribute("hx-trigger", "every 2s")  # polling stopped
    decisions = page.locator("#decisions")
    expect(decisions).to_contain_text("connector-test-asset")
    expect(decisions.get_by_role("link", name="connector-test-01")).to_be_visible()
    expect(page.locator(".stats")).to_contain_text("Created")
    expect(page.locator("pre.body-preview")).to_contain_text('"hostname": "connector-test-01"')
    page.screenshot(path=tmp_path / "delivery-processed.png", full_page=True)

    # The delivery log shows it, with the test flag and its counts.
    page.get_by_role("link", name="All deliveries").click()
    row = page.locator("table.deliveries tbody tr").first
    expect(row).to_contain_text("Processed")
    expect(row.locator(".badge.info")).to_have_text("test")
    page.screenshot(path=tmp_path / "delivery-log.png", full_page=True)
    page.get_by_label("Status").select_option("rejected")  # filters in place, keeping a shareable URL
    expect(page.get_by_text("No delivery matches these filters")).to_be_visible()
    expect(page).to_have_url(re.compile(r"status=rejected"))
    page.get_by_label("Status").select_option("")
    expect(page.locator("table.deliveries tbody tr")).to_have_count(1)

    # Connector → Actions → View Assets in CSAM lists the test asset.
    page.locator(".page-head").get_by_role("link", name="Back to the connector").click()
    page.locator(".page-head").get_by_text("Actions").click()
    page.get_by_role("link", name="View Assets in CSAM").click()
    expect(page).to_have_url(re.compile(rf"/csam/assets/\?connector={connector.uuid}"))
    expect(page.locator("table.assets")).to_contain_text("connector-test-01")
    page.screenshot(path=tmp_path / "assets.png", full_page=True)
