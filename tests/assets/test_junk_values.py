"""Junk values (placeholder serials, loopback and link-local IPs, ``localhost``): kept on the source record, shown
de-emphasised and after real values, never the asset's value while a real one exists; a record whose only identity
is junk is skipped with a reason. And the display name: NetBIOS before the UUID, never a junk value."""

from __future__ import annotations

import re

import pytest

from assets.engine.records import AssetRecord
from assets.models import Asset, Decision, SourceRecord
from assets.services import process_records
from connectors.choices import DeliveryStatus
from connectors.models import Delivery
from connectors.worker import process_delivery
from tests.connectors.helpers import post_bearer

from .factories import make_asset

pytestmark = pytest.mark.django_db

LIST = "/csam/assets/"


def test_a_localhost_record_is_skipped_with_a_reason_not_made_into_an_asset(client, connector):
    body = {
        "assets": [
            {"source_key": "lo", "hostname": "localhost", "ip_addresses": ["127.0.0.1"]},
            {"source_key": "ph", "serial_number": "To be filled by O.E.M.", "mac_addresses": ["00:00:00:00:00:00"]},
            {"source_key": "real", "hostname": "localhost", "ip_addresses": ["127.0.0.1", "10.0.0.9"]},
        ]
    }
    response = post_bearer(client, connector, body)
    delivery = Delivery.objects.get(uuid=response.json()["delivery_id"])
    assert process_delivery(delivery.pk) == DeliveryStatus.PROCESSED
    delivery.refresh_from_db()
    assert (delivery.records_received, delivery.records_skipped, delivery.records_created) == (3, 2, 1)
    assert set(SourceRecord.objects.values_list("source_key", flat=True)) == {"real"}
    skipped = Decision.objects.get(source_key="lo")
    assert skipped.outcome == "skipped" and skipped.asset is None
    assert any("hostname ignored: placeholder host name 'localhost'" in reason for reason in skipped.reasons)
    assert any("only identifying values are junk" in reason for reason in skipped.reasons)
    # The one with a real address is an asset; its loopback stays on the source record only.
    asset = Asset.objects.get()
    assert asset.ip_addresses == ["10.0.0.9"]
    assert SourceRecord.objects.get().attributes["ip_addresses"] == ["127.0.0.1", "10.0.0.9"]


def test_junk_only_records_are_skipped_even_with_create_unmanaged_off_or_on(make_connector):
    for create in (True, False):
        connector = make_connector(f"C{create}", create_unmanaged=create)
        result = process_records(connector, [AssetRecord("k", hostname="localhost", ip_addresses=("::1",))])
        assert (result.created, result.skipped) == (0, 1)
    assert not Asset.objects.exists()


def test_a_real_value_from_a_less_trusted_source_beats_a_trusted_placeholder(cmdb, mdm):
    mac = ("00:1a:2b:3c:4d:5e",)
    process_records(cmdb, [AssetRecord("c-1", hostname="pc-7", serial_number="Default string", mac_addresses=mac)])
    process_records(mdm, [AssetRecord("m-1", hostname="pc-7", serial_number="CZC1234XYZ", mac_addresses=mac)])
    asset = Asset.objects.get()
    assert asset.serial_number == "CZC1234XYZ"
    assert asset.provenance["serial_number"] == SourceRecord.objects.get(source_key="m-1").pk
    assert SourceRecord.objects.get(source_key="c-1").attributes["serial_number"] == "DEFAULT STRING"


def test_the_asset_page_shows_junk_values_muted_noted_and_after_real_ones(admin_ui, cmdb):
    asset = make_asset(
        cmdb,
        "c-1",
        hostname="web-01",
        serial_number="To be filled by O.E.M.",
        ip_addresses=["169.254.7.7", "127.0.0.1", "10.0.0.5"],
    )
    assert asset.ip_addresses == ["10.0.0.5"]  # never the asset's value next to a real one
    html = admin_ui.get(asset.get_absolute_url()).content.decode()
    attributes = html[html.index('id="attributes-title"') : html.index('id="summary-title"')]
    assert "169.254.7.7" not in attributes and "10.0.0.5" in attributes
    # The placeholder serial is the only one there is: shown, but muted and noted.
    placeholder = r'class="muted junk"[^>]*>To be filled by O\.E\.M\. <span class="small">\(placeholder value\)'
    assert re.search(placeholder, html)
    sources = html[html.index('id="sources-title"') :]
    real, loopback, link_local = (sources.index(value) for value in ("10.0.0.5", "127.0.0.1", "169.254.7.7"))
    assert real < link_local and real < loopback  # real values first
    assert '127.0.0.1 <span class="small">(loopback address)</span>' in sources
    assert '169.254.7.7 <span class="small">(link-local address)</span>' in sources
    assert '<span class="chip">10.0.0.5</span>' in sources  # a real value is not de-emphasised


def test_the_asset_list_de_emphasises_a_placeholder_serial(admin_ui, cmdb):
    make_asset(cmdb, "a", hostname="pc-1", serial_number="To be filled by O.E.M.")
    make_asset(cmdb, "b", hostname="pc-2", serial_number="CZC1234XYZ")
    html = admin_ui.get(LIST).content.decode()
    assert 'class="mono muted junk"' in html and "(placeholder value)" in html
    assert '<span class="mono">CZC1234XYZ</span>' in html


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"hostname": "web-01", "netbios_name": "WEB01"}, "web-01"),
        ({"fqdn": "web-01.corp.example.com", "netbios_name": "WEB01"}, "web-01.corp.example.com"),
        ({"netbios_name": "FINANCE-PC7", "serial_number": "SN-9"}, "FINANCE-PC7"),
        ({"hostname": "localhost", "netbios_name": "FINANCE-PC7"}, "FINANCE-PC7"),  # junk never names an asset
        ({"serial_number": "SN-9"}, "SN-9"),
        ({"serial_number": "To be filled by O.E.M."}, None),  # the UUID
        ({"hostname": "localhost"}, None),
    ],
)
def test_display_name_falls_back_to_netbios_before_the_uuid(cmdb, attributes, expected):
    asset = make_asset(cmdb, **attributes)
    assert asset.display_name == (expected or str(asset.uuid))
    assert str(asset) == asset.display_name


def test_the_asset_list_names_assets_by_netbios_name_with_a_constant_number_of_queries(
    admin_ui, cmdb, django_assert_max_num_queries
):
    make_asset(cmdb, "n-0", netbios_name="FINANCE-PC0")
    with django_assert_max_num_queries(30) as one:
        admin_ui.get(LIST)
    for n in range(1, 8):
        make_asset(cmdb, f"n-{n}", netbios_name=f"FINANCE-PC{n}")
    with django_assert_max_num_queries(len(one.captured_queries)):
        html = admin_ui.get(LIST).content.decode()
    assert all(f"<strong>FINANCE-PC{n}</strong>" in html for n in range(8))
