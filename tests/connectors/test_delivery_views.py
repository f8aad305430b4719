"""The delivery log, a delivery's page, Replay and Send test delivery, as an admin and a viewer see them."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assets.models import Decision
from connectors.choices import ConnectorAction, DeliveryStatus, PayloadFormat
from connectors.delivery_views import BODY_PREVIEW_BYTES, body_preview, reindent_json
from connectors.inbox import store_delivery
from connectors.models import ConnectorEvent, Delivery
from connectors.services import set_enabled
from connectors.worker import process_delivery

from .helpers import asset

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
POLL = 'hx-trigger="every 2s"'


def url(name: str, *args) -> str:
    return reverse(f"connectors:{name}", args=args)


def text(response) -> str:
    return response.content.decode()


def deliver(connector, payload, *, process: bool = True, **kwargs) -> Delivery:
    """Store a delivery the way the intake does and, unless told not to, process it here and now."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    delivery = store_delivery(connector, body, **kwargs).delivery
    if process:
        process_delivery(delivery.pk)
    return Delivery.objects.get(pk=delivery.pk)


def rows(page: str) -> list[str]:
    return re.findall(r"<tr>\s*<td class=\"nowrap\">.*?</tr>", page, re.DOTALL)


# --- the delivery log ---------------------------------------------------------------------------------------------


def test_log_lists_deliveries_newest_first_with_their_counts(admin_ui, connector):
    first = deliver(connector, {"assets": [asset(1), asset(2), {"hostname": "no key"}]}, idempotency_key="batch-1")
    second = deliver(connector, {"assets": [asset(1)]})
    response = admin_ui.get(url("delivery_list", connector.uuid))
    page = text(response)
    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    newest, oldest = rows(page)
    assert second.get_absolute_url() in newest and first.get_absolute_url() in oldest
    assert '<span class="badge processed">Processed</span>' in newest
    assert '<span class="badge partial">Partial</span>' in oldest
    cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', oldest)
    # records, created, updated, merged, skipped, deleted, errors, attempts, size
    assert cells[:7] == ["3", "2", "0", "0", "0", "0", "1"]  # records, created … errors (attempts only when > 1)
    assert cells[7] == f"{first.size}\xa0bytes"
    assert '<code title="batch-1">batch-1</code>' in oldest
    assert re.findall(r'<td class="num[^"]*">([^<]*)</td>', newest)[:3] == ["1", "0", "1"]  # updated in place
    assert POLL not in page  # nothing pending: no polling
    assert 'href="/connectors/' in page and ">Refresh</a>" in page


def test_log_says_how_long_deliveries_are_kept(admin_ui, connector, settings):
    settings.DELIVERY_RETENTION_DAYS = 30
    assert "kept for 30 days" in text(admin_ui.get(url("delivery_list", connector.uuid)))
    settings.DELIVERY_RETENTION_DAYS = 0
    assert "kept for" not in text(admin_ui.get(url("delivery_list", connector.uuid)))


def test_log_shows_the_test_flag_and_human_readable_sizes(admin_ui, connector):
    deliver(connector, {"assets": [asset(i, attributes={"pad": "x" * 500}) for i in range(5)]}, is_test=True)
    page = text(admin_ui.get(url("delivery_list", connector.uuid)))
    assert '<span class="badge info" title="Sent with Send test delivery">test</span>' in page
    assert re.search(r"<td class=\"num nowrap\">[\d.]+\xa0KB</td>", page)


def test_log_htmx_request_gets_only_the_results_partial(admin_ui, connector):
    deliver(connector, {"assets": [asset(1)]})
    response = admin_ui.get(url("delivery_list", connector.uuid), {"status": "processed"}, headers=HTMX)
    page = text(response)
    assert "<html" not in page and 'id="delivery-filters"' not in page
    assert page.lstrip().startswith('<div id="results"')
    assert "Processed" in page


