"""Nothing lost, nothing duplicated: retries, dead deliveries, crashes, races and ordering."""

import json
import os
import random
import signal
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from assets.models import Asset, Decision, Identifier, SourceRecord
from connectors.choices import DeliveryStatus
from connectors.inbox import replay_delivery, store_delivery
from connectors.models import Delivery, WorkerHeartbeat
from connectors.tasks import recover_deliveries
from connectors.worker import backoff_seconds, claim_delivery, process_delivery
from tests.conftest import wait_for

from .helpers import asset

pytestmark = pytest.mark.django_db


def deliver(connector, payload, **kwargs) -> Delivery:
    return store_delivery(connector, json.dumps(payload).encode(), **kwargs).delivery


def run_until_settled(delivery: Delivery, limit: int = 10) -> str:
    """Play the worker in-process: process, and when a retry is scheduled, make it due and process again."""
    for _ in range(limit):
        Delivery.objects.filter(pk=delivery.pk, next_attempt_at__isnull=False).update(next_attempt_at=timezone.now())
        status = process_delivery(delivery.pk)
        if status != DeliveryStatus.QUEUED:
            return status
    raise AssertionError("delivery never settled")


def canonical_inventory() -> list:
    """The inventory without database ids: what must be equal between two runs over the same deliveries."""
    sources = {}
    for source in SourceRecord.objects.select_related("connector"):
        sources.setdefault(source.asset_id, []).append((source.connector.name, source.source_key, source.deleted))
    return sorted(
        (
            asset.hostname,
            asset.serial_number,
            tuple(asset.mac_addresses),
            tuple(asset.ip_addresses),
            asset.os,
            asset.retired,
            tuple(sorted(sources.get(asset.pk, []))),
        )
        for asset in Asset.objects.filter(merged_into__isnull=True)
    )


def wipe_inventory():
    Identifier.objects.all().delete()
    Decision.objects.all().delete()
    SourceRecord.objects.all().delete()
    Asset.objects.all().delete()


def test_transient_failures_are_retried_until_processed(connector, settings, monkeypatch):
    settings.DELIVERY_FAULT_HOOK = "tests.faults.fail_first_attempts"
    monkeypatch.setenv("FAULT_FAILURES", "2")
    delivery = deliver(connector, {"assets": [asset(1)]})
    assert process_delivery(delivery.pk) == DeliveryStatus.QUEUED
    delivery.refresh_from_db()
    assert delivery.next_attempt_at > timezone.now() and "injected transient" in delivery.last_error
    assert process_delivery(delivery.pk) == "not claimed"  # not due yet: backoff is respected
    assert run_until_settled(delivery) == DeliveryStatus.PROCESSED
    delivery.refresh_from_db()
    assert delivery.attempts == 3 and Asset.objects.count() == 1


def test_permanent_failures_go_dead_then_replay_succeeds_once_fixed(connector, settings, monkeypatch):
    settings.DELIVERY_FAULT_HOOK = "tests.faults.always_fail"
    settings.DELIVERY_MAX_ATTEMPTS = 3
    delivery = deliver(connector, {"assets": [asset(1)]})
    assert run_until_settled(delivery) == DeliveryStatus.DEAD
    delivery.refresh_from_db()
    assert delivery.attempts == 3 and "gave up after 3 attempts" in delivery.last_error
    assert json.loads(bytes(delivery.body)) == {"assets": [asset(1)]}  # body intact
    monkeypatch.setenv("FAULT_BROKEN", "0")
    replay_delivery(delivery)
    assert process_delivery(delivery.pk) == DeliveryStatus.PROCESSED
    assert Asset.objects.count() == 1


def test_unparseable_body_is_rejected_without_retry(connector):
    delivery = store_delivery(connector, b"{broken").delivery
    assert process_delivery(delivery.pk) == DeliveryStatus.REJECTED
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and "JSON" in delivery.last_error


