"""The Connectors app as an admin, a viewer and a stranger see it: pages, HTMX partials, writes and their audit rows."""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assets.engine.records import AssetRecord
from assets.models import Asset, IdentificationRule, RuleSelection, SourceRecord
from assets.services import engine_config, process_chunk
from connectors.choices import ConnectorAction, Module, PayloadFormat, SignatureScheme
from connectors.formats import parse
from connectors.inbox import send_test_delivery
from connectors.models import Connector, ConnectorEvent, Delivery
from connectors.services import set_enabled, token_matches, verification_secrets
from connectors.views import ONE_TIME_SECRETS_KEY, sample_payload
from connectors.worker import process_delivery

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
LIST_URL = reverse("connectors:connector_list")


def url(name: str, *args) -> str:
    return reverse(f"connectors:{name}", args=args)


def add_source(connector, key: str, asset: Asset | None = None, **fields) -> Asset:
    """A source record of ``connector`` pointing at ``asset`` (a new one if not given)."""
    asset = asset or Asset.objects.create(hostname=key)
    now = timezone.now()
    SourceRecord.objects.create(
        connector=connector, source_key=key, asset=asset, first_seen=now, last_seen=now, **fields
    )
    return asset


def text(response) -> str:
    return response.content.decode()


def events(connector, action) -> list[ConnectorEvent]:
    return list(ConnectorEvent.objects.filter(connector_name=connector.name, action=action))


# --- Integrations ------------------------------------------------------------------------------------------------


def test_integrations_shows_the_webhook_card_with_its_menu(admin_ui, make_connector):
    make_connector("CMDB")
    set_enabled(make_connector("MDM"), False)
    response = admin_ui.get(url("integrations"))
    page = text(response)
    assert response.status_code == 200
    assert "Webhook" in page
    assert "2</strong> connectors" in page
    assert "1 enabled" in page
    assert '<details class="menu">' in page
    assert f'href="{LIST_URL}">Manage</a>' in page
    assert f'href="{url("connector_create")}">Create connector</a>' in page
    assert "/rest/2.0/am/connector/asset/data/sync" in page


def test_integrations_hides_create_from_viewers(viewer_ui):
    page = text(viewer_ui.get(url("integrations")))
    assert ">Manage</a>" in page
    assert "Create connector" not in page


# --- Manage Connectors -------------------------------------------------------------------------------------------


def test_list_shows_each_connector_with_state_status_and_live_asset_count(admin_ui, make_connector):
    cmdb = make_connector("CMDB", description="Nightly CMDB export")
    mdm = make_connector("MDM", modules=[Module.DELIVERY_LOG])
    set_enabled(mdm, False)
    shared = add_source(cmdb, "a")
    add_source(cmdb, "b")
    add_source(mdm, "m", asset=shared)  # another connector's record does not count for cmdb twice
    add_source(cmdb, "gone", deleted=True)  # deleted by the source: no longer counted
    add_source(cmdb, "old", asset=Asset.objects.create(hostname="old", retired=True))
    Connector.objects.filter(pk=cmdb.pk).update(last_delivery_at=timezone.now(), last_result="partial")

    response = admin_ui.get(LIST_URL)
    page = text(response)
    assert response.status_code == 200
    rows = {row.split("</a>")[0].rsplit(">", 1)[-1]: row for row in page.split("<tr>")[2:]}
    assert set(rows) == {"CMDB", "MDM"}
    assert "Nightly CMDB export" in rows["CMDB"]
    assert (
        "Enabled" in rows["CMDB"]
        and "Partial success" in rows["CMDB"]
        and ("ago</time>" in rows["CMDB"] or "just now</time>" in rows["CMDB"])
    )
    assert re.search(r'class="num"><a [^>]*>2</a>', rows["CMDB"])
    assert re.search(r'class="num"><a [^>]*>1</a>', rows["MDM"])
    assert "Delivery log" in rows["MDM"] and "badge disabled" in rows["MDM"] and "Never" in rows["MDM"]
    assert f'href="/csam/assets/?connector={cmdb.uuid}"' in rows["CMDB"]
    assert f'href="{url("delivery_list", cmdb.uuid)}"' in rows["CMDB"]
    assert f'href="{url("connector_rules", cmdb.uuid)}"' in rows["CMDB"]


def test_list_htmx_request_gets_only_the_results_partial(admin_ui, connector):
    response = admin_ui.get(LIST_URL, {"q": "cm"}, headers=HTMX)
    page = text(response)
    assert response.status_code == 200
    assert "<html" not in page and '<form id="connector-filters"' not in page
    assert connector.name in page and "<table" in page
    assert "HX-Request" in response["Vary"]


def test_list_history_restore_gets_the_full_page(admin_ui, connector):
    response = admin_ui.get(LIST_URL, headers=HTMX | {"HX-History-Restore-Request": "true"})
    assert "<html" in text(response)


def test_list_full_page_has_live_search_that_works_without_js(admin_ui, connector):
    page = text(admin_ui.get(LIST_URL))
    assert 'hx-trigger="input changed delay:300ms, search"' in page
    assert 'hx-push-url="true"' in page
    assert f'method="get" action="{LIST_URL}"' in page
    assert '<button class="btn" type="submit">Search</button>' in page
    assert '<div id="results">' in page


