"""The delivery log's rows: the reply the sender got, why a delivery failed, record counts from the start, and
Replay from a row or for the checked rows."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.urls import reverse

from connectors.choices import ConnectorAction, DeliveryStatus
from connectors.inbox import store_delivery
from connectors.models import ConnectorEvent, Delivery
from connectors.worker import process_delivery

from .helpers import asset, post_bearer

pytestmark = pytest.mark.django_db


def log_url(connector) -> str:
    return reverse("connectors:delivery_list", args=[connector.uuid])


def replay_url(connector) -> str:
    return reverse("connectors:delivery_replay_selected", args=[connector.uuid])


def rows(page: str) -> list[str]:
    return re.findall(r"<tr>\s*<td class=\"nowrap\">.*?</tr>", page, re.DOTALL)


def deliver(connector, payload, *, process: bool = True) -> Delivery:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    delivery = store_delivery(connector, body).delivery
    if process:
        process_delivery(delivery.pk)
    return Delivery.objects.get(pk=delivery.pk)


def test_a_row_shows_the_reply_code_and_time_and_a_queued_row_its_record_count(admin_ui, client, connector):
    reply = post_bearer(client, connector, {"assets": [asset(i) for i in range(80)]})
    assert reply.status_code == 202 and reply.json()["records"] == 80
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.records_received, delivery.reply_status) == (DeliveryStatus.QUEUED, 80, 202)
    assert delivery.reply_ms is not None and delivery.reply_ms >= 0
    (row,) = rows(admin_ui.get(log_url(connector)).content.decode())
    assert re.findall(r'<td class="num[^"]*">([^<]*)</td>', row)[0] == "80"
    assert f'<span class="reply-code">202</span> <span class="muted">{delivery.reply_ms}&nbsp;ms</span>' in row
    detail = admin_ui.get(delivery.get_absolute_url()).content.decode()
    assert f"<dt>Reply</dt><dd><code>202</code> after {delivery.reply_ms} ms" in detail


def test_processing_keeps_the_whole_count_and_finishes_with_it(client, connector):
    post_bearer(client, connector, {"assets": [asset(1), asset(2), {"hostname": "no key"}], "deleted": ["gone"]})
    delivery = Delivery.objects.get()
    assert delivery.records_received == 4
    process_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.records_received, delivery.records_handled) == (4, 4)


def test_a_rejected_row_says_why(admin_ui, client, connector):
    reply = post_bearer(client, connector, {"assets": [{"hostname": "no key"}]})
    assert reply.status_code == 400
    (row,) = rows(admin_ui.get(log_url(connector)).content.decode())
    assert '<span class="reply-code">400</span>' in row
    assert 'class="small reason"' in row and "No valid record in the delivery." in row


def test_a_partial_row_shows_its_first_record_error(admin_ui, connector):
    deliver(connector, {"assets": [asset(1), {"hostname": "no key"}]})
    (row,) = rows(admin_ui.get(log_url(connector)).content.decode())
    assert "First error (record 1, <code>source_key</code>): is required" in row


def test_a_dead_row_shows_its_last_error(admin_ui, connector):
    delivery = deliver(connector, {"assets": [asset(1)]})
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DEAD, last_error="gave up after 5 attempts: OperationalError: database is locked"
    )
    (row,) = rows(admin_ui.get(log_url(connector)).content.decode())
    assert "gave up after 5 attempts" in row and "First error" not in row


def test_the_log_costs_a_constant_number_of_queries(admin_ui, connector, django_assert_max_num_queries):
    for i in range(3):
        deliver(connector, {"assets": [asset(i), {"hostname": "bad"}]})
    with django_assert_max_num_queries(12) as few:
        admin_ui.get(log_url(connector))
    for i in range(3, 12):
        deliver(connector, {"assets": [asset(i), {"hostname": "bad"}]})
    with django_assert_max_num_queries(len(few)):
        assert len(rows(admin_ui.get(log_url(connector)).content.decode())) == 12


# --- Replay from the log ------------------------------------------------------------------------------------------


def test_each_finished_row_has_a_replay_button_and_a_checkbox(admin_ui, connector):
    done = deliver(connector, {"assets": [asset(1)]})
    pending = deliver(connector, {"assets": [asset(2)]}, process=False)
    page = admin_ui.get(log_url(connector)).content.decode()
    pending_row, done_row = rows(page)
    assert f'name="only" value="{done.uuid}"' in done_row
    assert 'name="only"' not in pending_row
    assert (
        f'value="{pending.uuid}" form="replay-form" id="pick-{pending.uuid}-queued" hx-preserve="true" disabled' in page
    )
    assert re.search(r'<button class="btn small" type="submit" form="replay-form"[^>]*>Replay selected</button>', page)
    assert re.search(r'<form id="replay-form" method="post" action="[^"]+/deliveries/replay/">', page)


def test_replay_from_a_row(admin_ui, connector, connector_admin):
    delivery = deliver(connector, b"{broken")
    other = deliver(connector, {"assets": [asset(1)]})
    response = admin_ui.post(
        replay_url(connector), {"only": str(delivery.uuid), "delivery": [str(other.uuid)], "query": "status=rejected"}
    )
    assert response.status_code == 302 and response["Location"] == log_url(connector) + "?status=rejected"
    delivery.refresh_from_db()
    other.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.QUEUED, 0)
    assert other.status == DeliveryStatus.PROCESSED  # only the row's own delivery
    (event,) = ConnectorEvent.objects.filter(action=ConnectorAction.REPLAYED)
    assert (event.actor, event.details) == (connector_admin, {"delivery": str(delivery.uuid)})
    assert "1 delivery queued again." in admin_ui.get(response["Location"]).content.decode()


def test_replay_selected_leaves_pending_ones_and_other_connectors_alone(admin_ui, connector, make_connector):
    first = deliver(connector, {"assets": [asset(1)]})
    second = deliver(connector, b"{broken")
    pending = deliver(connector, {"assets": [asset(2)]}, process=False)
    elsewhere = deliver(make_connector("MDM"), {"assets": [asset(3)]})
    chosen = [str(d.uuid) for d in (first, second, pending, elsewhere)] + ["not-a-uuid"]
    response = admin_ui.post(replay_url(connector), {"delivery": chosen}, follow=True)
    page = response.content.decode()
    assert "2 deliveries queued again." in page
    assert "1 delivery was already queued or being processed" in page
    statuses = dict(Delivery.objects.values_list("pk", "status"))
    assert statuses[first.pk] == statuses[second.pk] == DeliveryStatus.QUEUED
    assert statuses[elsewhere.pk] == DeliveryStatus.PROCESSED
    assert ConnectorEvent.objects.filter(action=ConnectorAction.REPLAYED).count() == 2


def test_replay_selected_with_nothing_checked_says_so(admin_ui, connector):
    response = admin_ui.post(replay_url(connector), {"delivery": [], "query": "page=2&evil=1"}, follow=True)
    assert response.redirect_chain[-1][0] == log_url(connector) + "?page=2"  # only the log's own parameters
    assert "Select at least one delivery to replay." in response.content.decode()
    foreign = admin_ui.post(replay_url(connector), {"delivery": [str(uuid.uuid4())]}, follow=True)
    assert "None of the selected deliveries belongs to this connector." in foreign.content.decode()


def test_replay_selected_with_htmx_redirects_on_the_client(admin_ui, connector):
    delivery = deliver(connector, {"assets": [asset(1)]})
    response = admin_ui.post(replay_url(connector), {"only": str(delivery.uuid)}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and response["HX-Redirect"] == log_url(connector)


def test_viewers_cannot_replay_and_see_no_replay_controls(viewer_ui, connector):
    delivery = deliver(connector, {"assets": [asset(1)]})
    assert viewer_ui.post(replay_url(connector), {"only": str(delivery.uuid)}).status_code == 403
    assert viewer_ui.get(replay_url(connector)).status_code == 403
    page = viewer_ui.get(log_url(connector)).content.decode()
    assert "Replay selected" not in page and 'name="only"' not in page and 'class="pick"' not in page
    assert Delivery.objects.get().status == DeliveryStatus.PROCESSED


def test_replay_selected_refuses_get(admin_ui, connector):
    assert admin_ui.get(replay_url(connector)).status_code == 405
