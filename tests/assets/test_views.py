import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assets import inventory
from assets.choices import AssetAction, AssetKind, DecisionOutcome
from assets.models import AssetEvent, Decision, IdentificationRule, RuleSelection, SourceRecord
from connectors.models import Delivery
from tests.assets.factories import add_source, make_asset

LIST = reverse("assets:asset_list")
HTMX = {"HTTP_HX_REQUEST": "true"}


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def web(cmdb, mdm):
    asset = make_asset(
        cmdb,
        "cmdb-web",
        hostname="web-01",
        serial_number="SN-WEB",
        ip_addresses=["10.0.0.5"],
        os="Ubuntu",
        extra={"rack": "B4"},
    )
    add_source(asset, mdm, "mdm-web", hostname="web-01", os="Windows", mac_addresses=["00:1a:2b:3c:4d:5e"])
    asset.refresh_from_db()
    return asset


# --- list -----------------------------------------------------------------------------------------------------


def test_list_renders_full_page_and_htmx_partial(admin_ui, web):
    full = admin_ui.get(LIST)
    assert full.status_code == 200
    assert "<html" in text(full) and 'id="asset-filters"' in text(full)
    assert "web-01" in text(full) and "CMDB" in text(full) and "MDM" in text(full)
    assert "HX-Request" in full["Vary"]
    partial = admin_ui.get(LIST, **HTMX)
    assert partial.status_code == 200
    assert "<html" not in text(partial) and 'id="results"' in text(partial) and "web-01" in text(partial)
    assert 'id="asset-filters"' not in text(partial)


def test_history_restore_gets_the_full_page(admin_ui, web):
    response = admin_ui.get(LIST, HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)
    assert "<html" in text(response)


def test_empty_inventory_says_what_to_do(admin_ui, defaults):
    body = text(admin_ui.get(LIST))
    assert "Create a connector and send a delivery" in body
    assert reverse("connectors:connector_list") in body


def test_filters_that_match_nothing_offer_to_clear_them(admin_ui, web):
    body = text(admin_ui.get(LIST, {"q": "no-such-host"}))
    assert "No assets match these filters" in body and "clear the filters" in body
    assert "Create a connector" not in body


def test_only_retired_assets_offers_to_show_them(admin_ui, cmdb):
    make_asset(cmdb, "x", hostname="old-01", deleted=True)
    body = text(admin_ui.get(LIST))
    assert "No live assets" in body and "include_retired=true" in body


def test_filters_apply(admin_ui, web, cmdb):
    make_asset(cmdb, "db", hostname="db-01", os="Windows Server", kind=AssetKind.MANAGED)
    assert "db-01" not in text(admin_ui.get(LIST, {"q": "10.0.0"}))
    assert "web-01" in text(admin_ui.get(LIST, {"q": "00-1A-2B"}))
    body = text(admin_ui.get(LIST, {"kind": "managed"}))
    assert "db-01" in body and "web-01" not in body
    body = text(admin_ui.get(LIST, {"os": "server"}))
    assert "db-01" in body and "web-01" not in body


def test_connector_filter_shows_whose_assets_these_are(admin_ui, web, mdm, make_connector):
    body = text(admin_ui.get(LIST, {"connector": str(mdm.uuid)}))
    assert "Assets from MDM" in body and mdm.get_absolute_url() in body
    assert "do not change the inventory" not in body
    logger = make_connector("Logger", modules=["log"])
    body = text(admin_ui.get(LIST, {"connector": str(logger.uuid)}))
    assert "Assets from Logger" in body and "do not change the inventory" in body


def test_unknown_connector_is_reported(admin_ui, web):
    response = admin_ui.get(LIST, {"connector": "00000000-0000-0000-0000-000000000000"})
    assert response.status_code == 200 and "no such connector" in text(response)


def test_sort_links_and_order(admin_ui, cmdb):
    for name in ("bravo", "alpha", "charlie"):
        make_asset(cmdb, name, hostname=name)
    body = text(admin_ui.get(LIST, {"ordering": "hostname"}))
    assert body.index("alpha") < body.index("bravo") < body.index("charlie")
    assert "ordering=-hostname" in body and 'aria-sort="ascending"' in body
    assert 'hx-push-url="true"' in body
    body = text(admin_ui.get(LIST, {"ordering": "-hostname"}))
    assert body.index("charlie") < body.index("bravo") < body.index("alpha")