@pytest.mark.parametrize("query", ["cmdb", "NIGHTLY", "export cm"])
def test_search_matches_name_or_description_ignoring_case(admin_ui, make_connector, query):
    make_connector("CMDB", description="Nightly export")
    make_connector("Intune")
    page = text(admin_ui.get(LIST_URL, {"q": query}, headers=HTMX))
    assert ">CMDB</a>" in page
    assert ">Intune</a>" not in page
    assert "1 connector match" in page


def test_search_without_match_says_so_and_offers_to_clear(admin_ui, connector):
    page = text(admin_ui.get(LIST_URL, {"q": "nothing-like-this"}))
    assert "No connector matches “nothing-like-this”" in page
    assert "Clear search and filters" in page
    assert "No connectors yet" not in page


def test_empty_list_points_to_create_connector(admin_ui):
    page = text(admin_ui.get(LIST_URL))
    assert "No connectors yet" in page
    assert f'href="{url("connector_create")}"' in page


def test_empty_list_for_a_viewer_has_no_create_button(viewer_ui):
    page = text(viewer_ui.get(LIST_URL))
    assert "No connectors yet" in page
    assert "Ask a Connector admin" in page
    assert url("connector_create") not in page


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"enabled": "false"}, {"Off"}),
        ({"enabled": "true"}, {"CMDB", "Logger"}),
        ({"module": "log"}, {"Logger"}),
        ({"module": "csam"}, {"CMDB", "Off"}),
        ({"payload_format": "csam"}, {"CMDB"}),
    ],
)
def test_filters(admin_ui, make_connector, params, expected):
    make_connector("CMDB", payload_format=PayloadFormat.CSAM)
    make_connector("Logger", modules=[Module.DELIVERY_LOG])
    set_enabled(make_connector("Off"), False)
    page = text(admin_ui.get(LIST_URL, params, headers=HTMX))
    shown = set(re.findall(r'<td><a href="/connectors/[^"]+/">([^<]+)</a></td>', page))
    assert shown == expected


def names_in_order(response) -> list[str]:
    return re.findall(r'<td><a href="/connectors/[^"]+/">([^<]+)</a></td>', text(response))


def test_sort_by_name_both_ways_and_links_reverse_the_order(admin_ui, make_connector):
    for name in ("beta", "Alpha", "gamma"):
        make_connector(name)
    assert names_in_order(admin_ui.get(LIST_URL)) == ["Alpha", "beta", "gamma"]
    response = admin_ui.get(LIST_URL, {"sort": "-name"})
    assert names_in_order(response) == ["gamma", "beta", "Alpha"]
    # The header link sorts ascending again, with a real href and hx-get, keeping the search.
    page = text(admin_ui.get(LIST_URL, {"sort": "-name", "q": "a", "page": "1"}))
    assert 'href="/connectors/?q=a&amp;sort=name" hx-get="/connectors/?q=a&amp;sort=name"' in page
    assert 'aria-sort="descending"' in page


def test_sort_by_assets_last_delivery_state_and_created(admin_ui, make_connector):
    few, many, none = make_connector("few"), make_connector("many"), make_connector("none")
    add_source(few, "f1")
    for key in ("m1", "m2", "m3"):
        add_source(many, key)
    now = timezone.now()
    Connector.objects.filter(pk=few.pk).update(last_delivery_at=now)
    Connector.objects.filter(pk=many.pk).update(last_delivery_at=now - timedelta(hours=1))
    set_enabled(none, False)
    assert names_in_order(admin_ui.get(LIST_URL, {"sort": "-assets"})) == ["many", "few", "none"]
    assert names_in_order(admin_ui.get(LIST_URL, {"sort": "assets"})) == ["none", "few", "many"]
    assert names_in_order(admin_ui.get(LIST_URL, {"sort": "-last_delivery"})) == ["few", "many", "none"]
    assert names_in_order(admin_ui.get(LIST_URL, {"sort": "state"}))[0] == "none"
    assert names_in_order(admin_ui.get(LIST_URL, {"sort": "-created"})) == ["none", "many", "few"]
    assert names_in_order(admin_ui.get(LIST_URL, {"sort": "password"})) == ["few", "many", "none"]


def test_pagination_has_real_links(admin_ui, make_connector):
    for index in range(30):
        make_connector(f"Connector {index:02d}")
    first = admin_ui.get(LIST_URL)
    assert len(names_in_order(first)) == 25
    assert "Page 1 of 2" in text(first)
    assert 'href="/connectors/?page=2" hx-get="/connectors/?page=2"' in text(first)
    second = admin_ui.get(LIST_URL, {"page": 2}, headers=HTMX)
    assert names_in_order(second) == [f"Connector {index}" for index in range(25, 30)]
    assert 'rel="prev" href="/connectors/?page=1"' in text(second)
    assert admin_ui.get(LIST_URL, {"page": "999"}).status_code == 200  # out of range: the last page


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(LIST_URL).status_code == 200
    return len(queries)


