"""An admin's first connector, clicked through the way the product is meant to be used."""

import re

import pytest
from playwright.sync_api import expect

from connectors.models import Connector, ConnectorEvent


@pytest.mark.django_db(transaction=True)
def test_create_a_connector_then_disable_it_from_the_list(signed_in_page, tmp_path):
    page = signed_in_page

    # Sign-in lands on the Overview, which says there is nothing yet. Integrations → ⋮ → Manage
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    expect(page.get_by_text("No connector yet, so no asset.")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Integrations").click()
    page.get_by_label("Webhook actions").click()
    page.get_by_role("link", name="Manage", exact=True).click()
    expect(page.get_by_role("heading", name="Manage Connectors")).to_be_visible()
    expect(page.get_by_text("No connectors yet")).to_be_visible()

    # Create Connector → Basic Details → Create
    page.locator(".page-head").get_by_role("link", name="Create Connector").click()
    expect(page.get_by_role("heading", name="Create Connector")).to_be_visible()
    expect(page.get_by_label("CSAM", exact=True)).to_be_checked()
    page.get_by_label("Connector name").fill("ServiceNow CMDB")
    page.get_by_label("Description").fill("Nightly export of the production CMDB")
    page.get_by_label("Delivery log", exact=True).check()
    page.screenshot(path=tmp_path / "create.png", full_page=True)
    page.get_by_role("button", name="Create").click()

    expect(page.get_by_role("heading", name="Your connector is ready")).to_be_visible()
    connector = Connector.objects.get(name="ServiceNow CMDB")
    expect(page.locator("#webhook-url")).to_have_text(re.compile(rf"/webhooks/{connector.uuid}$"))
    expect(page.locator("#token")).to_have_text(re.compile(r"^chk_"))
    expect(page.locator("#signing-secret")).to_have_text(re.compile(r"^whsec_"))
    expect(page.locator("#curl-example")).to_contain_text('-H "Authorization: Bearer chk_')
    page.screenshot(path=tmp_path / "ready.png", full_page=True)

    # Manage Connectors lists it; disable it through its Actions menu.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connectors").click()
    row = page.locator("table.connectors tbody tr", has_text="ServiceNow CMDB")
    expect(row).to_contain_text("Enabled")
    expect(row).to_contain_text("Pending")
    expect(row).to_contain_text("CSAM, Delivery log")
    row.get_by_label("Actions for ServiceNow CMDB").click()
    row.get_by_role("button", name="Disable").click()

    expect(page.get_by_text("ServiceNow CMDB is disabled")).to_be_visible()
    row = page.locator("table.connectors tbody tr", has_text="ServiceNow CMDB")
    expect(row.locator(".badge.disabled").first).to_have_text("Disabled")
    expect(row).not_to_contain_text("Enabled")
    page.screenshot(path=tmp_path / "disabled.png", full_page=True)
    assert not Connector.objects.get(pk=connector.pk).enabled
    assert list(ConnectorEvent.objects.filter(connector=connector).values_list("action", flat=True)) == [
        "disabled",
        "created",
    ]


@pytest.mark.django_db(transaction=True)
def test_live_search_filters_in_place_and_keeps_the_url(signed_in_page, make_connector, tmp_path):
    page = signed_in_page
    make_connector("CMDB", description="Nightly export")
    make_connector("Intune MDM")
    page.goto("/connectors/")
    page.get_by_label("Search").fill("nightly")
    expect(page.locator("table.connectors tbody tr")).to_have_count(1)
    expect(page.locator("table.connectors")).to_contain_text("CMDB")
    expect(page).to_have_url(re.compile(r"/connectors/\?q=nightly"))
    page.get_by_label("Search").fill("no-such-thing")
    expect(page.get_by_text("No connector matches “no-such-thing”")).to_be_visible()
    page.screenshot(path=tmp_path / "no-match.png", full_page=True)
