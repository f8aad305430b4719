"""A connector's Status comes from its newest finished deliveries and says so; a connector without the CSAM
module shows what its deliveries *would* have done, never a green "Created"."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from connectors.choices import Module
from connectors.health import explain
from connectors.inbox import store_delivery
from connectors.models import Connector, Delivery
from connectors.worker import process_delivery

from .helpers import asset

pytestmark = pytest.mark.django_db


def deliver(connector, payload, *, process=True, **kwargs) -> Delivery:
    delivery = store_delivery(connector, json.dumps(payload).encode(), **kwargs).delivery
    if process:
        process_delivery(delivery.pk)
    return Delivery.objects.get(pk=delivery.pk)


def reject(connector) -> Delivery:
    return store_delivery(connector, b"{not json", rejected_reason="The body is not valid JSON.").delivery


def test_rejections_after_a_partial_delivery_make_the_status_error_whatever_finished_last(admin_ui, connector):
    older = deliver(connector, {"assets": [asset(1), {"hostname": "no key"}]}, process=False)
    for _ in range(3):
        reject(connector)
    process_delivery(older.pk)  # the older delivery finishes last: it must not paint the connector "partial"
    assert Connector.objects.get(pk=connector.pk).last_result == "error"
    Connector.objects.filter(pk=connector.pk).update(last_result="partial")  # as stored before this was fixed

    row = admin_ui.get(reverse("connectors:connector_list")).content.decode().split("<tbody>")[1]
    assert "Error" in row and "Partial success" not in row
    assert reverse("connectors:delivery_list", args=[connector.uuid]) in row

    page = admin_ui.get(connector.get_absolute_url()).content.decode()
    status = page.split('id="connector-status">')[1].split("</dd>")[0]
    assert '<span class="badge error">Error</span>' in status
    assert "the last 3 deliveries were rejected, newest" in status and "just now</time>" in status
    assert f'href="{reverse("connectors:delivery_list", args=[connector.uuid])}?status=rejected"' in status
    assert "The status is the result of the newest delivery that finished." in status
    assert "See them in the delivery log" in status

    api = admin_ui.get(f"/api/v1/connectors/{connector.uuid}/").json()
    assert api["status"] == {"value": "error", "label": "Error"}


def test_the_newest_finished_delivery_sets_the_stored_result(connector):
    older = deliver(connector, {"assets": [asset(1)]}, process=False)
    deliver(connector, {"assets": [asset(2), {"hostname": "no key"}]})  # newest, partial, finishes first
    process_delivery(older.pk)  # processed without errors, but older
    assert Connector.objects.get(pk=connector.pk).last_result == "partial"


def test_the_explanation_counts_the_run_of_newest_results_and_the_pending_ones(connector):
    assert explain(connector).basis == "no delivery received yet"
    reject(connector)
    deliver(connector, {"assets": [asset(1)]})
    deliver(connector, {"assets": [asset(2)]})
    deliver(connector, {"assets": [asset(3)]}, process=False)
    status = explain(connector)
    assert (status.status, status.basis, status.pending, status.log_status) == (
        "success",
        "the last 2 deliveries were processed",
        1,
        "processed",
    )
    page_status = explain(Connector.objects.get(pk=connector.pk))
    assert page_status.newest_at is not None


def test_a_pending_only_log_and_a_disabled_connector_say_so(connector):
    deliver(connector, {"assets": [asset(1)]}, process=False)
    assert explain(connector).basis == "no delivery has finished yet"
    assert explain(connector).status == "pending"
    connector.enabled = False
    assert explain(connector).status == "disabled"


def test_the_list_reads_statuses_in_a_constant_number_of_queries(admin_ui, make_connector, connector):
    deliver(connector, {"assets": [asset(1)]})
    url = reverse("connectors:connector_list")
    with CaptureQueriesContext(connection) as few:
        admin_ui.get(url)
    for i in range(4):
        other = make_connector(f"Other {i}")
        reject(other)
    with CaptureQueriesContext(connection) as many:
        page = admin_ui.get(url).content.decode()
    assert len(many.captured_queries) == len(few.captured_queries)
    assert page.count('<span class="badge error">Error</span>') == 4


def test_a_connector_without_csam_shows_what_would_have_happened(admin_ui, make_connector):
    log_only = make_connector("Log only", modules=[Module.DELIVERY_LOG])
    delivery = deliver(log_only, {"assets": [asset(1), asset(2)]})
    assert delivery.records_created == 2

    page = admin_ui.get(delivery.get_absolute_url()).content.decode()
    assert "the inventory was not changed" in page
    assert "<dt>Would create</dt><dd>2</dd>" in page
    assert 'class="created"' not in page and "<dt>Created</dt>" not in page

    log = admin_ui.get(reverse("connectors:delivery_list", args=[log_only.uuid])).content.decode()
    assert ">Would create</th>" in log and ">Created</th>" not in log

    # Turning CSAM on later does not rewrite history: that delivery still changed nothing.
    Connector.objects.filter(pk=log_only.pk).update(modules=Module.CSAM)
    assert "<dt>Would create</dt><dd>2</dd>" in admin_ui.get(delivery.get_absolute_url()).content.decode()


def test_a_csam_connector_shows_what_it_created(admin_ui, connector):
    delivery = deliver(connector, {"assets": [asset(1)]})
    page = admin_ui.get(delivery.get_absolute_url()).content.decode()
    assert '<div class="created"><dt>Created</dt><dd>1</dd></div>' in page
    assert "Would create" not in page


# --- rule switches confirm what they saved ------------------------------------------------------------------------


def test_a_rule_switch_answers_with_a_visible_saved_status(admin_ui, connector):
    hostname = connector.rule_selection.get(rule__name="Hostname").rule
    rules_url = reverse("connectors:connector_rules", args=[connector.uuid])
    quiet = admin_ui.get(rules_url).content.decode()
    assert '<p class="status-note" role="status"></p>' in quiet  # empty (and hidden) until something is saved

    swapped = admin_ui.post(
        reverse("connectors:connector_rule_required", args=[connector.uuid, hostname.pk]),
        {"required": "1"},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert (
        '<p class="status-note" role="status"><span aria-hidden="true">✓</span> Saved: Hostname is now required.</p>'
        in swapped
    )

    options = admin_ui.post(
        reverse("connectors:connector_rule_options", args=[connector.uuid]),
        {"option": "create_unmanaged", "value": "0"},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert "Saved: Create unmanaged asset is now off." in options

    # Without JavaScript: a redirect to the page, with the same words as a message.
    plain = admin_ui.post(
        reverse("connectors:connector_rule_required", args=[connector.uuid, hostname.pk]), {"required": "0"}
    )
    page = admin_ui.get(plain["Location"]).content.decode()
    assert '<li class="msg msg-success">Hostname is now off.</li>' in page
