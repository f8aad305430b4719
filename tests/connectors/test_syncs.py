"""Full syncs: parts, the deletions of what no part reported, crashes between parts, the safety hold."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from assets.models import Asset, Decision, SourceRecord
from connectors import syncs
from connectors.choices import ConnectorAction, DeliveryStatus, SyncStatus
from connectors.inbox import replay_delivery
from connectors.models import ConnectorEvent, Delivery, Sync, SyncKey
from connectors.tasks import recover_syncs
from connectors.worker import claim_delivery, process_delivery

from .helpers import asset, post_bearer

pytestmark = pytest.mark.django_db


def send(connector, payload) -> Delivery:
    """Store a body the way intake does (sync marker read and validated) and return its delivery."""
    response = post_bearer(APIClient(), connector, payload)
    assert response.status_code == 202, response.content
    return Delivery.objects.get(uuid=response.json()["delivery_id"])


def part(keys, sync_id="nightly", *, final=False) -> dict:
    return {"assets": [asset(i) for i in keys], "sync": {"id": sync_id, "final": final}}


def live_keys(connector) -> set[str]:
    return set(SourceRecord.objects.filter(connector=connector, deleted=False).values_list("source_key", flat=True))


@pytest.fixture
def inventory(connector):
    """Ten live records (src-0 … src-9) from an ordinary delivery."""
    delivery = send(connector, {"assets": [asset(i) for i in range(10)]})
    assert process_delivery(delivery.pk) == DeliveryStatus.PROCESSED
    return connector


def keys(*numbers) -> set[str]:
    return {f"src-{i}" for i in numbers}


# --- the full walk --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1), (1, 2, 0)], ids=["in-order", "final-first", "mixed"])
def test_a_full_sync_in_three_parts_deletes_what_no_part_reported(inventory, order):
    parts = [
        send(inventory, part([0, 1, 2])),
        send(inventory, part([3, 4, 5, 10])),
        send(inventory, part([6, 7], final=True)),
    ]
    sync = Sync.objects.get()
    assert [p.sync_id for p in parts] == [sync.pk] * 3 and [p.sync_final for p in parts] == [False, False, True]
    for index in order[:-1]:
        assert process_delivery(parts[index].pk) == DeliveryStatus.PROCESSED
        sync.refresh_from_db()
        assert sync.status == SyncStatus.OPEN and live_keys(inventory) >= keys(8, 9)  # nothing deleted yet
    assert process_delivery(parts[order[-1]].pk) == DeliveryStatus.PROCESSED
    sync.refresh_from_db()
    assert sync.status == SyncStatus.COMPLETED
    assert (sync.reported, sync.live_records, sync.would_delete, sync.deleted) == (9, 11, 2, 2)
    assert live_keys(inventory) == keys(*range(8), 10)
    gone = Asset.objects.filter(sources__source_key__in=keys(8, 9))
    assert gone.count() == 2 and all(a.retired for a in gone)
    reasons = Decision.objects.filter(source_key="src-8", outcome="deleted").values_list("reasons", flat=True)
    assert list(reasons) == [["not reported by full sync 'nightly'"]]
    # Over: only the keys it deleted are kept (for its page), not the thousands it reported.
    assert set(SyncKey.objects.values_list("source_key", "deleted")) == {("src-8", True), ("src-9", True)}


def test_a_crash_between_parts_is_recovered_and_the_sync_finishes_after_the_retried_part(inventory):
    first, second, last = (
        send(inventory, part([0, 1, 2])),
        send(inventory, part([3, 4, 5])),
        send(inventory, part([6, 7], final=True)),
    )
    assert process_delivery(first.pk) == DeliveryStatus.PROCESSED
    # A worker takes the second part, writes its records, then dies before the part is finished.
    claimed = claim_delivery(second.pk, worker_id="doomed")
    from assets.services import process_records
    from connectors.formats import parse

    process_records(inventory, parse("native", json.loads(bytes(claimed.body))).records, delivery=claimed)
    Delivery.objects.filter(pk=second.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert not SyncKey.objects.filter(source_key="src-3").exists()  # its keys were never recorded

    assert process_delivery(last.pk) == DeliveryStatus.PROCESSED
    sync = Sync.objects.get()
    assert sync.status == SyncStatus.OPEN  # waits for the crashed part: nothing deleted meanwhile
    assert live_keys(inventory) == keys(*range(10))

    assert process_delivery(second.pk, worker_id="survivor") == DeliveryStatus.PROCESSED
    second.refresh_from_db()
    assert second.attempts == 2
    sync.refresh_from_db()
    assert sync.status == SyncStatus.COMPLETED and sync.deleted == 2
    assert live_keys(inventory) == keys(*range(8))


def test_a_part_processed_twice_records_its_keys_once(inventory):
    only = send(inventory, part(range(9), final=False))
    assert process_delivery(only.pk) == DeliveryStatus.PROCESSED
    replay_delivery(only)
    assert process_delivery(only.pk) == DeliveryStatus.PROCESSED
    assert SyncKey.objects.count() == 9
    assert Sync.objects.get().status == SyncStatus.OPEN  # no final part yet


def test_records_other_deliveries_reported_after_the_sync_started_are_kept(inventory):
    first = send(inventory, part([0, 1, 2, 3, 4, 5, 6]))
    other = send(inventory, {"assets": [asset(8, os="Windows")]})  # not part of the sync, received after it began
    last = send(inventory, part([7], final=True))
    for delivery in (first, other, last):
        assert process_delivery(delivery.pk) == DeliveryStatus.PROCESSED
    sync = Sync.objects.get()
    assert sync.status == SyncStatus.COMPLETED and sync.deleted == 1
    assert live_keys(inventory) == keys(*range(9))


def test_an_empty_final_part_closes_the_sync(inventory):
    first = send(inventory, part(range(8)))
    last = send(inventory, {"sync": {"id": "nightly", "final": True}})
    for delivery in (first, last):
        assert process_delivery(delivery.pk) == DeliveryStatus.PROCESSED
    assert Sync.objects.get().status == SyncStatus.COMPLETED
    assert live_keys(inventory) == keys(*range(8))


def test_a_dead_part_keeps_the_sync_open_until_it_is_replayed(inventory, settings, monkeypatch):
    first = send(inventory, part(range(8)))
    last = send(inventory, part([], final=True))
    settings.DELIVERY_FAULT_HOOK = "tests.faults.always_fail"
    settings.DELIVERY_MAX_ATTEMPTS = 1
    assert process_delivery(first.pk) == DeliveryStatus.DEAD
    settings.DELIVERY_FAULT_HOOK = ""
    assert process_delivery(last.pk) == DeliveryStatus.PROCESSED
    assert Sync.objects.get().status == SyncStatus.OPEN and live_keys(inventory) == keys(*range(10))
    replay_delivery(first)
    assert process_delivery(first.pk) == DeliveryStatus.PROCESSED
    assert Sync.objects.get().status == SyncStatus.COMPLETED and live_keys(inventory) == keys(*range(8))


def test_a_completed_sync_id_can_be_used_again(inventory):
    for _ in range(2):
        delivery = send(inventory, part(range(9), final=True))
        assert process_delivery(delivery.pk) == DeliveryStatus.PROCESSED
    assert list(Sync.objects.values_list("status", flat=True)) == [SyncStatus.COMPLETED] * 2


# --- intake ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("nightly", '"sync" must be an object'),
        ({"id": 7, "final": True}, '"sync.id" must be a string'),
        ({"id": "x" * 256}, "at most 255 characters"),
        ({"id": "  "}, "must not be empty"),
        ({"id": "n", "final": "yes"}, '"sync.final" must be true or false'),
        ({"id": "n", "finale": True}, "unknown keys (finale)"),
    ],
)
def test_a_bad_sync_marker_is_a_400_that_says_why(connector, marker, message):
    response = post_bearer(APIClient(), connector, {"assets": [asset(1)], "sync": marker})
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not Sync.objects.exists()
    assert Delivery.objects.get().status == DeliveryStatus.REJECTED


def test_the_reply_names_the_sync(connector):
    response = post_bearer(APIClient(), connector, part([1], "inventory-2026-12-01", final=True))
    sync = Sync.objects.get()
    assert response.json()["sync"] == {
        "id": "inventory-2026-12-01",
        "sync_uuid": str(sync.uuid),
        "status": "open",
        "url": f"http://testserver/api/v1/syncs/{sync.uuid}/",
        "final": True,
    }


def test_a_single_asset_object_keeps_its_own_sync_field_as_an_unknown_field(connector):
    delivery = send(connector, asset(1, sync="not a marker"))
    assert delivery.sync_id is None


def test_a_mapped_body_may_carry_the_marker(make_connector):
    from connectors.services import set_mapping

    connector = make_connector("Mapped", payload_format="mapped")
    set_mapping(connector, {"records": "hosts", "fields": {"source_key": "id", "hostname": "name"}})
    delivery = send(connector, {"hosts": [{"id": "h1", "name": "web"}], "sync": {"id": "m1", "final": True}})
    assert delivery.sync.sync_id == "m1" and delivery.sync_final
    closing = send(connector, {"sync": {"id": "m2", "final": True}})
    assert closing.sync.sync_id == "m2"


def test_csam_and_netbox_bodies_are_never_read_for_a_marker():
    from connectors.formats.sync import SyncMark, read_sync

    body = {"assets": [], "sync": {"id": "x", "final": True}}
    assert read_sync(body, "native") == SyncMark("x", True)
    assert read_sync(body, "mapped") == SyncMark("x", True)
    assert read_sync(body, "csam") is None and read_sync(body, "netbox") is None
    assert read_sync({"assets": [], "sync": {"id": "x"}}, "native") == SyncMark("x", False)
    assert read_sync({"assets": [], "sync": {"id": "x", "final": None}}, "native") == SyncMark("x", False)


def test_a_connector_without_the_csam_module_deletes_nothing(make_connector):
    connector = make_connector("Log only", modules=["log"])
    delivery = send(connector, part([1], final=True))
    assert process_delivery(delivery.pk) == DeliveryStatus.PROCESSED
    sync = Sync.objects.get()
    assert sync.status == SyncStatus.COMPLETED and sync.would_delete == 0 and sync.deleted == 0


def test_support_staff_see_syncs_in_django_admin(admin_client, inventory):
    held_sync(inventory)
    page = admin_client.get(reverse("admin:connectors_sync_changelist"))
    assert page.status_code == 200 and "nightly" in page.content.decode()


# --- the safety hold --------------------------------------------------------------------------------------------


def held_sync(connector) -> Sync:
    delivery = send(connector, part([0, 1], final=True))
    assert process_delivery(delivery.pk) == DeliveryStatus.PROCESSED
    return Sync.objects.get()


def test_a_sync_that_would_delete_too_much_is_held_and_deletes_nothing(inventory):
    sync = held_sync(inventory)
    assert sync.status == SyncStatus.HELD
    assert (sync.would_delete, sync.live_records, sync.delete_limit) == (8, 10, 30)
    assert [example["source_key"] for example in sync.examples][:3] == ["src-2", "src-3", "src-4"]
    assert sync.examples[0]["hostname"] == "web-00002"
    assert live_keys(inventory) == keys(*range(10))


def test_the_limit_is_a_connector_setting(inventory):
    from connectors.services import update_connector

    update_connector(inventory, sync_delete_limit=80)
    sync = held_sync(inventory)
    assert sync.status == SyncStatus.COMPLETED and sync.deleted == 8


def test_confirming_a_held_sync_deletes_in_the_background_and_is_audited(inventory, connector_admin, settings):
    sync = held_sync(inventory)
    api = APIClient()
    api.force_authenticate(connector_admin)
    reply = api.get(reverse("connectors-api:sync-detail", args=[sync.uuid]))
    assert reply.status_code == 200 and reply.json()["status"] == "held"
    assert reply.json()["would_delete"] == 8 and len(reply.json()["examples"]) == 8
    syncs.DELETE_BATCH = 3  # several bounded batches
    try:
        reply = api.post(reverse("connectors-api:sync-confirm", args=[sync.uuid]))
        assert reply.status_code == 202 and reply.json()["status"] == "deleting"
        assert recover_syncs() == 1  # the task (or, if it is lost, the sweep) runs the deletions
        assert syncs.run_deletions(sync.pk) == 8
    finally:
        syncs.DELETE_BATCH = 500
    sync.refresh_from_db()
    assert sync.status == SyncStatus.COMPLETED and sync.deleted == 8 and sync.decided_by == connector_admin
    assert live_keys(inventory) == keys(0, 1)
    event = ConnectorEvent.objects.get(action=ConnectorAction.SYNC_CONFIRMED)
    assert event.actor == connector_admin and event.details["would_delete"] == 8
    again = api.post(reverse("connectors-api:sync-confirm", args=[sync.uuid]))
    assert again.status_code == 409


def test_discarding_a_held_sync_deletes_nothing(inventory, connector_admin):
    sync = held_sync(inventory)
    api = APIClient()
    api.force_authenticate(connector_admin)
    reply = api.post(reverse("connectors-api:sync-discard", args=[sync.uuid]))
    assert reply.status_code == 200 and reply.json()["status"] == "discarded"
    assert syncs.run_deletions(sync.pk) == 0
    assert live_keys(inventory) == keys(*range(10))
    assert ConnectorEvent.objects.filter(action=ConnectorAction.SYNC_DISCARDED).count() == 1
    assert not SyncKey.objects.exists()


def test_a_viewer_reads_syncs_but_cannot_confirm(inventory, viewer):
    sync = held_sync(inventory)
    api = APIClient()
    api.force_authenticate(viewer)
    listed = api.get(reverse("connectors-api:sync-list"), {"connector": str(inventory.uuid), "status": "held"})
    assert listed.status_code == 200 and [s["sync_uuid"] for s in listed.json()["results"]] == [str(sync.uuid)]
    assert api.post(reverse("connectors-api:sync-confirm", args=[sync.uuid])).status_code == 403


def test_an_interrupted_deletion_run_is_resumed_by_the_sweep(inventory, monkeypatch):
    from assets import services

    sync = held_sync(inventory)
    from connectors.sync_actions import confirm_sync

    confirm_sync(sync)
    calls = []
    real = services.process_deletions

    def crash_on_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker died")
        return real(*args, **kwargs)

    monkeypatch.setattr(syncs, "process_deletions", crash_on_second_batch)
    monkeypatch.setattr(syncs, "DELETE_BATCH", 3)
    with pytest.raises(RuntimeError):
        syncs.run_deletions(sync.pk)
    sync.refresh_from_db()
    assert sync.status == SyncStatus.DELETING and sync.deleted == 3
    assert syncs.lost_syncs() == []  # its lease still runs
    Sync.objects.filter(pk=sync.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert syncs.lost_syncs() == [sync.pk]
    assert syncs.run_deletions(sync.pk) == 5
    sync.refresh_from_db()
    assert sync.status == SyncStatus.COMPLETED and sync.deleted == 8
    assert live_keys(inventory) == keys(0, 1)


def test_the_deliveries_api_lists_a_syncs_parts(inventory, viewer):
    parts = [send(inventory, part([0])), send(inventory, part([1], "other"))]
    api = APIClient()
    api.force_authenticate(viewer)
    sync = Sync.objects.get(sync_id="nightly")
    listed = api.get(reverse("connectors-api:delivery-list"), {"sync": str(sync.uuid)}).json()["results"]
    assert [row["delivery_id"] for row in listed] == [str(parts[0].uuid)]
    assert listed[0]["sync"]["id"] == "nightly" and listed[0]["sync"]["final"] is False


def test_the_delivery_status_says_the_sync_is_held(inventory):
    held_sync(inventory)
    delivery = Delivery.objects.filter(sync__isnull=False).get()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {inventory.credentials.token}")
    reply = api.get(reverse("connectors-api:delivery-detail", args=[delivery.uuid]))
    assert reply.json()["sync"]["status"] == "held" and reply.json()["sync"]["final"] is True


# --- the UI ---------------------------------------------------------------------------------------------------


def test_the_connector_page_shows_a_held_sync_with_its_count_examples_and_buttons(inventory, admin_ui):
    sync = held_sync(inventory)
    page = admin_ui.get(inventory.get_absolute_url()).content.decode()
    assert "Full sync “nightly” is waiting for your confirmation" in page
    assert "<strong>8 of 10</strong> live records (80 %)" in page and "src-2" in page
    assert reverse("connectors:sync_confirm", args=[sync.uuid]) in page and "csrfmiddlewaretoken" in page


def test_a_viewer_sees_the_held_sync_but_cannot_confirm_it(inventory, viewer_ui):
    sync = held_sync(inventory)
    page = viewer_ui.get(inventory.get_absolute_url()).content.decode()
    assert "waiting for your confirmation" in page
    assert reverse("connectors:sync_confirm", args=[sync.uuid]) not in page
    assert viewer_ui.post(reverse("connectors:sync_confirm", args=[sync.uuid])).status_code == 403
    assert Sync.objects.get().status == SyncStatus.HELD


def test_confirming_in_the_ui_starts_the_deletions_and_is_audited(inventory, admin_ui, connector_admin):
    sync = held_sync(inventory)
    url = reverse("connectors:sync_confirm", args=[sync.uuid])
    assert admin_ui.get(url).status_code == 405
    response = admin_ui.post(url, {"next": inventory.get_absolute_url()})
    assert response.status_code == 302 and response.url == inventory.get_absolute_url()
    sync.refresh_from_db()
    assert sync.status == SyncStatus.DELETING and sync.decided_by == connector_admin
    page = admin_ui.get(inventory.get_absolute_url()).content.decode()
    assert "waiting for your confirmation" not in page and "Full sync deletions confirmed" in page
    again = admin_ui.post(url, follow=True).content.decode()
    assert "Only a held sync can be confirmed" in again


def test_discarding_in_the_ui(inventory, admin_ui):
    sync = held_sync(inventory)
    admin_ui.post(reverse("connectors:sync_discard", args=[sync.uuid]))
    assert Sync.objects.get().status == SyncStatus.DISCARDED and live_keys(inventory) == keys(*range(10))


def test_the_delivery_log_groups_a_syncs_parts(inventory, admin_ui, django_assert_max_num_queries):
    parts = [send(inventory, part(range(5))), send(inventory, part(range(5, 9), final=True))]
    for delivery in parts:
        process_delivery(delivery.pk)
    sync = Sync.objects.get()
    with django_assert_max_num_queries(12):
        log = admin_ui.get(reverse("connectors:delivery_list", args=[inventory.uuid])).content.decode()
    assert log.count(sync.get_absolute_url()) == 2 and "final part of sync nightly" in log
    detail = admin_ui.get(sync.get_absolute_url()).content.decode()
    assert all(delivery.get_absolute_url() in detail for delivery in parts)
    assert "Done: 1 record no part reported was deleted" in detail and "<code>src-9</code>" in detail
    listing = admin_ui.get(reverse("connectors:sync_list", args=[inventory.uuid])).content.decode()
    assert "nightly" in listing and "2 / 2" in listing


def test_the_sync_list_explains_how_to_start_one(connector, admin_ui):
    page = admin_ui.get(reverse("connectors:sync_list", args=[connector.uuid])).content.decode()
    assert "No full sync yet" in page and '<code>"final": true</code>' in page


def test_the_deletion_limit_is_edited_with_the_connector(connector, admin_ui):
    url = reverse("connectors:connector_edit", args=[connector.uuid])
    form = {"name": connector.name, "modules": ["csam"], "payload_format": "native", "trust_rank": 50}
    page = admin_ui.post(url, {**form, "sync_delete_limit": 101}).content.decode()
    assert "Enter a percentage from 0 to 100." in page
    admin_ui.post(url, {**form, "sync_delete_limit": 5})
    connector.refresh_from_db()
    assert connector.sync_delete_limit == 5
    assert ConnectorEvent.objects.filter(action="edited", details__changes__sync_delete_limit=[30, 5]).exists()


def test_the_api_refuses_a_limit_over_100(connector, connector_admin):
    api = APIClient()
    api.force_authenticate(connector_admin)
    url = reverse("connectors-api:connector-detail", args=[connector.uuid])
    assert api.patch(url, {"sync_delete_limit": 101}, format="json").status_code == 400
    assert api.patch(url, {"sync_delete_limit": 0}, format="json").json()["sync_delete_limit"] == 0


# --- real workers -----------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_worker_killed_between_parts_loses_nothing_and_the_sync_finishes(connector, start_worker):
    from connectors.formats.sync import SyncMark
    from connectors.inbox import store_delivery
    from tests.conftest import wait_for

    first = store_delivery(connector, json.dumps({"assets": [asset(i) for i in range(10)]}).encode()).delivery
    assert process_delivery(first.pk) == DeliveryStatus.PROCESSED
    bodies = [part([0, 1, 2]), part([3, 4, 5]), part([6, 7], final=True)]
    parts = [
        store_delivery(connector, json.dumps(body).encode(), sync=SyncMark("nightly", body["sync"]["final"])).delivery
        for body in bodies
    ]
    env = {"DELIVERY_LEASE_SECONDS": "3", "SWEEP_INTERVAL": "1"}
    doomed = start_worker(
        env={**env, "DELIVERY_FAULT_HOOK": "tests.faults.crash_once", "FAULT_CRASH_DELIVERY": str(parts[1].pk)}
    )
    wait_for(lambda: doomed.poll() is not None, timeout=60, message="the worker to die on the second part")
    assert Sync.objects.get().status == SyncStatus.OPEN and live_keys(connector) == keys(*range(10))
    start_worker(env=env)
    wait_for(
        lambda: Sync.objects.filter(status=SyncStatus.COMPLETED).exists(),
        timeout=90,
        message="the sync to complete after the crashed part is taken over",
    )
    sync = Sync.objects.get()
    assert (sync.reported, sync.deleted) == (8, 2)
    assert Delivery.objects.get(pk=parts[1].pk).attempts == 2
    assert live_keys(connector) == keys(*range(8))
    assert Asset.objects.filter(retired=True).count() == 2


def test_listing_syncs_costs_the_same_for_one_or_many(
    inventory, connector_admin, admin_ui, django_assert_max_num_queries
):
    for number in range(6):
        delivery = send(inventory, part([0, 1], f"sync-{number}"))
        process_delivery(delivery.pk)
    api = APIClient()
    api.force_authenticate(connector_admin)
    with django_assert_max_num_queries(6):
        listed = api.get(reverse("connectors-api:sync-list"), {"connector": str(inventory.uuid)}).json()
    assert listed["count"] == 6 and {row["parts"] for row in listed["results"]} == {1}
    with django_assert_max_num_queries(8):
        page = admin_ui.get(reverse("connectors:sync_list", args=[inventory.uuid]))
    assert page.content.decode().count("1 / 1") == 6
