"""A full sync held by the safety limit: the admin sees the banner on the connector page and confirms it."""

import json

import pytest
from playwright.sync_api import expect

from assets.models import SourceRecord
from connectors import syncs
from connectors.formats.sync import SyncMark
from connectors.inbox import store_delivery
from connectors.models import Sync
from connectors.worker import process_delivery
from tests.connectors.helpers import asset

pytestmark = pytest.mark.slow


@pytest.mark.django_db(transaction=True)
def test_confirm_a_held_full_sync_from_the_connector_page(signed_in_page, connector, tmp_path):
    page = signed_in_page
    first = store_delivery(connector, json.dumps({"assets": [asset(i) for i in range(10)]}).encode()).delivery
    process_delivery(first.pk)
    body = json.dumps({"assets": [asset(0), asset(1)], "sync": {"id": "nightly", "final": True}}).encode()
    last = store_delivery(connector, body, sync=SyncMark("nightly", final=True)).delivery
    process_delivery(last.pk)
    sync = Sync.objects.get()
    assert sync.status == "held"

    page.goto(connector.get_absolute_url())
    banner = page.get_by_role("alert").filter(has_text="waiting for your confirmation")
    expect(banner).to_contain_text("8 of 10")
    expect(banner).to_contain_text("src-2")
    page.screenshot(path=tmp_path / "held.png", full_page=True)

    banner.get_by_role("button", name="Confirm: delete 8 records").click()
    expect(page.get_by_text("deletes the records it no longer reports, in the background")).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text="waiting for your confirmation")).to_have_count(0)
    assert syncs.run_deletions(sync.pk) == 8  # what the background task does

    page.get_by_role("link", name="Full syncs").click()
    page.get_by_role("link", name="nightly").click()
    expect(page.locator("#sync-status")).to_have_text("Completed")
    expect(page.get_by_text("Done: 8 records no part reported were deleted")).to_be_visible()
    page.screenshot(path=tmp_path / "completed.png", full_page=True)
    assert SourceRecord.objects.filter(deleted=False).count() == 2