def test_log_polls_itself_only_while_a_delivery_is_pending(admin_ui, connector):
    queued = deliver(connector, {"assets": [asset(1)]}, process=False)
    address = url("delivery_list", connector.uuid)
    page = text(admin_ui.get(address, {"status": ["queued", "processed"], "page": "1"}))
    polling = re.search(r'<div id="results"([^>]*)>', page).group(1)
    # The same URL and query string, swapping the results partial itself.
    assert f'hx-get="{address}?status=queued&amp;status=processed&amp;page=1"' in polling
    assert POLL in polling and 'hx-swap="outerHTML"' in polling
    assert "Updating every 2 seconds" in page
    partial = text(admin_ui.get(address, headers=HTMX))
    assert POLL in partial

    process_delivery(queued.pk)
    done = text(admin_ui.get(address, headers=HTMX))
    assert POLL not in done and "hx-get" not in done.split(">", 1)[0]
    assert "Processed" in done and ">Refresh</a>" in done


def test_log_shows_the_progress_of_a_processing_delivery(admin_ui, connector):
    delivery = deliver(connector, {"assets": [asset(1)]}, process=False)
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.PROCESSING, records_received=2000)
    page = text(admin_ui.get(url("delivery_list", connector.uuid)))
    assert "2000 records handled so far" in page
    assert 'class="progress indeterminate"' in page
    assert POLL in page


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "rejected"}, {"bad"}),
        ({"status": "processed"}, {"good"}),
        ({"status": ["processed", "rejected"]}, {"good", "bad"}),
        ({"idempotency_key": "key-good"}, {"good"}),
        ({"status": "dead"}, set()),
    ],
)
def test_log_filters_with_the_shared_filterset(admin_ui, connector, params, expected):
    deliver(connector, {"assets": [asset(1)]}, idempotency_key="key-good")
    deliver(connector, b"{not json", idempotency_key="key-bad")
    page = text(admin_ui.get(url("delivery_list", connector.uuid), params, headers=HTMX))
    shown = set(re.findall(r'<code title="key-(\w+)">', page))
    assert shown == expected
    if not expected:
        assert "No delivery matches these filters" in page and ">Clear filters</a>" in page


def test_log_filter_form_works_without_js_and_with_htmx(admin_ui, connector):
    address = url("delivery_list", connector.uuid)
    page = text(admin_ui.get(address, {"status": "rejected"}))
    assert f'method="get" action="{address}"' in page
    assert f'hx-get="{address}" hx-trigger="submit, change" hx-target="#results" hx-swap="outerHTML"' in page
    assert '<option value="rejected" selected>Rejected</option>' in page


def test_log_paginates_with_real_links(admin_ui, connector):
    for index in range(55):
        deliver(connector, {"assets": [asset(index)]}, process=False, idempotency_key=f"k-{index:02d}")
    Delivery.objects.update(status=DeliveryStatus.PROCESSED)
    address = url("delivery_list", connector.uuid)
    first = text(admin_ui.get(address))
    assert len(rows(first)) == 50
    assert "Page 1 of 2" in first and "55 deliveries" in first
    assert f'href="{address}?page=2" hx-get="{address}?page=2" hx-target="#results" hx-swap="outerHTML"' in first
    second = text(admin_ui.get(address, {"page": 2}, headers=HTMX))
    assert re.findall(r'<code title="(k-\d+)">', second) == [f"k-{index:02d}" for index in range(4, -1, -1)]
    assert f'rel="prev" href="{address}?page=1"' in second