def test_expired_lease_is_taken_over_and_the_sweep_requeues_it(connector, django_capture_on_commit_callbacks):
    delivery = deliver(connector, {"assets": [asset(1)]})
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PROCESSING,
        claimed_by="dead-worker",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
        enqueued_at=timezone.now() - timedelta(minutes=5),
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert recover_deliveries() == 1
        assert recover_deliveries() == 0  # not enqueued twice for the same expiry
    assert len(callbacks) == 1
    assert process_delivery(delivery.pk, worker_id="survivor") == DeliveryStatus.PROCESSED


def test_live_lease_is_not_stolen(connector):
    delivery = deliver(connector, {"assets": [asset(1)]})
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PROCESSING, lease_expires_at=timezone.now() + timedelta(minutes=1)
    )
    assert process_delivery(delivery.pk) == "not claimed"
    assert recover_deliveries() == 0


def beat(worker_id: str, seconds_ago: float) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"hostname": "h", "pid": 1, "started_at": now, "last_beat": now - timedelta(seconds=seconds_ago)},
    )


def claimed_by(connector, worker_id: str, *, enqueued_ago: float = 1) -> Delivery:
    """A delivery mid-way in ``worker_id``'s hands, with a lease that runs for minutes yet."""
    delivery = deliver(connector, {"assets": [asset(1)]})
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PROCESSING,
        claimed_by=worker_id,
        attempts=1,
        started_at=now,
        lease_expires_at=now + timedelta(minutes=5),
        enqueued_at=now - timedelta(seconds=enqueued_ago),
    )
    return delivery


def test_a_dead_workers_delivery_is_taken_over_before_its_lease_expires(
    connector, settings, django_capture_on_commit_callbacks
):
    settings.HEARTBEAT_STALE_SECONDS = 30
    beat("dead-worker", seconds_ago=31)
    delivery = claimed_by(connector, "dead-worker")
    with django_capture_on_commit_callbacks() as callbacks:
        assert recover_deliveries() == 1
        assert recover_deliveries() == 0  # re-enqueued once for this claim
    assert len(callbacks) == 1
    assert process_delivery(delivery.pk, worker_id="survivor") == DeliveryStatus.PROCESSED
    delivery.refresh_from_db()
    assert delivery.claimed_by == "survivor" and delivery.attempts == 2


def test_a_live_workers_delivery_is_not_taken_over(connector, settings):
    settings.HEARTBEAT_STALE_SECONDS = 30
    beat("slow-worker", seconds_ago=29)
    delivery = claimed_by(connector, "slow-worker", enqueued_ago=600)
    assert claim_delivery(delivery.pk, "other") is None
    assert recover_deliveries() == 0


def test_a_claimant_without_heartbeat_keeps_its_lease(connector, settings):
    """A bare db_worker (no heartbeat row) is never presumed dead before its lease expires."""
    settings.HEARTBEAT_STALE_SECONDS = 30
    beat("someone-else", seconds_ago=600)
    delivery = claimed_by(connector, "no-heartbeat", enqueued_ago=600)
    assert claim_delivery(delivery.pk, "other") is None
    assert recover_deliveries() == 0


def test_a_worker_taken_over_stops_without_touching_the_delivery(connector, settings, monkeypatch):
    """If a worker presumed dead was only stalled, its renewals and its finish find the claim gone."""
    delivery = deliver(connector, {"assets": [asset(i) for i in range(5)]})
    settings.IDENTIFICATION_CHUNK_SIZE = 2

    def taken_over_after_first_chunk(connector, records, **kwargs):
        Delivery.objects.filter(pk=delivery.pk).update(claimed_by="survivor")
        kwargs["after_chunk"](kwargs["result"])

    monkeypatch.setattr("connectors.worker.process_records", taken_over_after_first_chunk)
    assert process_delivery(delivery.pk, worker_id="stalled") == "lost claim"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSING and delivery.claimed_by == "survivor"


def test_retry_backoff_doubles_up_to_a_cap(settings):
    settings.DELIVERY_RETRY_BASE_SECONDS = 2
    assert [backoff_seconds(attempt) for attempt in range(1, 6)] == [2, 4, 8, 16, 32]
    assert backoff_seconds(9) == 512 and backoff_seconds(10) == 600 and backoff_seconds(40) == 600
    settings.DELIVERY_RETRY_BASE_SECONDS = 30
    assert backoff_seconds(1) == 30 and backoff_seconds(2) == 60 and backoff_seconds(6) == 600