def test_list_query_count_does_not_grow_with_the_page(admin_ui, make_connector, django_assert_max_num_queries):
    for index in range(3):
        add_source(make_connector(f"small {index}"), f"key-{index}")
    baseline = _list_queries(admin_ui)
    for index in range(27):
        add_source(make_connector(f"big {index}"), f"other-{index}")
    with django_assert_max_num_queries(baseline):
        response = admin_ui.get(LIST_URL)
    assert len(names_in_order(response)) == 25


# --- Create, ready ------------------------------------------------------------------------------------------------


def create_payload(**overrides) -> dict:
    return {
        "name": "ServiceNow CMDB",
        "description": "Nightly export",
        "modules": [Module.CSAM],
        "payload_format": PayloadFormat.NATIVE,
        "trust_rank": "60",
    } | overrides


def test_create_form_has_basic_details_with_csam_checked_and_advanced_defaults(admin_ui):
    page = text(admin_ui.get(url("connector_create")))
    assert "Basic Details" in page and "Advanced" in page
    assert re.search(r'<input type="checkbox" name="modules" value="csam"[^>]*checked', page)
    assert not re.search(r'<input type="checkbox" name="modules" value="log"[^>]*checked', page)
    assert "pass this connector&#x27;s assets to the asset inventory" in page
    assert 'value="50"' in page  # trust rank default
    assert '<option value="native" selected>' in page


def test_create_leads_to_ready_page_that_shows_the_secrets_once(admin_ui, connector_admin):
    response = admin_ui.post(url("connector_create"), create_payload())
    connector = Connector.objects.get(name="ServiceNow CMDB")
    assert response.status_code == 302
    assert response["Location"] == url("connector_ready", connector.uuid)
    assert connector.description == "Nightly export"
    assert connector.trust_rank == 60
    assert connector.created_by == connector_admin
    assert RuleSelection.objects.filter(connector=connector).count() == IdentificationRule.objects.count()
    assert [event.actor for event in events(connector, ConnectorAction.CREATED)] == [connector_admin]

    ready = admin_ui.get(response["Location"])
    page = text(ready)
    assert "Your connector is ready" in page
    assert f"http://testserver/webhooks/{connector.uuid}" in page
    token = re.search(r'<code id="token">(chk_[^<]+)</code>', page).group(1)
    assert token_matches(connector, token)
    assert f'<code id="signing-secret">{connector.signing_secret}</code>' in page
    assert f'-H "Authorization: Bearer {token}"' in html.unescape(page)
    assert 'data-copy="token"' in page and 'data-copy="signing-secret"' in page
    assert "no-store" in ready["Cache-Control"]

    again = text(admin_ui.get(response["Location"]))
    assert token not in again
    assert connector.signing_secret not in again
    assert "shown once and are no longer displayed" in again
    assert ONE_TIME_SECRETS_KEY + str(connector.uuid) not in admin_ui.session


def test_create_with_htmx_redirects_on_the_client(admin_ui):
    response = admin_ui.post(url("connector_create"), create_payload(), headers=HTMX)
    connector = Connector.objects.get()
    assert response.status_code == 200
    assert response["HX-Redirect"] == url("connector_ready", connector.uuid)


@pytest.mark.parametrize(
    ("field", "overrides", "message"),
    [
        ("name", {"name": "cmdb"}, "A connector named “CMDB” already exists"),
        ("name", {"name": "  CMDB "}, "already exists"),
        ("name", {"name": "x" * 101}, "Use at most 100 characters (this name has 101)."),
        ("name", {"name": ""}, "Enter a name for the connector."),
        ("description", {"description": "d" * 1001}, "Use at most 1000 characters"),
        ("trust_rank", {"trust_rank": "101"}, "less than or equal to 100"),
    ],
)
def test_create_shows_errors_next_to_the_field(admin_ui, make_connector, field, overrides, message):
    make_connector("CMDB")
    response = admin_ui.post(url("connector_create"), create_payload(**overrides))
    page = text(response)
    assert response.status_code == 200
    assert Connector.objects.count() == 1
    error = re.search(rf'<p class="error" id="id_{field}_error" role="alert">([^<]+)</p>', page)
    assert error and message in error.group(1).replace("&ldquo;", "“").replace("&rdquo;", "”")
    assert re.search(rf'id="id_{field}"[^>]*|[^>]*id="id_{field}"', page)
    control = re.search(rf"<(?:input|textarea)[^>]*id=\"id_{field}\"[^>]*>", page).group(0)
    assert 'aria-invalid="true"' in control
    assert f"id_{field}_error" in control  # aria-describedby points at the message


def test_create_without_a_module_says_choose_one(admin_ui):
    response = admin_ui.post(url("connector_create"), create_payload(modules=[]))
    page = text(response)
    assert not Connector.objects.exists()
    assert '<p class="error" id="id_modules_error" role="alert">Choose at least one module.</p>' in page
    assert 'aria-describedby="id_modules_error"' in page


def test_create_keeps_modules_in_a_stable_order(admin_ui):
    admin_ui.post(url("connector_create"), create_payload(modules=[Module.DELIVERY_LOG, Module.CSAM]))
    assert Connector.objects.get().modules == "csam,log"


# --- Connector page -----------------------------------------------------------------------------------------------


