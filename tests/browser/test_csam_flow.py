"""From a connector to its assets in CSAM, and on to one asset, the way an admin clicks through."""

import re

import pytest
from playwright.sync_api import expect

from tests.assets.factories import add_source, make_asset


@pytest.mark.django_db(transaction=True)
def test_connector_to_its_assets_to_an_asset(signed_in_page, make_connector, tmp_path):
    page = signed_in_page
    cmdb, mdm = make_connector("CMDB", trust_rank=80), make_connector("MDM", trust_rank=40)
    web = make_asset(
        cmdb, "cmdb-web", hostname="web-01", serial_number="SN-WEB", ip_addresses=["10.0.0.5"], os="Ubuntu"
    )
    add_source(web, mdm, "mdm-web", hostname="web-01", os="Windows", mac_addresses=["00:1a:2b:3c:4d:5e"])
    make_asset(mdm, "mdm-db", hostname="db-01", os="Windows Server")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connectors").click()
    page.get_by_role("link", name="CMDB", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("CMDB")
    page.locator(".page-head").get_by_text("Actions").click()
    page.get_by_role("link", name="View Assets in CSAM").click()

    expect(page).to_have_url(re.compile(rf"/csam/assets/\?connector={cmdb.uuid}"))
    expect(page.get_by_role("heading", name="Assets from CMDB")).to_be_visible()
    expect(page.locator("table.assets")).to_contain_text("web-01")
    expect(page.locator("table.assets")).not_to_contain_text("db-01")
    page.screenshot(path=tmp_path / "assets-from-cmdb.png", full_page=True)

    # Filters work in place (HTMX) and keep the URL shareable.
    page.get_by_label("Connector").select_option("")
    expect(page.locator("table.assets")).to_contain_text("db-01")
    page.get_by_label("Search").fill("00-1A-2B")
    expect(page.locator("table.assets")).not_to_contain_text("db-01")
    expect(page).to_have_url(re.compile(r"q=00-1A-2B"))

    page.get_by_label("Search").fill("")
    expect(page.locator("table.assets")).to_contain_text("db-01")
    page.locator("table.assets thead").get_by_role("link", name="Name").click()
    expect(page).to_have_url(re.compile(r"ordering=hostname"))
    expect(page.locator("table.assets tbody tr").first).to_contain_text("db-01")

    page.get_by_role("link", name="web-01").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("web-01")
    os_row = page.locator("table.attributes").get_by_role("row", name=re.compile(r"^OS "))
    expect(os_row).to_contain_text("Ubuntu")
    expect(os_row).to_contain_text("differs MDM mdm-web: Windows")  # the other source's value, in plain view
    cmdb_group = page.locator("table.attributes tbody.source-group").first
    expect(cmdb_group.locator("tr.source-head")).to_contain_text("From CMDB cmdb-web")
    expect(cmdb_group.get_by_role("row", name=re.compile(r"^OS "))).to_have_count(1)
    expect(page.get_by_role("button", name="Split into its own asset")).to_have_count(2)
    page.screenshot(path=tmp_path / "asset.png", full_page=True)
