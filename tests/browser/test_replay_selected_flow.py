"""Replay from the delivery log: tick rows while the log polls, Replay selected, then Replay one row."""

import json
import re

import pytest
from playwright.sync_api import expect

from connectors.choices import DeliveryStatus
from connectors.inbox import store_delivery
from connectors.models import Delivery
from connectors.worker import process_delivery
from tests.connectors.helpers import asset

pytestmark = pytest.mark.slow


def deliver(connector, body: bytes, *, process: bool = True) -> Delivery:
    delivery = store_delivery(connector, body).delivery
    if process:
        process_delivery(delivery.pk)
    return Delivery.objects.get(pk=delivery.pk)


def pick(page, delivery: Delivery):
    return page.locator(f'input.pick[value="{delivery.uuid}"]')


@pytest.mark.django_db(transaction=True)
def test_replay_selected_and_replay_one_row(signed_in_page, connector, tmp_path):
    page = signed_in_page
    first = deliver(connector, json.dumps({"assets": [asset(1)]}).encode())
    second = deliver(connector, json.dumps({"assets": [asset(2)]}).encode())
    broken = deliver(connector, b"{broken")
    waiting = deliver(connector, json.dumps({"assets": [asset(3)]}).encode(), process=False)

    page.goto(connector.get_absolute_url() + "deliveries/")
    table = page.locator("table.deliveries")
    expect(table.locator("tbody tr")).to_have_count(4)
    expect(page.locator("#results")).to_have_attribute("hx-trigger", "every 2s")  # one is queued: the log polls
    expect(table.locator(".reason")).to_contain_text("Expecting property name")  # why it was rejected
    expect(pick(page, waiting)).to_be_disabled()

    # Ticked boxes survive the polling.
    pick(page, first).check()
    pick(page, second).check()
    with page.expect_response(lambda response: "/deliveries/" in response.url and response.request.method == "GET"):
        pass  # one poll has replaced the rows
    expect(pick(page, first)).to_be_checked()
    page.screenshot(path=tmp_path / "log-selected.png", full_page=True)

    page.get_by_role("button", name="Replay selected").click()
    expect(page.get_by_text("2 deliveries queued again.")).to_be_visible()
    statuses = dict(Delivery.objects.values_list("pk", "status"))
    assert statuses[first.pk] == statuses[second.pk] == DeliveryStatus.QUEUED
    assert statuses[broken.pk] == DeliveryStatus.REJECTED

    # One row's own button, reached with the keyboard.
    button = page.locator(f'button[name="only"][value="{broken.uuid}"]')
    expect(button).to_have_accessible_name(re.compile(r"^Replay the delivery of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))
    button.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("1 delivery queued again.")).to_be_visible()
    assert Delivery.objects.get(pk=broken.pk).status == DeliveryStatus.QUEUED
    expect(table.get_by_role("button", name="Replay", exact=True)).to_have_count(0)  # everything is pending now
    page.screenshot(path=tmp_path / "log-replayed.png", full_page=True)
