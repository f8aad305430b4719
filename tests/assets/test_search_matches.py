"""The asset list says that search matches the start of a value, and shows which value each asset matched."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.assets.factories import add_source, make_asset

LIST = reverse("assets:asset_list")

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate(cmdb, mdm):
    web = make_asset(cmdb, "cmdb-web", hostname="web-01", serial_number="SN-WEB-7Q2X9", ip_addresses=["10.0.0.5"])
    add_source(web, mdm, "mdm-web", hostname="web-01", mac_addresses=["00:1a:2b:3c:4d:5e"])
    make_asset(mdm, "mdm-db", hostname="db-01", ip_addresses=["10.0.3.7"], mac_addresses=["00:1a:2b:99:00:01"])
    return web


def rows(page: str) -> dict[str, str]:
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    return {row.split("<strong>")[1].split("</strong>")[0]: row for row in body.split("<tr>")[1:]}


def test_the_hint_is_visible_and_says_start_of_a_value(admin_ui):
    page = admin_ui.get(LIST).content.decode()
    assert '<p class="help search-hint" id="q-help">Search matches the <strong>start</strong> of' in page
    assert 'aria-describedby="q-help"' in page


def test_a_mac_search_shows_the_matched_mac_on_each_row(admin_ui, estate):
    found = rows(admin_ui.get(LIST, {"q": "00-1A-2B"}).content.decode())
    assert set(found) == {"web-01", "db-01"}
    assert 'Matched MAC address <span class="mono"><mark>00:1a:2b</mark>:3c:4d:5e</span>' in found["web-01"]
    assert 'Matched MAC address <span class="mono"><mark>00:1a:2b</mark>:99:00:01</span>' in found["db-01"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("10.0.0", 'IP address <span class="mono"><mark>10.0.0</mark>.5</span>'),
        ("sn-web", 'Serial number <span class="mono"><mark>SN-WEB</mark>-7Q2X9</span>'),
        ("web", 'Hostname <span class="mono"><mark>web</mark>-01</span>'),
    ],
)
def test_ip_serial_and_host_searches_name_the_field(admin_ui, estate, query, expected):
    found = rows(admin_ui.get(LIST, {"q": query}).content.decode())
    assert list(found) == ["web-01"]
    assert "Matched " + expected in found["web-01"]


def test_without_a_search_no_match_line_and_matches_cost_one_query(admin_ui, estate, cmdb):
    assert "search-match" not in admin_ui.get(LIST).content.decode()
    with CaptureQueriesContext(connection) as few:
        admin_ui.get(LIST, {"q": "00:1a"})
    for i in range(5):
        make_asset(cmdb, f"more-{i}", hostname=f"more-{i}", mac_addresses=[f"00:1a:00:00:00:0{i}"])
    with CaptureQueriesContext(connection) as many:
        page = admin_ui.get(LIST, {"q": "00:1a"}).content.decode()
    assert page.count('class="search-match small"') == 7
    assert len(many.captured_queries) == len(few.captured_queries)