def test_pagination(admin_ui, cmdb):
    for index in range(25):
        make_asset(cmdb, f"k{index}", hostname=f"host-{index:02d}")
    body = text(admin_ui.get(LIST, {"per_page": 10, "ordering": "hostname", "page": 2}))
    assert "Page 2 of 3" in body and "25 assets" in body
    assert "host-10" in body and "host-09" not in body and "host-20" not in body
    assert "page=3" in body and "page=1" in body


def _list_queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST, params)
    assert response.status_code == 200
    return len(queries)


def test_list_query_count_does_not_grow_with_rows_or_page_size(admin_ui, cmdb, mdm):
    def add(count, start=0):
        for index in range(start, start + count):
            asset = make_asset(cmdb, f"c{index}", hostname=f"h{index}", ip_addresses=[f"10.0.0.{index}"])
            add_source(asset, mdm, f"m{index}", hostname=f"h{index}")

    add(5)
    few = _list_queries(admin_ui)
    add(45, start=5)
    many = _list_queries(admin_ui)
    add(70, start=50)
    small_page = _list_queries(admin_ui, per_page=10)
    big_page = _list_queries(admin_ui, per_page=100)
    filtered = _list_queries(admin_ui, per_page=100, connector=str(cmdb.uuid), q="10.0")
    assert few == many == small_page == big_page
    # The connector named in the filter is looked up once; its assets' ids and the search's are read once each,
    # and the values the listed assets matched (assets.search_matches) once.
    assert filtered == big_page + 4
    assert big_page <= 8


