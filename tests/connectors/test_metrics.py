"""/metrics: who may read it, and that its figures are what the database and the processes know."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from connectors import metrics
from connectors.choices import DeliveryStatus
from connectors.inbox import replay_delivery, store_delivery
from connectors.models import Delivery, WorkerHeartbeat
from connectors.services import delete_connector
from connectors.tally import bucket_label
from connectors.worker import process_delivery, prune_deliveries
from connectors_site.serving import prepare_metrics_dir

from .helpers import asset, post_bearer

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-0123456789"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scraper(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []

    def scrape() -> dict[tuple, float]:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("text/plain; version=")
        samples = {}
        for family in text_string_to_metric_families(response.content.decode()):
            for sample in family.samples:
                samples[(sample.name, *sorted(sample.labels.items()))] = sample.value
        return samples

    return scrape


def value(samples, name, **labels) -> float:
    return samples.get((name, *sorted(labels.items())), 0.0)


def stored(connector, *records, process=True) -> Delivery:
    delivery = store_delivery(connector, json.dumps({"assets": list(records)}).encode()).delivery
    if process:
        process_delivery(delivery.pk)
    return Delivery.objects.get(pk=delivery.pk)


# --- access -------------------------------------------------------------------------------------------------------


def test_metrics_are_off_until_a_token_or_networks_are_set(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", []
    response = client.get("/metrics")
    assert response.status_code == 404
    assert b"METRICS_TOKEN" in response.content and b"hub_" not in response.content


def test_the_token_is_required_when_set(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = TOKEN, []
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 403
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200 and b"hub_queue_depth" in response.content
    assert "no-cache" in response["Cache-Control"]
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


def test_allowed_networks_use_the_client_address(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "192.0.2.7"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.8").status_code == 403
    # Behind the TLS proxy, the address the proxy appended counts, not one the client made up.
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    forwarded = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "10.9.9.9, 203.0.113.5"}
    assert client.get("/metrics", **forwarded).status_code == 403
    forwarded["HTTP_X_FORWARDED_FOR"] = "203.0.113.5, 10.9.9.9"
    assert client.get("/metrics", **forwarded).status_code == 200


def test_with_both_set_both_must_hold(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = TOKEN, ["10.0.0.0/8"]
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.1", **bearer).status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="172.16.0.1", **bearer).status_code == 403


def test_a_signed_in_user_without_the_token_gets_nothing(admin_ui, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = TOKEN, []
    assert admin_ui.get("/metrics").status_code == 403


def test_a_bad_network_is_a_startup_error(settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/33"]
    with pytest.raises(SystemCheckError, match="METRICS_ALLOWED_NETWORKS"):
        call_command("check")


# --- what the database knows --------------------------------------------------------------------------------------


def test_deliveries_queue_workers_and_dead_ones(scraper, connector, settings):
    stored(connector, asset(1))
    queued = stored(connector, asset(2), process=False)
    Delivery.objects.filter(pk=queued.pk).update(received_at=timezone.now() - timedelta(minutes=5))
    stored(connector, asset(3), process=False)
    dead = stored(connector, asset(4))
    Delivery.objects.filter(pk=dead.pk).update(status=DeliveryStatus.DEAD)
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="a", hostname="h", pid=1, started_at=now, last_beat=now)
    stale = now - timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS + 5)
    WorkerHeartbeat.objects.create(worker_id="b", hostname="h", pid=2, started_at=stale, last_beat=stale)

    samples = scraper()
    assert value(samples, "hub_deliveries", status="processed") == 1
    assert value(samples, "hub_deliveries", status="queued") == 2
    assert value(samples, "hub_deliveries", status="dead") == 1
    assert value(samples, "hub_deliveries", status="rejected") == 0  # every status is reported
    assert value(samples, "hub_queue_depth") == 2
    assert 300 <= value(samples, "hub_queue_oldest_age_seconds") < 3600
    assert value(samples, "hub_deliveries_dead") == 1
    assert value(samples, "hub_workers_live") == 1


def test_an_empty_queue_has_no_age(scraper, connector):
    stored(connector, asset(1))
    samples = scraper()
    assert value(samples, "hub_queue_depth") == 0
    assert ("hub_queue_oldest_age_seconds",) in samples and value(samples, "hub_queue_oldest_age_seconds") == 0


def test_records_and_finished_deliveries_only_grow_pruning_and_deleting_take_nothing_away(
    scraper, connector, settings, connector_admin
):
    first = stored(connector, asset(1), asset(2), {"hostname": "no key"})
    stored(connector, asset(1))
    samples = scraper()
    assert value(samples, "hub_records_total", outcome="received") == 4
    assert value(samples, "hub_records_total", outcome="created") == 2
    assert value(samples, "hub_records_total", outcome="updated") == 1
    assert value(samples, "hub_records_total", outcome="errors") == 1
    assert value(samples, "hub_deliveries_finished_total", status="partial") == 1
    assert value(samples, "hub_deliveries_finished_total", status="processed") == 1

    settings.DELIVERY_RETENTION_DAYS = 30
    Delivery.objects.filter(pk=first.pk).update(received_at=timezone.now() - timedelta(days=40))
    assert prune_deliveries() == 1
    delete_connector(connector, actor=connector_admin)
    assert not Delivery.objects.exists()
    after = scraper()
    for name in ("hub_records_total", "hub_deliveries_finished_total"):
        assert {k: v for k, v in after.items() if k[0] == name} == {k: v for k, v in samples.items() if k[0] == name}


def test_a_replay_counts_again(scraper, connector):
    delivery = stored(connector, asset(1))
    replay_delivery(delivery)
    process_delivery(delivery.pk)
    samples = scraper()
    assert value(samples, "hub_deliveries_finished_total", status="processed") == 2
    assert value(samples, "hub_records_total", outcome="created") == 1
    assert value(samples, "hub_records_total", outcome="updated") == 1


def test_a_delivery_rejected_at_intake_is_counted(scraper, client, connector):
    assert post_bearer(client, connector, b"{broken").status_code == 400
    samples = scraper()
    assert value(samples, "hub_deliveries_finished_total", status="rejected") == 1
    assert value(samples, "hub_deliveries", status="rejected") == 1


def test_processing_time_is_a_histogram_of_finished_deliveries(scraper, connector):
    for i in range(3):
        stored(connector, asset(i))
    stored(connector, asset(9), process=False)  # not finished: not observed
    samples = scraper()
    assert value(samples, "hub_delivery_processing_seconds_count") == 3
    assert value(samples, "hub_delivery_processing_seconds_bucket", le="+Inf") == 3
    assert value(samples, "hub_delivery_processing_seconds_sum") >= 0
    buckets = sorted(
        (float(dict(key[1:])["le"]), count) for key, count in samples.items() if key[0].endswith("_bucket")
    )
    assert [count for _, count in buckets] == sorted(count for _, count in buckets)  # cumulative


def test_bucket_labels():
    assert bucket_label(0) == "0.1"
    assert bucket_label(0.1) == "0.1"
    assert bucket_label(0.11) == "0.25"
    assert bucket_label(59) == "60"
    assert bucket_label(10_000) == "+Inf"


def test_a_scrape_costs_a_constant_number_of_queries(scraper, connector, django_assert_max_num_queries):
    for i in range(5):
        stored(connector, asset(i))
    with django_assert_max_num_queries(4):
        text = generate_latest(metrics.registry()).decode()
    assert "hub_records_total" in text and "hub_workers_live" in text


# --- what the processes count -------------------------------------------------------------------------------------


def test_intake_requests_are_counted_by_endpoint_and_status(scraper, client, connector):
    before = scraper()
    post_bearer(client, connector, {"assets": [asset(1)]})
    post_bearer(client, connector, {"assets": [asset(2)]})
    post_bearer(client, connector, {"assets": [asset(3)]}, token="cht_wrong")
    client.post("/rest/2.0/am/connector/asset/data/sync", b"{", content_type="application/json")
    after = scraper()
    delta = {key: after[key] - before.get(key, 0.0) for key in after if key[0] == "hub_intake_requests_total"}
    assert delta[("hub_intake_requests_total", ("code", "202"), ("endpoint", "webhook"))] == 2
    assert delta[("hub_intake_requests_total", ("code", "401"), ("endpoint", "webhook"))] == 1
    assert delta[("hub_intake_requests_total", ("code", "400"), ("endpoint", "csam"))] == 1


_COUNT_IN_A_PROCESS = (
    "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'connectors_site.settings'); "
    "django.setup(); from connectors.metrics import count_intake_request; "
    "count_intake_request('webhook', 202); count_intake_request('webhook', 401)"
)


def test_in_multiprocess_mode_a_scrape_sums_every_process(tmp_path, monkeypatch):
    """What `serve` sets up: each web process counts in the shared directory, any of them answers the sum."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_999.db").write_bytes(b"left over from the last run")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    path, made_here = prepare_metrics_dir()
    assert (path, made_here) == (str(directory), False)
    assert not list(directory.glob("*.db"))  # cleared at start
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": path}
    for _ in range(3):
        subprocess.run([sys.executable, "-c", _COUNT_IN_A_PROCESS], cwd=ROOT, env=env, check=True, timeout=120)
    samples = {}
    for family in metrics.registry().collect():
        for sample in family.samples:
            samples[(sample.name, *sorted(sample.labels.items()))] = sample.value
    assert samples[("hub_intake_requests_total", ("code", "202"), ("endpoint", "webhook"))] == 3
    assert samples[("hub_intake_requests_total", ("code", "401"), ("endpoint", "webhook"))] == 3


def test_serve_makes_a_fresh_directory_when_none_is_named(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    path, made_here = prepare_metrics_dir()
    try:
        assert made_here and Path(path).is_dir() and not any(Path(path).iterdir())
    finally:
        os.rmdir(path)