def test_a_retry_is_scheduled_after_the_backoff(connector, settings, monkeypatch):
    settings.DELIVERY_FAULT_HOOK = "tests.faults.fail_first_attempts"
    settings.DELIVERY_RETRY_BASE_SECONDS = 100
    monkeypatch.setenv("FAULT_FAILURES", "2")
    delivery = deliver(connector, {"assets": [asset(1)]})
    for attempt, wait in ((1, 100), (2, 200)):
        before = timezone.now()
        assert process_delivery(delivery.pk) == DeliveryStatus.QUEUED
        delivery.refresh_from_db()
        assert delivery.attempts == attempt
        delay = (delivery.next_attempt_at - before).total_seconds()
        assert wait - 1 < delay < wait + 5, (attempt, delay)
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_queued_delivery_whose_task_vanished_is_requeued(connector):
    delivery = deliver(connector, {"assets": [asset(1)]})
    assert recover_deliveries() == 0  # its task is fresh
    Delivery.objects.filter(pk=delivery.pk).update(enqueued_at=timezone.now() - timedelta(minutes=5))
    assert recover_deliveries() == 1


def test_out_of_order_deliveries_keep_the_newest_values(connector):
    v1 = deliver(connector, {"assets": [asset(1, os="v1", updated_at="2026-11-01T10:00:00Z")]})
    v2 = deliver(connector, {"assets": [asset(1, os="v2", updated_at="2026-11-02T10:00:00Z")]})
    process_delivery(v2.pk)
    process_delivery(v1.pk)
    assert Asset.objects.get().os == "v2"
    assert Decision.objects.get(delivery=v1).outcome == "unchanged"


def test_out_of_order_without_record_timestamps_uses_receipt_time(connector):
    v1 = deliver(connector, {"assets": [asset(1, os="v1")]})
    v2 = deliver(connector, {"assets": [asset(1, os="v2")]})
    Delivery.objects.filter(pk=v1.pk).update(received_at=timezone.now() - timedelta(minutes=1))
    process_delivery(v2.pk)
    process_delivery(v1.pk)
    assert Asset.objects.get().os == "v2"


def test_processing_a_delivery_twice_gives_the_same_inventory(connector):
    delivery = deliver(connector, {"assets": [asset(i) for i in range(30)], "deleted": ["src-3"]})
    process_delivery(delivery.pk)
    first = canonical_inventory()
    decisions = Decision.objects.filter(delivery=delivery).count()
    replay_delivery(delivery)
    process_delivery(delivery.pk)
    assert canonical_inventory() == first
    assert Decision.objects.filter(delivery=delivery).count() == decisions


# --- real processes ---------------------------------------------------------------------------------------


def overlapping_batches(connectors, *, seed=7, machines=120, batches=12):
    """Deliveries from several connectors whose records overlap: same serials/MACs from different sources, and
    the same source keys again in later batches."""
    rng = random.Random(seed)
    deliveries = []
    for n in range(batches):
        connector = connectors[n % len(connectors)]
        picked = rng.sample(range(machines), 30)
        records = [
            asset(i, source_key=f"{connector.name}-{i}", os=f"os-{n}", updated_at=f"2026-11-{1 + n:02d}T00:00:00Z")
            for i in picked
        ]
        deliveries.append((connector, {"assets": records}))
    rng.shuffle(deliveries)
    return deliveries


def assert_no_duplicate_identities():
    shared = (
        Identifier.objects.filter(kind__in=["serial_number", "mac_address"])
        .values("kind", "value")
        .annotate(assets=Count("asset", distinct=True))
        .filter(assets__gt=1)
    )
    assert not shared.exists(), list(shared[:5])