def _queries(client, address: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(address).status_code == 200
    return len(queries)


def test_log_query_count_does_not_grow_with_the_page(admin_ui, connector, django_assert_max_num_queries):
    address = url("delivery_list", connector.uuid)
    for index in range(3):
        deliver(connector, {"assets": [asset(index)]})
    baseline = _queries(admin_ui, address)
    for index in range(27):
        deliver(connector, {"assets": [asset(index)]}, process=False)
    with django_assert_max_num_queries(baseline):
        assert len(rows(text(admin_ui.get(address)))) == 30


def test_log_never_loads_the_bodies(admin_ui, connector):
    deliver(connector, {"assets": [asset(1)]})
    with CaptureQueriesContext(connection) as queries:
        admin_ui.get(url("delivery_list", connector.uuid))
    selects = [q["sql"] for q in queries if '"connectors_delivery"."status"' in q["sql"]]
    assert selects and all('"connectors_delivery"."body"' not in sql for sql in selects)


def test_empty_log_explains_how_to_send_a_delivery(admin_ui, connector):
    page = text(admin_ui.get(url("delivery_list", connector.uuid)))
    assert "No delivery yet" in page
    assert f'<a href="{url("connector_detail", connector.uuid)}">connector page</a>' in page
    assert "ready-to-paste example request" in page
    assert "Send test delivery" in page
    assert f'action="{url("connector_test_delivery", connector.uuid)}"' in page


def test_log_of_unknown_connector_is_404(admin_ui):
    assert admin_ui.get(url("delivery_list", uuid.uuid4())).status_code == 404


# --- a delivery's page --------------------------------------------------------------------------------------------


def test_delivery_page_shows_status_timing_counts_and_request(admin_ui, connector):
    delivery = deliver(
        connector, {"assets": [asset(1), asset(2)]}, idempotency_key="nightly-42", headers={"user-agent": "cmdb/2"}
    )
    response = admin_ui.get(delivery.get_absolute_url())
    page = text(response)
    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    assert f'To <a href="{connector.get_absolute_url()}">{connector.name}</a>' in page
    assert '<span class="badge processed" id="delivery-status">Processed</span>' in page
    assert "Every record was identified and written" in page
    assert '<div class="created"><dt>Created</dt><dd>2</dd></div>' in page
    assert "<dt>Started</dt>" in page and "<dt>Finished</dt>" in page and "<dt>Took</dt>" in page
    assert "<code>nightly-42</code>" in page
    assert "<dt><code>user-agent</code></dt><dd><code>cmdb/2</code></dd>" in page
    assert "No record was refused." in page
    assert POLL not in page


def test_delivery_page_lists_per_record_errors(admin_ui, connector):
    body = {"assets": [asset(1), {"source_key": "bad-host", "hostname": ["a", "b"]}, {"hostname": "nokey"}]}
    delivery = deliver(connector, body)
    page = text(admin_ui.get(delivery.get_absolute_url()))
    assert delivery.status == DeliveryStatus.PARTIAL
    assert "Some records had errors and were left out" in page
    table = page[page.index('class="list record-errors"') :]
    table = table[: table.index("</table>")]
    error_rows = re.findall(r"<tr>(.*?)</tr>", table, re.DOTALL)[1:]
    assert len(error_rows) == 2
    assert '<td class="num">2</td>' in error_rows[-1] and "<code>source_key</code>" in error_rows[-1]
    assert '<td class="num">1</td>' in error_rows[0] and "<code>bad-host</code>" in error_rows[0]
    assert "<code>hostname</code>" in error_rows[0] and "must be a string" in error_rows[0]


def test_delivery_page_lists_the_decisions_with_their_assets(admin_ui, connector):
    deliver(connector, {"assets": [asset(1)]})
    delivery = deliver(connector, {"assets": [asset(1), asset(2)]})
    page = text(admin_ui.get(delivery.get_absolute_url()))
    decisions = Decision.objects.filter(delivery=delivery).select_related("asset").order_by("pk")
    assert [d.outcome for d in decisions] == ["updated", "created"]
    section = page[page.index('id="decisions"') : page.index('id="raw-body"')]
    assert "2 records identified" in section
    assert section.index("<code>src-1</code>") < section.index("<code>src-2</code>")  # record order
    assert '<span class="badge updated">Updated</span>' in section
    assert "Source native key" in section
    for decision in decisions:
        assert f'<a href="{decision.asset.get_absolute_url()}">{decision.asset.hostname}</a>' in section
    assert '<span class="badge created">Created</span> <span class="count">1</span>' in section


def test_decisions_are_paginated_and_filtered_by_outcome(admin_ui, connector):
    deliver(connector, {"assets": [asset(i) for i in range(10)]})
    delivery = deliver(connector, {"assets": [asset(i) for i in range(120)]})  # 10 updated, 110 created
    address = delivery.get_absolute_url()
    page = text(admin_ui.get(address))
    assert page.count("<code>src-") == 50
    assert "Page 1 of 3" in page
    next_link = f'href="{address}?page=2#decisions" hx-get="{address}?page=2" hx-target="#decisions"'
    assert f'{next_link} hx-swap="outerHTML show:#decisions:top" hx-push-url="true"' in page
    third = text(admin_ui.get(address, {"page": 3}, headers=HTMX | {"HX-Target": "decisions"}))
    assert third.lstrip().startswith('<section class="card" id="decisions"')
    assert "hx-swap-oob" not in third
    assert third.count("<code>src-") == 20 and "<code>src-119</code>" in third
    updated = text(admin_ui.get(address, {"outcome": "updated"}, headers=HTMX | {"HX-Target": "decisions"}))
    assert updated.count("<code>src-") == 10
    assert re.search(r'aria-current="true"><span class="badge updated">Updated</span> <span class="count">10<', updated)


def test_delivery_page_query_count_does_not_grow_with_its_decisions(
    admin_ui, make_connector, django_assert_max_num_queries
):
    # The inventory already knows the machines: every decision has candidates, named on the page.
    deliver(make_connector("seed"), {"assets": [asset(i) for i in range(120)]})
    small = deliver(make_connector("small"), {"assets": [asset(i) for i in range(5)]})
    big = deliver(make_connector("big"), {"assets": [asset(i) for i in range(120)]})
    baseline = _queries(admin_ui, small.get_absolute_url())
    with django_assert_max_num_queries(baseline):
        page = text(admin_ui.get(big.get_absolute_url()))
    assert page.count("<code>src-") == 50


def test_raw_body_is_pretty_printed(admin_ui, connector):
    payload = {"assets": [asset(1, tags=["prod"])]}
    delivery = deliver(connector, json.dumps(payload, separators=(",", ":")).encode())
    page = text(admin_ui.get(delivery.get_absolute_url()))
    shown = re.search(r'<pre class="body-preview json">(.*?)</pre>', page, re.DOTALL).group(1)
    assert shown.replace("&quot;", '"') == json.dumps(payload, indent=2)
    assert "JSON, pretty-printed." in page and "Showing the first" not in page


def test_a_large_raw_body_is_capped_and_still_laid_out(admin_ui, connector):
    payload = {"assets": [asset(i, attributes={"note": "é" * 200}) for i in range(1500)]}
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(body) > BODY_PREVIEW_BYTES
    delivery = deliver(connector, body, process=False)
    page = text(admin_ui.get(delivery.get_absolute_url()))
    shown = re.search(r'<pre class="body-preview json">(.*?)</pre>', page, re.DOTALL).group(1)
    assert shown.startswith("{\n  &quot;assets&quot;: [\n    {\n      &quot;source_key&quot;: &quot;src-0&quot;,")
    assert "src-1499" not in shown  # past the cap
    match = re.search(r"Showing the first (\d+) of (\d+) bytes", page)
    assert match and int(match.group(2)) == len(body)
    assert BODY_PREVIEW_BYTES - 1 <= int(match.group(1)) <= BODY_PREVIEW_BYTES  # a split "é" is held back
    assert f'href="{url("delivery_body", delivery.uuid)}" download' in page


def test_a_body_that_is_not_text_is_shown_as_an_escaped_hex_dump(admin_ui, connector):
    delivery = deliver(connector, b"\xff\xfe<script>alert(1)</script>")
    assert delivery.status == DeliveryStatus.REJECTED
    page = text(admin_ui.get(delivery.get_absolute_url()))
    shown = re.search(r'<pre class="body-preview binary">(.*?)</pre>', page, re.DOTALL).group(1)
    assert shown.startswith("00000000  ff fe 3c 73 63 72 69 70 74 3e")
    assert "..&lt;script&gt;alert" in shown
    assert "<script>alert" not in page
    assert "Not UTF-8 text: shown as a hex dump" in page
    assert "The body could not be parsed" in page and "It is not retried on its own" in page


def test_text_that_is_not_json_is_shown_as_received_and_escaped(admin_ui, connector):
    delivery = deliver(connector, b'{"assets": [<img src=x onerror=alert(1)>')
    page = text(admin_ui.get(delivery.get_absolute_url()))
    assert '<pre class="body-preview text">{&quot;assets&quot;: [&lt;img src=x onerror=alert(1)&gt;</pre>' in page
    assert "<img src=x" not in page
    assert "Not valid JSON: shown as text" in page


def test_json_values_with_markup_are_escaped(admin_ui, connector):
    delivery = deliver(connector, {"assets": [asset(1, hostname="<b>web</b>")]})
    page = text(admin_ui.get(delivery.get_absolute_url()))
    assert "<b>web</b>" not in page
    assert "&lt;b&gt;web&lt;/b&gt;" in page


def test_the_body_downloads_exactly_as_received(admin_ui, viewer_ui, connector):
    body = b'{"assets": [{"source_key": "a"}]}\n'
    delivery = deliver(connector, body, process=False)
    for client in (admin_ui, viewer_ui):
        response = client.get(url("delivery_body", delivery.uuid))
        assert response.content == body
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"] == f'attachment; filename="delivery-{delivery.uuid}.json"'


def test_a_pending_delivery_page_polls_its_live_part(admin_ui, connector):
    delivery = deliver(connector, {"assets": [asset(1)]}, process=False)
    address = delivery.get_absolute_url()
    page = text(admin_ui.get(address, {"page": "1"}))
    live = re.search(r'<div id="delivery-live"([^>]*)>', page).group(1)
    assert f'hx-get="{address}?page=1"' in live and POLL in live and 'hx-swap="outerHTML"' in live
    assert "Stored and waiting for a worker" in page
    assert "This page updates itself every 2 seconds" in page
    assert "None yet: decisions appear here" in page
    # While it polls, decision links are plain links (the polled URL keeps the page).
    assert 'hx-target="#decisions"' not in page

    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.PROCESSING, records_received=1000)
    polled = text(admin_ui.get(address, headers=HTMX | {"HX-Target": "delivery-live"}))
    assert polled.lstrip().startswith('<div id="delivery-live"') and POLL in polled
    assert "1000 records handled so far" in polled
    assert "<html" not in polled and 'id="raw-body"' not in polled

    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.QUEUED)
    process_delivery(delivery.pk)
    final = text(admin_ui.get(address, headers=HTMX | {"HX-Target": "delivery-live"}))
    assert POLL not in final
    assert '<span class="badge processed" id="delivery-status">Processed</span>' in final
    # The decisions written meanwhile come along out of band.
    assert '<section class="card" id="decisions" aria-labelledby="decisions-title" hx-swap-oob="true">' in final
    assert "<code>src-1</code>" in final