def test_detail_shows_settings_masked_credentials_deliveries_and_audit(admin_ui, connector, connector_admin):
    Delivery.objects.create(connector=connector, status="processed", records_received=3, records_created=2)
    page = text(admin_ui.get(url("connector_detail", connector.uuid)))
    assert f"<h1>{connector.name}" in page
    assert f"http://testserver/webhooks/{connector.uuid}" in page
    assert f"<code>{connector.token_hint}…</code>" in page
    assert connector.credentials.token not in page
    assert connector.signing_secret not in page
    assert "whsec_••••••••" in page
    assert "Native JSON" in page and "Trust rank" in page
    assert "Processed" in page and f'href="{url("delivery_list", connector.uuid)}"' in page
    assert "Audit trail" in page and "carol" in page and "Created" in page
    assert "Create unmanaged asset: on." in page
    assert "{% block" not in page
    assert f'href="{url("connector_rotate_secret", connector.uuid)}"' in page
    assert "CSAM is off" not in page


def test_detail_says_when_csam_is_off(admin_ui, make_connector):
    logger = make_connector("Logger", modules=[Module.DELIVERY_LOG])
    page = text(admin_ui.get(url("connector_detail", logger.uuid)))
    assert "CSAM is off for this connector" in page
    assert "do not change the asset inventory" in page


def test_detail_shows_how_to_set_up_netbox(admin_ui, make_connector):
    netbox = make_connector("NetBox", payload_format=PayloadFormat.NETBOX, signature_scheme=SignatureScheme.NETBOX)
    page = text(admin_ui.get(url("connector_detail", netbox.uuid)))
    assert "Set up NetBox" in page
    assert f"http://testserver/webhooks/{netbox.uuid}" in page
    assert "<code>POST</code> (or <code>PUT</code>" in page and "<code>application/json</code>" in page
    assert "whole signing secret, <code>whsec_…</code> included" in page
    assert f'href="{url("connector_rotate_secret", netbox.uuid)}"' in page
    for ticked in ("DCIM › Device", "Virtualization › Virtual machine", "DCIM › Interface", "IPAM › IP address"):
        assert ticked in page
    assert "Object created" in page and "Object deleted" in page
    assert "not NetBox" not in page
    assert "Set up a Qualys CSAM script" not in page


def test_detail_warns_when_a_netbox_connector_has_another_scheme(admin_ui, make_connector):
    netbox = make_connector("NetBox", payload_format=PayloadFormat.NETBOX)
    page = text(admin_ui.get(url("connector_detail", netbox.uuid)))
    assert "The signature scheme is Standard Webhooks" in page and "not NetBox" in page
    assert "<code>401</code>" in page


def test_detail_shows_how_to_set_up_a_qualys_script(admin_ui, make_connector):
    csam = make_connector("Qualys loader", payload_format=PayloadFormat.CSAM)
    page = text(admin_ui.get(url("connector_detail", csam.uuid)))
    assert "Set up a Qualys CSAM script" in page
    assert '<code class="wrap">http://testserver</code>' in page
    assert "<code>http://testserver/auth</code>" in page
    assert "<strong>Senders</strong> role" in page
    assert "connectorMetaData.connectorUuid" in page and str(csam.uuid) in page
    assert "http://testserver/rest/2.0/am/connector/asset/data/sync" in page
    assert "Set up NetBox" not in page


def test_native_connector_has_no_sender_setup_card(admin_ui, connector):
    page = text(admin_ui.get(url("connector_detail", connector.uuid)))
    assert "Set up NetBox" not in page and "Set up a Qualys CSAM script" not in page


def test_netbox_test_delivery_and_sample_are_netbox_bodies(make_connector):
    netbox = make_connector("NetBox", payload_format=PayloadFormat.NETBOX)
    assert parse("netbox", sample_payload(netbox)).records[0].source_key == "dcim.device:999999"
    delivery = send_test_delivery(netbox)
    assert process_delivery(delivery.pk) == "processed"
    assert Asset.objects.get().serial_number == "TEST-CONNECTOR-0001"


def test_detail_of_unknown_connector_is_404(admin_ui):
    assert admin_ui.get(url("connector_detail", uuid.uuid4())).status_code == 404


# --- Edit, enable/disable, delete, rotate ------------------------------------------------------------------------


def test_edit_form_starts_with_current_values_and_saves_through_the_service(admin_ui, connector, connector_admin):
    page = text(admin_ui.get(url("connector_edit", connector.uuid)))
    assert f'value="{connector.name}"' in page and 'value="50"' in page
    response = admin_ui.post(
        url("connector_edit", connector.uuid),
        create_payload(name="cmdb", trust_rank="90", require_signature="on", modules=["csam", "log"]),
    )
    assert response.status_code == 302 and response["Location"] == url("connector_detail", connector.uuid)
    connector.refresh_from_db()
    assert (connector.name, connector.trust_rank, connector.require_signature) == ("cmdb", 90, True)
    assert connector.modules == "csam,log"
    (event,) = events(connector, ConnectorAction.EDITED)
    assert event.actor == connector_admin
    assert event.details["changes"]["trust_rank"] == [50, 90]
    assert event.details["changes"]["name"] == ["CMDB", "cmdb"]
    detail = text(admin_ui.get(response["Location"]))
    assert "Saved the changes to cmdb." in detail
    assert "trust rank: 50 → 90" in detail


