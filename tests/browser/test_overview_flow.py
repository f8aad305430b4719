"""The Overview after real deliveries: three connectors push through the intake, real workers process them (one
of them failing every attempt), and the page's numbers are checked against what was sent, then followed."""

import re

import pytest
import requests
from playwright.sync_api import expect

from connectors.models import Delivery
from tests.conftest import wait_for
from tests.connectors.helpers import asset

pytestmark = pytest.mark.slow


def _push(live_server, connector, body) -> Delivery:
    response = requests.post(
        f"{live_server.url}/webhooks/{connector.uuid}",
        json=body,
        headers={"Authorization": f"Bearer {connector.credentials.token}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return Delivery.objects.get(uuid=response.json()["delivery_id"])


def _finished(delivery: Delivery) -> str:
    def status():
        delivery.refresh_from_db(fields=["status"])
        return delivery.status if not delivery.is_pending else ""

    return wait_for(status, timeout=90, message=f"delivery {delivery.pk} to finish")


def _cell(page, row: str, key: str):
    return page.locator("table.counts tbody tr", has=page.get_by_role("rowheader", name=row, exact=True)).locator(
        f'td[data-count="{key}"]'
    )


@pytest.mark.django_db(transaction=True)
def test_overview_numbers_match_what_was_sent(signed_in_page, live_server, make_connector, start_worker, tmp_path):
    cmdb, mdm, edr = make_connector("CMDB", trust_rank=80), make_connector("MDM", trust_rank=50), make_connector("EDR")

    worker = start_worker()
    # CMDB: three machines, then it deletes the third (retired). MDM: one of CMDB's machines (same serial, merged),
    # one of its own, and one record without a source key (an error: the delivery is partial).
    assert _finished(_push(live_server, cmdb, {"assets": [asset(1), asset(2), asset(3)]})) == "processed"
    mdm_records = [{**asset(1), "source_key": "mdm-1"}, asset(40), {"hostname": "nokey"}]
    assert _finished(_push(live_server, mdm, {"assets": mdm_records})) == "partial"
    assert _finished(_push(live_server, cmdb, {"assets": [], "deleted": ["src-3"]})) == "processed"
    worker.kill()
    worker.wait(timeout=10)
    # EDR's delivery fails on every attempt: with one attempt allowed it goes to dead.
    start_worker(env={"DELIVERY_FAULT_HOOK": "tests.faults.always_fail", "DELIVERY_MAX_ATTEMPTS": "1"})
    assert _finished(_push(live_server, edr, {"assets": [asset(7)]})) == "dead"

    page = signed_in_page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    expected = {
        "All connectors": {"live": 3, "unmanaged": 3, "retired": 1, "possible_duplicate": 0},
        "CMDB": {"live": 2, "unmanaged": 2, "retired": 1, "possible_duplicate": 0},
        "MDM": {"live": 2, "unmanaged": 2, "retired": 0, "possible_duplicate": 0},
        "EDR": {"live": 0, "unmanaged": 0, "retired": 0, "possible_duplicate": 0},
    }
    for row, counts in expected.items():
        for key, value in counts.items():
            expect(_cell(page, row, key)).to_have_text(str(value))

    # 4 deliveries: 2 processed, 1 partial, 1 dead; 7 records: 4 created, 1 merged, 1 deleted, 1 error.
    for chart in ("#deliveries-24h", "#deliveries-30d"):
        expect(page.locator(f"{chart} .chart-total")).to_have_text("4")
        expect(page.locator(f"{chart} .legend")).to_have_text(re.compile(r"Processed 2\s*Partial 1\s*Dead 1"))
    for chart in ("#records-24h", "#records-30d"):
        expect(page.locator(f"{chart} .chart-total")).to_have_text("7")
        expect(page.locator(f"{chart} .legend")).to_have_text(
            re.compile(r"Created 4\s*Merged 1\s*Deleted 1\s*Errors 1")
        )
    attention = page.locator(".attention-list")
    expect(attention).to_contain_text("1 dead delivery to EDR")
    expect(attention).to_contain_text("EDR: its last delivery failed")
    expect(attention).to_contain_text("MDM: its last delivery had records in error")
    health = page.locator("table.health tbody tr", has=page.get_by_role("rowheader", name="EDR"))
    expect(health.locator(".problem")).to_contain_text("injected permanent failure")
    expect(health.locator(".spark-total")).to_have_text("1")
    expect(health).to_contain_text("1 failed")
    page.screenshot(path=tmp_path / "overview-1280.png", full_page=True)

    # Each number opens the list behind it, showing as many rows.
    _cell(page, "CMDB", "retired").get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/csam/assets/\?connector={cmdb.uuid}&include_retired=true&retired=true"))
    expect(page.locator("table.assets tbody tr")).to_have_count(1)
    expect(page.locator("table.assets")).to_contain_text("web-00003")
    page.go_back()
    _cell(page, "All connectors", "live").get_by_role("link").click()
    expect(page.locator("table.assets tbody tr")).to_have_count(3)
    page.go_back()
    attention.get_by_role("link", name="1 dead delivery to EDR").click()
    expect(page).to_have_url(re.compile(rf"/connectors/{edr.uuid}/deliveries/\?status=dead"))
    expect(page.locator("table.deliveries tbody tr")).to_have_count(1)
    page.go_back()
    segment = page.locator("#deliveries-24h svg a", has=page.locator("rect.s-processed")).last
    shown = int(re.search(r": (\d+) processed$", segment.locator("title").text_content()).group(1))
    segment.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Deliveries to every connector")
    expect(page.locator("table.deliveries tbody tr")).to_have_count(shown)
    expect(page.locator("table.deliveries")).not_to_contain_text("Partial")
    page.go_back()

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(_cell(page, "CMDB", "live")).to_have_text("2")
    page.screenshot(path=tmp_path / "overview-390.png", full_page=True)
    page.locator("#inventory-counts").screenshot(path=tmp_path / "overview-390-inventory.png")
    page.locator("#deliveries-24h").screenshot(path=tmp_path / "overview-390-chart.png")
    page.locator("table.health").screenshot(path=tmp_path / "overview-390-health.png")