def test_delivery_page_explains_a_dead_delivery(admin_ui, connector):
    delivery = deliver(connector, {"assets": [asset(1)]}, process=False)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DEAD, attempts=5, last_error="gave up after 5 attempts: OperationalError: locked"
    )
    page = text(admin_ui.get(delivery.get_absolute_url()))
    assert "Processing failed 5 times, so the worker gave up. The body is kept: Replay processes it again." in page
    assert "gave up after 5 attempts: OperationalError: locked" in page
    assert '<button class="btn primary" type="submit" aria-describedby="replay-help">Replay</button>' in page
    assert "It is safe: processing is idempotent" in page


def test_delivery_page_of_unknown_uuid_is_404(admin_ui):
    assert admin_ui.get(url("delivery_detail", uuid.uuid4())).status_code == 404


# --- Replay -------------------------------------------------------------------------------------------------------


def test_replay_queues_the_delivery_again_and_audits_it(admin_ui, connector, connector_admin):
    delivery = deliver(connector, b"{broken")
    assert delivery.status == DeliveryStatus.REJECTED
    response = admin_ui.post(url("delivery_replay", delivery.uuid))
    assert response.status_code == 302 and response["Location"] == delivery.get_absolute_url()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.QUEUED, 0, "")
    (event,) = ConnectorEvent.objects.filter(action=ConnectorAction.REPLAYED)
    assert (event.connector, event.actor, event.details) == (
        connector,
        connector_admin,
        {"delivery": str(delivery.uuid)},
    )
    page = text(admin_ui.get(response["Location"]))
    assert "Delivery queued again" in page
    assert POLL in page
    assert '<button class="btn" type="submit" disabled aria-describedby="replay-help">Replay</button>' in page