def test_edit_refuses_the_name_of_another_connector(admin_ui, make_connector):
    make_connector("CMDB")
    other = make_connector("MDM")
    response = admin_ui.post(url("connector_edit", other.uuid), create_payload(name="Cmdb"))
    assert "already exists" in text(response)
    other.refresh_from_db()
    assert other.name == "MDM"


def test_edit_without_change_writes_no_audit_row(admin_ui, connector):
    admin_ui.post(
        url("connector_edit", connector.uuid),
        create_payload(name="CMDB", description="", trust_rank="50"),
    )
    assert not events(connector, ConnectorAction.EDITED)


def test_disable_and_enable_write_audit_rows(admin_ui, connector, connector_admin):
    response = admin_ui.post(url("connector_disable", connector.uuid))
    assert response["Location"] == url("connector_detail", connector.uuid)
    connector.refresh_from_db()
    assert not connector.enabled
    page = text(admin_ui.get(response["Location"]))
    assert "is disabled" in page and "Disabled" in page
    admin_ui.post(url("connector_enable", connector.uuid), headers=HTMX)
    connector.refresh_from_db()
    assert connector.enabled
    assert [e.actor for e in events(connector, ConnectorAction.DISABLED)] == [connector_admin]
    assert [e.actor for e in events(connector, ConnectorAction.ENABLED)] == [connector_admin]


def test_enable_answers_htmx_with_a_client_redirect_and_honours_a_local_next(admin_ui, connector):
    next_url = f"{LIST_URL}?q=cm"
    response = admin_ui.post(url("connector_disable", connector.uuid), {"next": next_url}, headers=HTMX)
    assert response["HX-Redirect"] == next_url
    response = admin_ui.post(url("connector_enable", connector.uuid), {"next": "https://evil.example/"})
    assert response["Location"] == url("connector_detail", connector.uuid)


def test_enable_and_disable_refuse_get(admin_ui, connector):
    assert admin_ui.get(url("connector_disable", connector.uuid)).status_code == 405
    connector.refresh_from_db()
    assert connector.enabled


def test_delete_confirmation_explains_what_happens_to_the_assets(admin_ui, make_connector):
    cmdb, mdm = make_connector("CMDB"), make_connector("MDM")
    add_source(cmdb, "only-here")
    add_source(cmdb, "also-there", asset=add_source(mdm, "mdm-key"))
    Delivery.objects.create(connector=cmdb)
    page = text(admin_ui.get(url("connector_delete", cmdb.uuid)))
    assert "Delete CMDB?" in page
    assert "<strong>2</strong> source records" in page
    assert "<strong>1</strong> delivery" in page
    assert "<strong>1</strong> asset no other source reports will be <strong>retired, not erased</strong>" in page
    assert "<strong>1</strong> asset also reported by another connector stays live" in page
    assert Connector.objects.filter(pk=cmdb.pk).exists()


def test_delete_removes_the_connector_and_retires_its_orphaned_assets(admin_ui, make_connector, connector_admin):
    cmdb, mdm = make_connector("CMDB"), make_connector("MDM")
    orphan = add_source(cmdb, "only-here")
    shared = add_source(cmdb, "also-there", asset=add_source(mdm, "mdm-key"))
    response = admin_ui.post(url("connector_delete", cmdb.uuid))
    assert response["Location"] == LIST_URL
    assert not Connector.objects.filter(pk=cmdb.pk).exists()
    orphan.refresh_from_db()
    shared.refresh_from_db()
    assert orphan.retired and not shared.retired
    (event,) = ConnectorEvent.objects.filter(action=ConnectorAction.DELETED)
    assert (event.connector, event.connector_name, event.actor) == (None, "CMDB", connector_admin)
    assert "Deleted CMDB; 1 asset no other source reports were retired." in text(admin_ui.get(LIST_URL))


def test_rotate_secret_confirms_the_overlap_then_shows_the_new_secret_once(admin_ui, connector, settings):
    settings.SECRET_ROTATION_OVERLAP_HOURS = 12
    old = connector.signing_secret
    page = text(admin_ui.get(url("connector_rotate_secret", connector.uuid)))
    assert "keeps verifying signatures for 12 hours" in page
    response = admin_ui.post(url("connector_rotate_secret", connector.uuid))
    assert response["Location"] == url("connector_ready", connector.uuid)
    connector.refresh_from_db()
    assert connector.signing_secret != old
    assert verification_secrets(connector) == [connector.signing_secret, old]
    assert len(events(connector, ConnectorAction.SECRET_ROTATED)) == 1
    ready = text(admin_ui.get(response["Location"]))
    assert f'<code id="signing-secret">{connector.signing_secret}</code>' in ready
    assert 'id="token"' not in ready
    assert "Bearer $CONNECTOR_TOKEN" in ready
    assert connector.signing_secret not in text(admin_ui.get(response["Location"]))
    # A second rotation within the overlap warns that the older secret stops now.
    assert "rotating again stops it now" in text(admin_ui.get(url("connector_rotate_secret", connector.uuid)))