def replay_everything_in_this_process(workers) -> list:
    """Stop the workers, wipe the inventory and process every delivery again here, in order; the new inventory.

    The workers stop first: a replay enqueues a task, and a running worker would take it from under this loop.
    """
    for worker in workers:
        worker.kill()
        worker.wait(timeout=10)
    wipe_inventory()
    for delivery in Delivery.objects.order_by("pk"):
        replay_delivery(delivery)
        assert process_delivery(delivery.pk) == DeliveryStatus.PROCESSED
    return canonical_inventory()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_two_workers_on_overlapping_deliveries_make_no_duplicates(make_connector, start_worker, tmp_path):
    connectors = [make_connector("CMDB"), make_connector("MDM"), make_connector("Cloud")]
    plan = overlapping_batches(connectors)
    for connector, payload in plan:
        deliver(connector, payload)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {"DELIVERY_FAULT_HOOK": "tests.faults.start_together", "FAULT_BARRIER_DIR": str(barrier)}
    workers = start_worker(env=env), start_worker(env=env)  # their first deliveries start together
    wait_for(
        lambda: not Delivery.objects.exclude(status=DeliveryStatus.PROCESSED).exists(),
        timeout=120,
        message="every delivery processed",
    )
    claimants = list(Delivery.objects.values_list("claimed_by", flat=True))
    assert all(any(f":{worker.pid}:" in claimant for claimant in claimants) for worker in workers)
    assert not Delivery.objects.filter(records_errors__gt=0).exists()
    assert_no_duplicate_identities()
    assert Asset.objects.filter(merged_into__isnull=True).count() <= 120
    parallel = canonical_inventory()
    # The same deliveries, processed one by one in a single process, give the same inventory.
    assert replay_everything_in_this_process(workers) == parallel


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_two_workers_deciding_about_the_same_new_machines_at_once_make_one_asset_each(
    make_connector, start_worker, tmp_path
):
    """The race the identity locks close, made to happen every time: two connectors report the same 300 new
    machines, and a barrier starts both workers' single chunk at the same moment. Without the locks both chunks see
    an empty inventory and create 600 assets; with them the second chunk waits and merges into the first's."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {"DELIVERY_FAULT_HOOK": "tests.faults.start_together", "FAULT_BARRIER_DIR": str(barrier)}
    cmdb, mdm = make_connector("CMDB"), make_connector("MDM")
    for connector in (cmdb, mdm):
        deliver(connector, {"assets": [asset(i, source_key=f"{connector.name}-{i}") for i in range(300)]})
    workers = start_worker(env=env), start_worker(env=env)
    wait_for(
        lambda: Delivery.objects.filter(status=DeliveryStatus.PROCESSED).count() == 2,
        timeout=90,
        message="both deliveries processed",
    )
    claimants = set(Delivery.objects.values_list("claimed_by", flat=True))
    for worker in workers:  # each worker took one delivery, and both met at the barrier
        assert sum(f":{worker.pid}:" in claimant for claimant in claimants) == 1
    assert len(list(barrier.iterdir())) == 2
    assert_no_duplicate_identities()
    assert Asset.objects.count() == 300
    assert not Asset.objects.annotate(n=Count("sources")).exclude(n=2).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_killing_a_worker_mid_delivery_loses_nothing(connector, start_worker):
    env = {"IDENTIFICATION_CHUNK_SIZE": "25", "DELIVERY_LEASE_SECONDS": "3", "SWEEP_INTERVAL": "1"}
    big = deliver(connector, {"assets": [asset(i) for i in range(2500)]})
    small = [deliver(connector, {"assets": [asset(5000 + i)]}) for i in range(5)]
    first = start_worker(env=env)
    wait_for(
        lambda: Delivery.objects.filter(pk=big.pk, status="processing", records_received__gt=0).exists(),
        timeout=60,
        interval=0.02,
        message="the big delivery to be mid-way",
    )
    victim = Delivery.objects.get(pk=big.pk).claimed_by
    assert f":{first.pid}:" in victim
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    second = start_worker(env=env)
    wait_for(
        lambda: Delivery.objects.filter(status="processed").count() == 1 + len(small),
        timeout=120,
        message="every delivery processed after the crash",
    )
    big.refresh_from_db()
    assert big.attempts >= 2 and big.records_created + big.records_updated == 2500
    after_crash = canonical_inventory()
    assert replay_everything_in_this_process([second]) == after_crash
    assert Asset.objects.count() == 2505


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_killed_workers_delivery_is_taken_over_within_a_minute_not_after_the_lease(connector, start_worker):
    """Production timings (300 s lease, 10 s beats, stale after 30 s, sweep every 15 s): after `kill -9` and a
    restart, the interrupted delivery is finished well within 60 s, long before its lease would expire."""
    env = {
        "IDENTIFICATION_CHUNK_SIZE": "25",
        "DELIVERY_LEASE_SECONDS": "300",
        "WORKER_HEARTBEAT_SECONDS": "10",
        "HEARTBEAT_STALE_SECONDS": "30",
        "SWEEP_INTERVAL": "15",
    }
    big = deliver(connector, {"assets": [asset(i) for i in range(1000)]})
    first = start_worker(env=env)
    wait_for(
        lambda: Delivery.objects.filter(pk=big.pk, status="processing", records_received__gt=0).exists(),
        timeout=60,
        interval=0.02,
        message="the delivery to be mid-way",
    )
    victim = Delivery.objects.get(pk=big.pk).claimed_by
    assert WorkerHeartbeat.objects.filter(worker_id=victim, pid=first.pid).exists()  # the claim names the beater
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    restarted = time.monotonic()
    start_worker(env=env)
    wait_for(
        lambda: Delivery.objects.filter(pk=big.pk, status="processed").exists(),
        timeout=75,
        interval=0.2,
        message="the interrupted delivery to be finished",
    )
    took = time.monotonic() - restarted
    big.refresh_from_db()
    assert took < 60, f"took {took:.1f}s after the restart"
    assert big.attempts == 2 and big.claimed_by != victim
    assert big.records_created + big.records_updated == 1000 and Asset.objects.count() == 1000


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_slow_but_live_worker_keeps_its_delivery(connector, start_worker):
    """A chunk that takes several times the stale limit: the worker's heartbeat keeps beating meanwhile, so a second
    worker (sweeping all the time) does not take its delivery over."""
    env = {
        "WORKER_HEARTBEAT_SECONDS": "0.3",
        "HEARTBEAT_STALE_SECONDS": "1.5",
        "SWEEP_INTERVAL": "0.3",
        "DELIVERY_REQUEUE_AFTER_SECONDS": "0.5",
        "DELIVERY_FAULT_HOOK": "tests.faults.slow_first_attempt",
        "FAULT_SLEEP": "6",
    }
    delivery = deliver(connector, {"assets": [asset(i) for i in range(20)]})
    first = start_worker(env=env)
    wait_for(
        lambda: Delivery.objects.filter(pk=delivery.pk, status="processing").exists(),
        timeout=30,
        interval=0.05,
        message="the first worker to claim the delivery",
    )
    owner = Delivery.objects.get(pk=delivery.pk).claimed_by
    second = start_worker(env=env)
    wait_for(lambda: WorkerHeartbeat.objects.filter(pid=second.pid).exists(), timeout=30, message="the second worker")
    wait_for(
        lambda: Delivery.objects.filter(pk=delivery.pk, status="processed").exists(),
        timeout=60,
        message="the slow delivery to be finished",
    )
    delivery.refresh_from_db()
    assert f":{first.pid}:" in owner
    assert delivery.attempts == 1 and delivery.claimed_by == owner
    assert Asset.objects.count() == 20


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_posts_make_one_delivery(live_server, connector):
    url = f"{live_server.url}/webhooks/{connector.uuid}"
    body = json.dumps({"assets": [asset(1)]}).encode()
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {connector.credentials.token}",
        "Idempotency-Key": "same-key",
    }
    codes, ids = [], set()
    start = threading.Barrier(20)

    def send():
        start.wait()
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                codes.append(response.status)
                ids.add(json.loads(response.read())["delivery_id"])
        except urllib.error.HTTPError as error:
            codes.append(error.code)

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert sorted(codes) == [200] * 19 + [202], codes
    assert len(ids) == 1
    assert Delivery.objects.count() == 1