def test_replay_is_idempotent_for_the_inventory(admin_ui, connector):
    delivery = deliver(connector, {"assets": [asset(1), asset(2)]})
    admin_ui.post(url("delivery_replay", delivery.uuid))
    process_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED
    assert (delivery.records_created, delivery.records_updated) == (0, 2)
    assert Decision.objects.filter(delivery=delivery).count() == 2


def test_replay_with_htmx_redirects_on_the_client(admin_ui, connector):
    delivery = deliver(connector, {"assets": [asset(1)]})
    response = admin_ui.post(url("delivery_replay", delivery.uuid), headers=HTMX)
    assert response.status_code == 200 and response["HX-Redirect"] == delivery.get_absolute_url()


def test_replay_of_a_pending_delivery_changes_nothing(admin_ui, connector):
    delivery = deliver(connector, {"assets": [asset(1)]}, process=False)
    response = admin_ui.post(url("delivery_replay", delivery.uuid), follow=True)
    assert "already queued or being processed" in text(response)
    assert not ConnectorEvent.objects.filter(action=ConnectorAction.REPLAYED).exists()


def test_replay_refuses_get(admin_ui, connector):
    delivery = deliver(connector, {"assets": [asset(1)]})
    assert admin_ui.get(url("delivery_replay", delivery.uuid)).status_code == 405