def test_rotate_token_is_immediate_and_shows_the_new_token_once(admin_ui, connector):
    old = connector.credentials.token
    assert "stops working immediately" in text(admin_ui.get(url("connector_rotate_token", connector.uuid)))
    response = admin_ui.post(url("connector_rotate_token", connector.uuid), headers=HTMX)
    assert response["HX-Redirect"] == url("connector_ready", connector.uuid)
    connector.refresh_from_db()
    assert not token_matches(connector, old)
    ready = text(admin_ui.get(url("connector_ready", connector.uuid)))
    token = re.search(r'<code id="token">(chk_[^<]+)</code>', ready).group(1)
    assert token_matches(connector, token)
    assert "The previous token no longer works." in ready
    assert len(events(connector, ConnectorAction.TOKEN_ROTATED)) == 1


@pytest.mark.parametrize("payload_format", [PayloadFormat.NATIVE, PayloadFormat.CSAM])
def test_the_curl_example_body_is_a_valid_delivery(make_connector, payload_format):
    connector = make_connector(payload_format=payload_format)
    batch = parse(payload_format, sample_payload(connector))
    assert len(batch.records) == 1 and not batch.errors


# --- Bulk actions -------------------------------------------------------------------------------------------------


def test_bulk_disable_and_enable_the_selection(admin_ui, make_connector):
    a, b, c = make_connector("A"), make_connector("B"), make_connector("C")
    response = admin_ui.post(
        url("connector_bulk"), {"action": "disable", "selected": [a.uuid, b.uuid], "next": f"{LIST_URL}?q=x"}
    )
    assert response["Location"] == f"{LIST_URL}?q=x"
    assert set(Connector.objects.filter(enabled=False).values_list("name", flat=True)) == {"A", "B"}
    assert len(ConnectorEvent.objects.filter(action=ConnectorAction.DISABLED)) == 2
    admin_ui.post(url("connector_bulk"), {"action": "enable", "selected": [a.uuid, c.uuid]})
    assert set(Connector.objects.filter(enabled=False).values_list("name", flat=True)) == {"B"}
    assert len(ConnectorEvent.objects.filter(action=ConnectorAction.ENABLED)) == 1  # C was already on
    assert "Enabled 1 connector (1 already enabled)." in text(admin_ui.get(LIST_URL))


def test_bulk_delete_asks_first_then_deletes(admin_ui, make_connector):
    a, b = make_connector("A"), make_connector("B")
    keep = make_connector("Keep")
    orphan = add_source(a, "a-1")
    page = text(admin_ui.post(url("connector_bulk"), {"action": "delete", "selected": [a.uuid, b.uuid]}))
    assert "Delete 2 connectors?" in page
    assert "<strong>1</strong> asset no other source reports" in page
    assert Connector.objects.count() == 3
    response = admin_ui.post(url("connector_bulk"), {"action": "delete", "confirm": "on", "selected": [a.uuid, b.uuid]})
    assert response.status_code == 302
    assert list(Connector.objects.all()) == [keep]
    orphan.refresh_from_db()
    assert orphan.retired
    assert ConnectorEvent.objects.filter(action=ConnectorAction.DELETED).count() == 2


def test_bulk_without_selection_says_so(admin_ui, connector):
    response = admin_ui.post(url("connector_bulk"), {"action": "disable"}, follow=True)
    assert "Select at least one connector first." in text(response)
    response = admin_ui.post(url("connector_bulk"), {"action": "disable", "selected": ["not-a-uuid"]}, follow=True)
    assert "The selection is not valid" in text(response)
    connector.refresh_from_db()
    assert connector.enabled


# --- Roles --------------------------------------------------------------------------------------------------------


def write_urls(connector) -> list[str]:
    rule_id = connector.rule_selection.filter(rule__is_system=False).first().rule_id
    return [
        url("connector_create"),
        url("connector_bulk"),
        url("connector_ready", connector.uuid),
        url("connector_edit", connector.uuid),
        url("connector_enable", connector.uuid),
        url("connector_disable", connector.uuid),
        url("connector_delete", connector.uuid),
        url("connector_rotate_secret", connector.uuid),
        url("connector_rotate_token", connector.uuid),
        url("connector_rule_required", connector.uuid, rule_id),
        url("connector_rule_move", connector.uuid, rule_id),
        url("connector_rule_options", connector.uuid),
    ]


def test_viewers_get_403_on_every_write_url_whatever_the_method(viewer_ui, connector):
    for address in write_urls(connector):
        assert viewer_ui.get(address).status_code == 403, address
        assert viewer_ui.post(address, {"action": "disable", "selected": [connector.uuid]}).status_code == 403, address
    connector.refresh_from_db()
    assert connector.enabled
    assert Connector.objects.count() == 1
    assert ConnectorEvent.objects.exclude(action=ConnectorAction.CREATED).count() == 0


