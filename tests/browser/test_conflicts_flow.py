"""The Conflicts page: an admin sees two machines merged into one asset and splits them apart in one click."""

import pytest
from playwright.sync_api import expect

from tests.assets.factories import add_source, make_asset


@pytest.mark.django_db(transaction=True)
def test_split_a_false_merge_from_the_conflicts_page(signed_in_page, make_connector, tmp_path):
    page = signed_in_page
    cmdb, mdm = make_connector("CMDB", trust_rank=80), make_connector("MDM", trust_rank=40)
    merged = make_asset(cmdb, "cmdb-web", hostname="web-01", serial_number="SN-OLD-7Q2X9", os="Ubuntu")
    add_source(merged, mdm, "mdm-web-new", hostname="web-01", serial_number="SN-NEW-88KD1")
    other = make_asset(cmdb, "cmdb-db", hostname="db-01", hardware_uuid="4C4C4544-0042-3510-8052-B7C04F4B4D31")
    add_source(other, mdm, "mdm-db", hostname="db-01", hardware_uuid="4C4C4544-0042-3510-8052-B7C04F4B4D32")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="CSAM").click()
    page.get_by_role("navigation", name="CSAM").get_by_role("link", name="Conflicts (2)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Identifier conflicts")
    web = page.locator("section.conflict", has_text="web-01")
    expect(web).to_contain_text("SN-OLD-7Q2X9")
    expect(web).to_contain_text("SN-NEW-88KD1")
    page.screenshot(path=tmp_path / "conflicts-desktop.png", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.screenshot(path=tmp_path / "conflicts-390.png", full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    web.get_by_role("link", name="Split MDM mdm-web-new into its own asset").click()
    expect(page.locator("#results")).to_contain_text("is now an asset of its own")
    expect(page.locator("section.conflict", has_text="web-01")).to_have_count(0)
    expect(page.locator("section.conflict", has_text="db-01")).to_have_count(1)
    expect(page.get_by_role("navigation", name="CSAM").get_by_role("link", name="Conflicts (1)")).to_be_visible()
    page.screenshot(path=tmp_path / "conflicts-390-after-split.png", full_page=True)

    # The asset page says the same and leads back here.
    page.locator("section.conflict").get_by_role("link", name="db-01").click()
    expect(page.get_by_role("note")).to_contain_text("Its sources disagree on its hardware UUID")
    page.screenshot(path=tmp_path / "asset-390.png", full_page=True)