# --- Send test delivery -------------------------------------------------------------------------------------------


def test_connector_page_has_a_send_test_delivery_button(admin_ui, connector):
    page = text(admin_ui.get(url("connector_detail", connector.uuid)))
    head = page[page.index('<div class="head-actions">') : page.index("</div>", page.index('class="menu-items"'))]
    assert f'action="{url("connector_test_delivery", connector.uuid)}"' in head
    assert ">Send test delivery</button>" in head
    assert f'href="{url("delivery_list", connector.uuid)}">Deliveries</a>' in head  # Actions → Deliveries
    assert "{% block" not in page


@pytest.mark.parametrize("payload_format", [PayloadFormat.NATIVE, PayloadFormat.CSAM])
def test_send_test_delivery_queues_one_sample_asset_and_shows_it(
    admin_ui, make_connector, connector_admin, payload_format
):
    connector = make_connector(payload_format=payload_format)
    response = admin_ui.post(url("connector_test_delivery", connector.uuid))
    delivery = Delivery.objects.get(connector=connector)
    assert response.status_code == 302 and response["Location"] == delivery.get_absolute_url()
    assert delivery.is_test and delivery.status == DeliveryStatus.QUEUED
    (event,) = ConnectorEvent.objects.filter(connector=connector, action=ConnectorAction.TEST_SENT)
    assert event.actor == connector_admin
    page = text(admin_ui.get(response["Location"]))
    assert "Test delivery queued; it appears in the inventory once processed." in page
    assert '<span class="badge info">test</span>' in page
    assert "connector-test-01" in page  # in the raw body

    process_delivery(delivery.pk)
    page = text(admin_ui.get(response["Location"]))
    assert '<span class="badge processed" id="delivery-status">Processed</span>' in page
    assert ">connector-test-01</a>" in page  # the asset it created