def test_viewers_see_no_write_buttons(viewer_ui, connector):
    listing = text(viewer_ui.get(LIST_URL))
    assert "Create Connector" not in listing
    assert 'name="selected"' not in listing and "Actions for selected" not in listing
    assert url("connector_edit", connector.uuid) not in listing
    assert url("connector_rules", connector.uuid) in listing  # read-only links stay
    detail = text(viewer_ui.get(url("connector_detail", connector.uuid)))
    for write in write_urls(connector):
        assert f'"{write}"' not in detail, write
    rules = text(viewer_ui.get(url("connector_rules", connector.uuid)))
    assert 'role="switch"' not in rules and "Move" not in rules
    assert "Required" in rules and "Preview identification" in rules


@pytest.mark.parametrize("name", ["integrations", "connector_list", "connector_create"])
def test_anonymous_users_are_sent_to_login(client, name):
    response = client.get(url(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_anonymous_post_is_sent_to_login_and_changes_nothing(client, connector):
    response = client.post(url("connector_disable", connector.uuid))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    connector.refresh_from_db()
    assert connector.enabled


def test_every_page_renders_for_a_viewer(viewer_ui, connector):
    for address in [
        url("integrations"),
        LIST_URL,
        url("connector_detail", connector.uuid),
        url("connector_rules", connector.uuid),
        url("delivery_list", connector.uuid),
    ]:
        assert viewer_ui.get(address).status_code == 200, address


# --- Asset Identification Rules ---------------------------------------------------------------------------------


def selection(connector) -> list[tuple[str, bool]]:
    return [(item.rule.name, item.enabled) for item in connector.rule_selection.select_related("rule")]


def rule(name: str) -> IdentificationRule:
    return IdentificationRule.objects.get(name=name)


def test_rules_page_lists_the_selection_in_order(admin_ui, connector):
    page = text(admin_ui.get(url("connector_rules", connector.uuid)))
    names = re.findall(r"<strong>([^<]+)</strong>\s*(?:<span class=\"attrs\">|\{|\n)", page)
    assert names[:3] == ["Source native key", "Serial number", "Hardware UUID"]
    assert "Always on" in page
    assert 'aria-label="Required: Source native key"' not in page  # the system rule has no toggle
    assert page.count('role="switch"') == 8 + 2  # 8 rules + 2 options
    first_up = re.search(rf'id="move-up-{rule("Serial number").pk}"[^>]*>', page).group(0)
    assert "disabled" in first_up
    assert "Hostname + IP address" in page and "Same hostname and a shared IP address." in page
    assert "Create unmanaged asset" in page and "Apply default rule" in page


def test_turning_a_rule_off_persists_and_is_audited(admin_ui, connector, connector_admin):
    serial = rule("Serial number")
    response = admin_ui.post(url("connector_rule_required", connector.uuid, serial.pk), {"required": "0"})
    assert response["Location"] == url("connector_rules", connector.uuid)
    assert ("Serial number", False) in selection(connector)
    (event,) = events(connector, ConnectorAction.RULES_CHANGED)
    assert event.details == {"required": {"Serial number": False}} and event.actor == connector_admin
    assert "Serial number is now off." in text(admin_ui.get(response["Location"]))


def test_turning_a_rule_on_with_htmx_swaps_the_list_and_keeps_focus(admin_ui, connector):
    hostname = rule("Hostname")
    response = admin_ui.post(
        url("connector_rule_required", connector.uuid, hostname.pk), {"required": "1"}, headers=HTMX
    )
    page = text(response)
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="rule-list"')
    assert ("Hostname", True) in selection(connector)
    assert re.search(rf'id="toggle-{hostname.pk}"\s+aria-checked="true"[^>]*autofocus', page)
    assert "Hostname is now required." in page


def test_turning_off_the_last_rule_shows_an_error_next_to_the_list(admin_ui, connector):
    others = connector.rule_selection.filter(rule__is_system=False)
    others.exclude(rule__name="FQDN").update(enabled=False)
    fqdn = rule("FQDN")
    before = selection(connector)
    response = admin_ui.post(url("connector_rule_required", connector.uuid, fqdn.pk), {"required": "0"}, headers=HTMX)
    assert response.status_code == 200
    assert '<p class="form-error" id="rules-error" role="alert">At least one identification rule' in text(response)
    assert selection(connector) == before
    response = admin_ui.post(url("connector_rule_required", connector.uuid, fqdn.pk), {"required": "0"})
    assert response.status_code == 400
    assert "At least one identification rule besides Source native key must stay on." in text(response)
    assert selection(connector) == before


def test_turning_off_the_system_rule_is_refused_with_a_message(admin_ui, connector):
    system = rule("Source native key")
    response = admin_ui.post(url("connector_rule_required", connector.uuid, system.pk), {"required": "0"})
    assert response.status_code == 400
    assert "Source native key is a system rule and cannot be turned off." in text(response)
    assert selection(connector)[0] == ("Source native key", True)


def test_toggling_a_rule_that_is_not_in_the_selection_is_refused(admin_ui, connector):
    response = admin_ui.post(url("connector_rule_required", connector.uuid, 999999), {"required": "0"}, headers=HTMX)
    assert response.status_code == 200
    assert "not part of this connector" in text(response)


def test_moving_rules_up_and_down_persists(admin_ui, connector):
    mac = rule("MAC address")
    response = admin_ui.post(url("connector_rule_move", connector.uuid, mac.pk), {"direction": "up"}, headers=HTMX)
    names = [name for name, _ in selection(connector)]
    assert names[:5] == ["Source native key", "Serial number", "Hardware UUID", "MAC address", "Cloud instance ID"]
    assert re.search(rf'id="move-up-{mac.pk}"[^>]*>', text(response))
    assert "autofocus" in re.search(rf'id="move-up-{mac.pk}"[^>]*>', text(response).replace("\n", " ")).group(0)
    admin_ui.post(url("connector_rule_move", connector.uuid, mac.pk), {"direction": "down"})
    admin_ui.post(url("connector_rule_move", connector.uuid, mac.pk), {"direction": "down"})
    names = [name for name, _ in selection(connector)]
    assert names[4:6] == ["FQDN", "MAC address"]
    (first, *_rest) = events(connector, ConnectorAction.RULES_CHANGED)
    assert first.details["order"][:5] == names[:5]


def test_moving_the_first_rule_up_or_the_system_rule_shows_why_not(admin_ui, connector):
    before = selection(connector)
    response = admin_ui.post(
        url("connector_rule_move", connector.uuid, rule("Serial number").pk), {"direction": "up"}, headers=HTMX
    )
    assert "Serial number is already first after the system rule." in text(response)
    response = admin_ui.post(
        url("connector_rule_move", connector.uuid, rule("Source native key").pk), {"direction": "down"}
    )
    assert response.status_code == 400
    assert "system rule: it always comes first" in text(response)
    response = admin_ui.post(url("connector_rule_move", connector.uuid, rule("IP address").pk), {"direction": "down"})
    assert "IP address is already last." in text(response)
    assert selection(connector) == before


def test_moving_a_rule_to_the_top_moves_focus_to_its_other_button(admin_ui, connector):
    hardware = rule("Hardware UUID")
    response = admin_ui.post(url("connector_rule_move", connector.uuid, hardware.pk), {"direction": "up"}, headers=HTMX)
    button = re.search(rf'id="move-down-{hardware.pk}"[^>]*>', text(response).replace("\n", " ")).group(0)
    assert "autofocus" in button


@pytest.mark.parametrize("option", ["create_unmanaged", "apply_default_rule"])
def test_options_are_saved_with_one_click(admin_ui, connector, option):
    response = admin_ui.post(
        url("connector_rule_options", connector.uuid), {"option": option, "value": "0"}, headers=HTMX
    )
    page = text(response)
    assert page.lstrip().startswith('<section class="card" id="options"')
    assert re.search(rf'id="option-{option}"[^>]*\s+aria-checked="false"', page)
    connector.refresh_from_db()
    assert getattr(connector, option) is False
    (event,) = events(connector, ConnectorAction.RULES_CHANGED)
    assert event.details == {option: False}
    admin_ui.post(url("connector_rule_options", connector.uuid), {"option": option, "value": "1"})
    connector.refresh_from_db()
    assert getattr(connector, option) is True


def test_unknown_option_is_refused(admin_ui, connector):
    response = admin_ui.post(url("connector_rule_options", connector.uuid), {"option": "enabled", "value": "0"})
    assert response.status_code == 400
    assert "Choose an option" in text(response)


def test_preview_tells_which_rule_would_decide_without_writing(admin_ui, connector):
    process_chunk(
        connector,
        [AssetRecord(source_key="cmdb-1", hostname="web-01", serial_number="SN-1234")],
        config=engine_config(connector),
    )
    assets_before = Asset.objects.count()
    sources_before = SourceRecord.objects.count()
    record = '{"source_key": "other-key", "hostname": "web-01b", "serial_number": "sn-1234"}'
    response = admin_ui.post(url("connector_rule_preview", connector.uuid), {"record": record}, headers=HTMX)
    page = text(response)
    assert response.status_code == 200
    assert page.lstrip().startswith('<section class="card" id="preview"')
    assert 'Outcome: <span class="badge merged">Merged</span>' in page
    assert "<dt>Deciding rule</dt><dd>Serial number</dd>" in page
    assert "web-01" in page
    assert (Asset.objects.count(), SourceRecord.objects.count()) == (assets_before, sources_before)


def test_preview_of_an_unknown_record_would_create_an_asset(viewer_ui, connector):
    record = '{"source_key": "new-1", "hostname": "lonely"}'
    page = text(viewer_ui.post(url("connector_rule_preview", connector.uuid), {"record": record}))
    assert "<html" in page
    assert 'class="badge created">Created' in page
    assert not Asset.objects.exists()


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("{not json", "This is not valid JSON"),
        ("[1, 2]", "Paste one record"),
        ("", "Paste one record as a JSON object."),
    ],
)
def test_preview_shows_input_errors_next_to_the_field(admin_ui, connector, record, message):
    page = text(admin_ui.post(url("connector_rule_preview", connector.uuid), {"record": record}, headers=HTMX))
    assert re.search(rf'<p class="error" id="id_record_error" role="alert">{re.escape(message)}', page)


def test_preview_reports_record_problems(admin_ui, connector):
    page = text(admin_ui.post(url("connector_rule_preview", connector.uuid), {"record": '{"hostname": "x"}'}))
    assert "The record cannot be identified" in page
    assert "source_key" in page
