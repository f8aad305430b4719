"""Prometheus metrics, all named ``hub_…``, served at ``/metrics`` (see :mod:`connectors.metrics_view`).

Two sources, so the figures are right however many web and worker processes run, on however many hosts:

* **From the database, at scrape time** (:class:`HubCollector`, a constant four queries): deliveries by
  status, queue depth and the age of the oldest queued delivery, live workers (fresh heartbeats), dead deliveries;
  and the running totals of :mod:`connectors.tally`, added to whenever a delivery finishes: deliveries finished by
  status, records by outcome, the processing-time histogram. These are global: every host reports the same values.
* **Per process, in prometheus_client's multiprocess mode**: intake requests by endpoint and status code, counted
  where the request is answered. ``manage.py serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` for its web processes
  (cleared at start), so any of them answers a scrape with the sum over all of them. These are per host.
  Without the variable (``runserver``, one process) the counter lives in the process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from . import tally
from .choices import DeliveryStatus
from .models import Delivery, WorkerHeartbeat

#: Intake requests by endpoint (webhook, csam) and the status code answered. Not registered globally: the
#: scrape builds its own registry (see :func:`registry`).
INTAKE_REQUESTS = Counter(
    "hub_intake_requests",
    "Intake requests answered, by endpoint and HTTP status code.",
    ["endpoint", "code"],
    registry=None,
)


def count_intake_request(endpoint: str, status_code: int) -> None:
    INTAKE_REQUESTS.labels(endpoint or "other", str(status_code)).inc()


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


class HubCollector(Collector):
    """What the database knows, read at each scrape."""

    def collect(self) -> Iterator:
        now = timezone.now()
        by_status = dict(Delivery.objects.order_by().values_list("status").annotate(n=Count("pk")))
        deliveries = GaugeMetricFamily("hub_deliveries", "Deliveries stored, by current status.", labels=["status"])
        for status in DeliveryStatus.values:
            deliveries.add_metric([status], by_status.get(status, 0))
        yield deliveries
        yield GaugeMetricFamily(
            "hub_queue_depth", "Deliveries queued for processing.", value=by_status.get(DeliveryStatus.QUEUED, 0)
        )
        oldest = Delivery.objects.filter(status=DeliveryStatus.QUEUED).aggregate(oldest=Min("received_at"))["oldest"]
        yield GaugeMetricFamily(
            "hub_queue_oldest_age_seconds",
            "Age of the oldest queued delivery (0 when none is queued).",
            value=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        )
        yield GaugeMetricFamily(
            "hub_deliveries_dead",
            "Deliveries that failed every attempt and wait for a replay.",
            value=by_status.get(DeliveryStatus.DEAD, 0),
        )
        fresh = now - timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS)
        yield GaugeMetricFamily(
            "hub_workers_live",
            "Background workers whose heartbeat is fresh.",
            value=WorkerHeartbeat.objects.filter(last_beat__gte=fresh).count(),
        )
        yield from _totals(tally.totals())


def _totals(totals: dict[tuple[str, str], int]) -> Iterator:
    finished = CounterMetricFamily(
        "hub_deliveries_finished", "Deliveries that reached a final status (a replay counts again).", labels=["status"]
    )
    for status in tally.FINAL_STATUSES:
        finished.add_metric([status], totals.get((tally.DELIVERIES, status), 0))
    yield finished
    records = CounterMetricFamily(
        "hub_records", "Records of finished deliveries, by outcome (received is all of them).", labels=["outcome"]
    )
    for outcome in tally.RECORD_OUTCOMES:
        records.add_metric([outcome], totals.get((tally.RECORDS, outcome), 0))
    yield records
    buckets, running = [], 0
    for bound in (*tally.DURATION_BUCKETS, float("inf")):
        label = tally.bucket_label(bound)
        running += totals.get((tally.DURATION_BUCKET, label), 0)
        buckets.append((label, running))
    yield HistogramMetricFamily(
        "hub_delivery_processing_seconds",
        "Time a worker took to process a delivery, from its claim to its final status.",
        buckets=buckets,
        sum_value=totals.get((tally.DURATION_SUM_MS, ""), 0) / 1000,
    )


def registry() -> CollectorRegistry:
    """A registry for one scrape: the database collector plus the per-process counters (summed over every
    process of this host in multiprocess mode)."""
    found = CollectorRegistry(auto_describe=False)
    if path := multiprocess_dir():
        MultiProcessCollector(found, path=path)
    else:
        found.register(INTAKE_REQUESTS)
    found.register(HubCollector())
    return found