def test_send_test_delivery_with_htmx_redirects_on_the_client(admin_ui, connector):
    response = admin_ui.post(url("connector_test_delivery", connector.uuid), headers=HTMX)
    assert response["HX-Redirect"] == Delivery.objects.get().get_absolute_url()


def test_send_test_delivery_is_disabled_with_a_reason_for_a_disabled_connector(admin_ui, connector):
    set_enabled(connector, False)
    page = text(admin_ui.get(url("connector_detail", connector.uuid)))
    assert '<button class="btn" type="submit" disabled aria-describedby="test-delivery-off">Send test delivery' in page
    assert "Enable the connector to send a test delivery." in page
    response = admin_ui.post(url("connector_test_delivery", connector.uuid), follow=True)
    assert "CMDB is disabled: enable it before sending a test delivery." in text(response)
    assert not Delivery.objects.exists()


# --- Viewers ------------------------------------------------------------------------------------------------------


def test_viewers_get_403_on_replay_and_test_delivery(viewer_ui, connector):
    delivery = deliver(connector, {"assets": [asset(1)]})
    for address in (url("delivery_replay", delivery.uuid), url("connector_test_delivery", connector.uuid)):
        assert viewer_ui.post(address).status_code == 403, address
        assert viewer_ui.get(address).status_code == 403, address
    assert Delivery.objects.count() == 1
    assert not ConnectorEvent.objects.filter(action__in=[ConnectorAction.REPLAYED, ConnectorAction.TEST_SENT]).exists()


def test_viewers_see_the_pages_without_write_buttons(viewer_ui, connector):
    delivery = deliver(connector, {"assets": [asset(1)]})
    for address in (
        url("connector_detail", connector.uuid),
        url("delivery_list", connector.uuid),
        delivery.get_absolute_url(),
    ):
        response = viewer_ui.get(address)
        page = text(response)
        assert response.status_code == 200, address
        assert "Send test delivery" not in page, address
        assert ">Replay</button>" not in page and "/replay/" not in page, address
    assert "<code>src-1</code>" in text(viewer_ui.get(delivery.get_absolute_url()))


def test_empty_log_for_a_viewer_does_not_offer_the_test_delivery(viewer_ui, connector):
    page = text(viewer_ui.get(url("delivery_list", connector.uuid)))
    assert "No delivery yet" in page and "Send test delivery" not in page


# --- the body preview ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, None, True], "b": {}, "c": [], "d": {"e": "x, y: {z}", "f": 'q"uote\\'}},
        [[], [{}], "", 0],
        "just a string",
    ],
)
def test_reindent_lays_json_out_like_json_dumps(value):
    assert reindent_json(json.dumps(value, separators=(",", ":"))) == json.dumps(value, indent=2)
    assert reindent_json(json.dumps(value, indent=4)) == json.dumps(value, indent=2)


def test_body_preview_kinds():
    assert body_preview(b"", 0).kind == "empty"
    assert body_preview(b'{"a":1}', 7).text == '{\n  "a": 1\n}'
    assert body_preview(b"plain text", 10).kind == "text"
    cut = body_preview('{"k": "é'.encode(), 100)
    assert (cut.kind, cut.text, cut.shown, cut.total) == ("json", '{\n  "k": "é', 9, 100)
    split = body_preview('{"k": "é'.encode()[:-1], 100)  # the cut falls inside "é"
    assert (split.text, split.shown) == ('{\n  "k": "', 7)
    binary = body_preview(bytes(range(256)) * 200, 51200)
    assert binary.kind == "binary" and binary.truncated and binary.shown == 16 * 1024
