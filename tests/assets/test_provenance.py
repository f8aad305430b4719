"""The asset page names each source once, above the values it gave, and shows where other sources disagree."""

import re

import pytest

from tests.assets.factories import add_source, make_asset

pytestmark = pytest.mark.django_db


def attributes_of(admin_ui, asset) -> str:
    page = admin_ui.get(asset.get_absolute_url()).content.decode()
    return page[page.index('id="attributes-title"') : page.index('id="summary-title"')]


def groups(section: str) -> list[tuple[str, list[str]]]:
    """(source name, attribute labels) per source group, in page order."""
    found = []
    for body in section.split('<tbody class="source-group">')[1:]:
        source = re.search(r"From <a [^>]*>([^<]+)</a>", body).group(1)
        found.append((source, re.findall(r'<th scope="row">([^<]+)</th>', body)))
    return found


def test_values_are_grouped_under_their_source_most_trusted_first(admin_ui, cmdb, mdm):
    asset = make_asset(cmdb, "cmdb-web", hostname="web-01", os="Ubuntu", serial_number="SN-1")
    add_source(asset, mdm, "mdm-web", hostname="web-01", mac_addresses=["00:1a:2b:3c:4d:5e"], model="R640")
    section = attributes_of(admin_ui, asset)
    assert groups(section) == [("CMDB", ["Hostname", "Serial number", "OS"]), ("MDM", ["Model", "MAC addresses"])]
    assert "disagree" not in section  # they agree on the host name


def test_disagreements_are_marked_under_the_value_shown(admin_ui, cmdb, mdm, make_connector):
    asset = make_asset(cmdb, "cmdb-web", hostname="web-01", os="Ubuntu", ip_addresses=["10.0.0.5", "10.0.0.6"])
    add_source(asset, mdm, "mdm-web", hostname="WEB-01", os="Windows", ip_addresses=["10.0.0.5"])
    add_source(asset, make_connector("Scanner", trust_rank=10), "scan-1", ip_addresses=["10.0.0.5", "10.9.9.9"])
    section = attributes_of(admin_ui, asset)
    assert "Sources disagree on 2 attributes:" in section
    os_row = re.search(r'<tr class="disagree">\s*<th scope="row">OS</th>.*?</tr>', section, re.DOTALL).group(0)
    assert "Ubuntu" in os_row and '<span class="differs-value">Windows</span>' in os_row and ">MDM" not in os_row
    ip_row = re.search(r'<tr class="disagree">\s*<th scope="row">IP addresses</th>.*?</tr>', section, re.DOTALL)
    # Reporting fewer addresses is no disagreement (MDM); reporting one the asset lacks is (Scanner).
    assert "10.9.9.9" in ip_row.group(0) and "mdm-web" not in ip_row.group(0)
    assert '<th scope="row">Hostname</th>' in section and section.count('class="disagree"') == 2  # case only


def test_deleted_sources_do_not_count_as_disagreeing(admin_ui, cmdb, mdm):
    asset = make_asset(cmdb, "cmdb-web", hostname="web-01", os="Ubuntu")
    add_source(asset, mdm, "mdm-old", os="Windows", deleted=True)
    assert "differs" not in attributes_of(admin_ui, asset)