def test_csv_export_streams_the_filtered_list(admin_ui, web, cmdb):
    make_asset(cmdb, "evil", hostname="=cmd|' /C calc'!A0", os="Windows")
    response = admin_ui.get(reverse("assets:asset_export"), {"os": "ubuntu"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1
    row = rows[0]
    assert row["hostname"] == "web-01" and row["serial_number"] == "SN-WEB" and row["ip_addresses"] == "10.0.0.5"
    assert row["sources"] == "CMDB:cmdb-web; MDM:mdm-web"
    assert row["url"].endswith(web.get_absolute_url())
    response = admin_ui.get(reverse("assets:asset_export"), {"os": "windows"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["hostname"].startswith("'=")  # no formula for a spreadsheet to run


def test_csv_export_refuses_bad_filters(admin_ui, defaults):
    response = admin_ui.get(reverse("assets:asset_export"), {"not_seen_for": "soon"})
    assert response.status_code == 400


# --- asset page ----------------------------------------------------------------------------------------------


def test_asset_page_shows_provenance_sources_and_decisions(admin_ui, web, cmdb):
    delivery = Delivery.objects.create(connector=cmdb, body=b"{}")
    rule = IdentificationRule.objects.get(name="Serial number")
    Decision.objects.create(
        connector=cmdb,
        delivery=delivery,
        source_key="cmdb-web",
        outcome=DecisionOutcome.MERGED,
        rule=rule,
        rule_name=rule.name,
        compared={"Serial number": ["serial_number=SN-WEB"]},
        candidates=[str(web.uuid)],
        asset=web,
        reasons=["matched by Serial number"],
    )
    response = admin_ui.get(web.get_absolute_url())
    assert response.status_code == 200
    body = text(response)
    # Ubuntu wins: CMDB (trust 80) is more trusted than MDM (trust 40).
    attributes = body[body.index("attributes-title") : body.index("summary-title")]
    assert "Ubuntu" in attributes
    # Each source is named once, above the values it gave; the MDM's other OS is shown as a disagreement.
    assert attributes.count(">CMDB</a>") == 1 and "trust 80" in attributes
    assert attributes.count(">MDM</a>") == 1  # the MAC came from the MDM: its group
    assert '<span class="differs-value">Windows</span>' in attributes
    assert "Sources disagree on 1 attribute:" in attributes
    sources = body[body.index("sources-title") : body.index("events-title")]
    assert "Windows" in sources and "rack" in sources and "B4" in sources
    decisions = body[body.index("decisions-title") :]
    assert delivery.get_absolute_url() in decisions
    assert '<span class="muted">Serial number:</span> <span class="chip mono">SN-WEB</span>' in decisions
    assert "Matched by Serial number" in decisions
    assert f'<a href="{web.get_absolute_url()}">web-01</a> <span class="mono muted small"' in decisions
    assert "Merged" in decisions


def test_asset_page_queries_are_bounded(admin_ui, web, cmdb):
    with CaptureQueriesContext(connection) as few:
        admin_ui.get(web.get_absolute_url())
    for index in range(10):
        add_source(web, cmdb, f"extra-{index}", hostname="web-01")
    with CaptureQueriesContext(connection) as many:
        admin_ui.get(web.get_absolute_url())
    assert len(few) == len(many)


def test_merged_asset_redirects_to_the_survivor_following_the_chain(admin_ui, web, cmdb, mdm):
    middle = make_asset(cmdb, "m", hostname="web-01")
    first = make_asset(mdm, "f", hostname="web-01")
    inventory.merge_assets(middle, [first])
    inventory.merge_assets(web, [middle])
    response = admin_ui.get(first.get_absolute_url())
    assert response.status_code == 302 and response["Location"] == web.get_absolute_url()


def test_retired_asset_is_reachable_and_says_so(admin_ui, cmdb):
    asset = make_asset(cmdb, "old", hostname="old-01", deleted=True)
    response = admin_ui.get(asset.get_absolute_url())
    assert response.status_code == 200
    assert "Retired" in text(response) and "No connector reports this asset" in text(response)


def test_unknown_asset_is_404(admin_ui, defaults):
    assert (
        admin_ui.get(reverse("assets:asset_detail", args=["00000000-0000-0000-0000-000000000000"])).status_code == 404
    )


def test_split_and_undo_from_the_asset_page(admin_ui, web):
    body = text(admin_ui.get(web.get_absolute_url()))
    assert "Split into its own asset" in body
    source = SourceRecord.objects.get(source_key="mdm-web")
    response = admin_ui.post(reverse("assets:source_split", args=[source.pk]), follow=True)
    assert response.status_code == 200
    source.refresh_from_db()
    assert source.asset != web
    body = text(response)
    assert "an asset of its own" in body and "Undo split" in body
    event = AssetEvent.objects.get(action=AssetAction.SPLIT)
    # The new asset's page lists the split too.
    assert "Source split out" in text(admin_ui.get(source.asset.get_absolute_url()))
    response = admin_ui.post(reverse("assets:event_undo", args=[event.pk]), follow=True)
    assert "Split undone" in text(response)
    source.refresh_from_db()
    assert source.asset == web


def test_split_of_the_only_source_is_refused_with_a_message(admin_ui, cmdb):
    asset = make_asset(cmdb, "alone", hostname="alone")
    assert "Split into its own asset" not in text(admin_ui.get(asset.get_absolute_url()))
    response = admin_ui.post(reverse("assets:source_split", args=[asset.sources.get().pk]), follow=True)
    assert "only live source" in text(response)


# --- duplicates -----------------------------------------------------------------------------------------------


@pytest.fixture
def twins(cmdb, mdm):
    first = make_asset(cmdb, "c-1", hostname="twin", serial_number="SN-TWIN")
    second = make_asset(mdm, "m-1", hostname="twin", serial_number="SN-TWIN", os="Linux")
    return first, second


def test_duplicates_page_groups_assets_sharing_a_value(admin_ui, twins, cmdb):
    make_asset(cmdb, "solo", hostname="solo", serial_number="SN-SOLO")
    response = admin_ui.get(reverse("assets:duplicates"))
    assert response.status_code == 200
    body = text(response)
    assert "SN-TWIN" in body and "SN-SOLO" not in body
    # The twins share a serial and a hostname: one group of two assets, listing both values.
    assert body.count('name="survivor"') == 2
    assert (
        'Serial number <span class="mono">SN-TWIN</span>' in body and 'Hostname <span class="mono">twin</span>' in body
    )
    assert body.index("SN-TWIN</span>") < body.index("twin</span>")
    partial = admin_ui.get(reverse("assets:duplicates"), {"kind": "serial_number"}, **HTMX)
    assert "<html" not in text(partial) and text(partial).count('name="survivor"') == 2


def test_duplicates_ignores_retired_and_merged_assets(admin_ui, twins, cmdb):
    make_asset(cmdb, "gone", hostname="ghost", deleted=True)
    make_asset(cmdb, "gone-2", hostname="ghost", deleted=True)
    inventory.merge_assets(*twins[:1], twins[1:])
    body = text(admin_ui.get(reverse("assets:duplicates")))
    assert "No duplicates" in body and "ghost" not in body


def test_duplicates_queries_are_bounded(admin_ui, cmdb, mdm):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            admin_ui.get(reverse("assets:duplicates"))
        return len(captured)

    for index in range(2):
        make_asset(cmdb, f"c{index}", hostname=f"dup-{index}")
        make_asset(mdm, f"m{index}", hostname=f"dup-{index}")
    few = queries()
    for index in range(2, 15):
        make_asset(cmdb, f"c{index}", hostname=f"dup-{index}")
        make_asset(mdm, f"m{index}", hostname=f"dup-{index}")
    assert queries() == few


def test_merge_from_the_duplicates_page_and_undo(admin_ui, twins):
    first, second = twins
    response = admin_ui.post(
        reverse("assets:merge"),
        {
            "survivor": str(first.uuid),
            "assets": [str(first.uuid), str(second.uuid)],
            "next": reverse("assets:duplicates"),
        },
        follow=True,
    )
    assert response.status_code == 200
    body = text(response)
    assert "Merged 1 asset into" in body and "Undo merge" in body
    second.refresh_from_db()
    assert second.merged_into == first
    assert admin_ui.get(second.get_absolute_url())["Location"] == first.get_absolute_url()
    event = AssetEvent.objects.get(action=AssetAction.MERGED)
    response = admin_ui.post(
        reverse("assets:event_undo", args=[event.pk]), {"next": reverse("assets:duplicates")}, follow=True
    )
    assert "Merge undone" in text(response)
    second.refresh_from_db()
    assert second.merged_into is None


def test_merge_form_errors_are_reported(admin_ui, twins):
    first, _ = twins
    response = admin_ui.post(reverse("assets:merge"), {"assets": [str(first.uuid)]}, follow=True)
    assert "Choose the asset to keep" in text(response)
    response = admin_ui.post(
        reverse("assets:merge"), {"survivor": str(first.uuid), "assets": [str(first.uuid)]}, follow=True
    )
    assert "at least two assets" in text(response)
    assert AssetEvent.objects.count() == 0


def test_merge_ignores_an_offsite_next(admin_ui, twins):
    first, second = twins
    response = admin_ui.post(
        reverse("assets:merge"),
        {"survivor": str(first.uuid), "assets": [str(second.uuid)], "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("assets:duplicates")


# --- rules ----------------------------------------------------------------------------------------------------


def test_rule_list(admin_ui, cmdb):
    body = text(admin_ui.get(reverse("assets:rule_list")))
    assert "Source native key" in body and "System" in body and "Hostname + IP address" in body
    assert "1 of 1 connector" in body  # e.g. Serial number is on for the one connector
    assert "0 of 1 connector" in body  # Hostname alone is off by default
    assert "Create rule" in body


def test_rule_create_validations(admin_ui, cmdb):
    url = reverse("assets:rule_create")
    assert admin_ui.get(url).status_code == 200
    for data, message in (
        ({"name": "Nothing"}, "Choose at least one attribute"),
        ({"name": "Twice", "attribute_1": "hostname", "attribute_2": "hostname"}, "appear once"),
        ({"name": "serial number", "attribute_1": "fqdn"}, "exists already"),
        ({"name": "", "attribute_1": "fqdn"}, "This field is required"),
    ):
        response = admin_ui.post(url, data)
        assert response.status_code == 200 and message in text(response), message
    assert not IdentificationRule.objects.filter(name__in=["Nothing", "Twice"]).exists()


def test_rule_create_keeps_the_order_and_adds_it_off_to_connectors(admin_ui, cmdb):
    response = admin_ui.post(
        reverse("assets:rule_create"),
        {"name": "Serial + MAC", "attribute_1": "serial_number", "attribute_3": "mac_address"},
    )
    assert response.status_code == 302
    rule = IdentificationRule.objects.get(name="Serial + MAC")
    assert rule.attributes == ["serial_number", "mac_address"]
    selection = RuleSelection.objects.get(connector=cmdb, rule=rule)
    assert selection.enabled is False
    assert selection.position == RuleSelection.objects.filter(connector=cmdb).order_by("-position")[0].position


def test_rule_edit_and_delete(admin_ui, cmdb):
    rule = inventory.create_identification_rule(name="Cloud + host", attributes=["cloud_instance_id", "hostname"])
    url = reverse("assets:rule_edit", args=[rule.pk])
    body = text(admin_ui.get(url))
    assert 'value="Cloud + host"' in body and '<option value="hostname" selected>' in body
    response = admin_ui.post(url, {"name": "Cloud + FQDN", "attribute_1": "cloud_instance_id", "attribute_2": "fqdn"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "Cloud + FQDN" and rule.attributes == ["cloud_instance_id", "fqdn"]
    delete = reverse("assets:rule_delete", args=[rule.pk])
    assert "Delete Cloud + FQDN?" in text(admin_ui.get(delete))
    assert admin_ui.post(delete).status_code == 302
    assert not IdentificationRule.objects.filter(pk=rule.pk).exists()


def test_system_rule_is_read_only(admin_ui, defaults):
    system = IdentificationRule.objects.get(is_system=True)
    edit = reverse("assets:rule_edit", args=[system.pk])
    response = admin_ui.get(edit)
    assert (
        response.status_code == 200
        and "read only" in text(response)
        and "<form" not in text(response).split("<main")[1]
    )
    assert admin_ui.post(edit, {"name": "x", "attribute_1": "fqdn"}).status_code == 403
    delete = reverse("assets:rule_delete", args=[system.pk])
    response = admin_ui.get(delete)
    assert response.status_code == 403 and "cannot be deleted" in text(response)
    assert admin_ui.post(delete).status_code == 403
    assert IdentificationRule.objects.filter(pk=system.pk).exists()


def test_delete_of_a_connectors_only_rule_is_explained(admin_ui, cmdb):
    selection = RuleSelection.objects.filter(connector=cmdb, rule__is_system=False)
    only = selection.get(rule__name="FQDN")
    selection.exclude(pk=only.pk).update(enabled=False)
    delete = reverse("assets:rule_delete", args=[only.rule_id])
    body = text(admin_ui.get(delete))
    assert "only rule turned on for CMDB" in body and "Delete rule</button>" not in body
    response = admin_ui.post(delete)
    assert response.status_code == 409 and IdentificationRule.objects.filter(pk=only.rule_id).exists()


# --- viewers --------------------------------------------------------------------------------------------------


def test_viewer_sees_pages_without_write_buttons(viewer_ui, web, twins):
    inventory.merge_assets(*twins[:1], twins[1:])
    for url in (LIST, web.get_absolute_url(), reverse("assets:duplicates"), reverse("assets:rule_list")):
        response = viewer_ui.get(url)
        assert response.status_code == 200, url
        body = text(response)
        for button in (
            "Split into its own asset",
            ">Merge<",
            "Undo merge",
            "Undo split",
            "Create rule",
            "Edit<span",
            "Delete<span",
        ):
            assert button not in body, (url, button)
    assert 'name="survivor"' not in text(viewer_ui.get(reverse("assets:duplicates")))


def test_viewer_gets_403_on_every_write_url(viewer_ui, web, twins):
    first, second = twins
    event = inventory.merge_assets(first, [second])
    rule = inventory.create_identification_rule(name="Custom", attributes=["fqdn", "hostname"])
    source = SourceRecord.objects.get(source_key="mdm-web")
    posts = {
        reverse("assets:source_split", args=[source.pk]): {},
        reverse("assets:event_undo", args=[event.pk]): {},
        reverse("assets:merge"): {"survivor": str(first.uuid), "assets": [str(second.uuid)]},
        reverse("assets:rule_create"): {"name": "Mine", "attribute_1": "fqdn"},
        reverse("assets:rule_edit", args=[rule.pk]): {"name": "Renamed", "attribute_1": "fqdn"},
        reverse("assets:rule_delete", args=[rule.pk]): {},
    }
    for url, data in posts.items():
        assert viewer_ui.post(url, data).status_code == 403, url
    for url in (
        reverse("assets:rule_create"),
        reverse("assets:rule_edit", args=[rule.pk]),
        reverse("assets:rule_delete", args=[rule.pk]),
    ):
        assert viewer_ui.get(url).status_code == 403, url
    event.refresh_from_db()
    source.refresh_from_db()
    assert not event.undone and source.asset == web
    assert IdentificationRule.objects.filter(pk=rule.pk, name="Custom").exists()
    assert not IdentificationRule.objects.filter(name="Mine").exists()


def test_anonymous_is_sent_to_login(client, defaults):
    response = client.get(LIST)
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_rule_list_shows_recent_rule_changes(admin_ui, connector_admin):
    from assets.inventory import create_identification_rule, update_identification_rule

    rule = create_identification_rule(
        name="Serial + MAC", attributes=["serial_number", "mac_address"], actor=connector_admin
    )
    update_identification_rule(rule, name="Serial and MAC", actor=connector_admin)
    page = admin_ui.get(reverse("assets:rule_list")).content.decode()
    assert "Recent changes" in page and "Created" in page and "Changed" in page
    assert "name: Serial + MAC → Serial and MAC" in page and "carol" in page
