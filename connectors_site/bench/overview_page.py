"""Part 8 of the benchmark: the Overview page over the inventory the list page left (a million assets by
default), with a month of deliveries behind its charts (server time, Django test client).

It measures the recount the Overview keeps its inventory counts from (what a worker runs when the inventory
changed), then the page itself with those counts stored, and checks the page's totals against direct counts.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from assets.models import Asset
from assets.overview.counts import refresh_counts
from connectors.choices import DeliveryStatus
from connectors.models import Connector, Delivery
from connectors.services import create_connector
from connectors_site.common.db import insert_rows

from .database import analyze
from .list_page import _time_page
from .loader import _with_defaults

Log = Callable[[str], None]
#: Connectors pushing and days of history; by default each pushes every 15 minutes: 12 x 4 x 24 x 30 deliveries.
SOURCES, DAYS = 12, 30
DEFAULT_DELIVERIES = SOURCES * 4 * 24 * DAYS
#: Status mix of the history (most processed, a few of every problem).
STATUS_WEIGHTS = {
    DeliveryStatus.PROCESSED: 90,
    DeliveryStatus.PARTIAL: 5,
    DeliveryStatus.FAILED: 2,
    DeliveryStatus.REJECTED: 2,
    DeliveryStatus.DEAD: 1,
}
DELIVERY_COLUMNS = (
    "uuid", "connector_id", "received_at", "status", "records_received", "records_created", "records_updated",
    "records_merged", "records_skipped", "records_errors", "last_error", "attempts",
)  # fmt: skip


def measure_overview(log: Log, *, deliveries: int = DEFAULT_DELIVERIES, seed: int = 1) -> dict:
    """Load ``deliveries`` of history, recount, then time the page with its counts stored."""
    added = _add_delivery_history(deliveries, seed)
    log(f"[8/8] {added:,} deliveries over {DAYS} days to {SOURCES} more connectors")
    assets = Asset.objects.count()
    begun = time.perf_counter()
    snapshot = refresh_counts()
    recount_ms = (time.perf_counter() - begun) * 1000
    log(f"[8/8] inventory recount over {assets:,} assets: {recount_ms:,.0f} ms (a worker's job when it changed)")
    user = get_user_model().objects.create_user("bench-overview", is_staff=True, is_superuser=True)
    with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
        client = Client()
        client.force_login(user)
        page = _time_page(client, reverse("overview"))
    total = snapshot.counts["total"]
    live = Asset.objects.live().count()
    if total["live"] != live:
        raise RuntimeError(f"the overview counts {total['live']} live assets, the inventory has {live}")
    log(
        f"[8/8] {page['url']}: median {page['median_ms']:.0f} ms over {len(page['runs_ms'])} runs "
        f"({page['queries']} queries, slowest {page['slowest_query_ms']:.0f} ms); {total['live']:,} live assets"
    )
    return {
        "assets": assets,
        "deliveries": Delivery.objects.count(),
        "connectors": Connector.objects.count(),
        "recount_ms": round(recount_ms, 1),
        "counts": total,
        "page": page,
    }


def _add_delivery_history(total: int, seed: int) -> int:
    """``total`` deliveries from SOURCES new connectors, evenly over the last DAYS days, bulk-inserted (with the
    counters a worker would leave)."""
    rng = random.Random(seed)
    statuses, weights = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
    now = timezone.now()
    names, defaults = _with_defaults(Delivery, DELIVERY_COLUMNS)
    rows = []
    for index in range(SOURCES):
        connector, _ = create_connector(name=f"Bench source {index:02d}", description="benchmark: delivery history")
        each = max(total // SOURCES, 1)
        for step in range(each):
            status = rng.choices(statuses, weights)[0]
            received = rng.randint(1, 500) if status != DeliveryStatus.REJECTED else 0
            errors = rng.randint(1, 5) if status == DeliveryStatus.PARTIAL else 0
            created = rng.randint(0, received // 10) if status == DeliveryStatus.PROCESSED else 0
            updated = received - created - errors if status in (DeliveryStatus.PROCESSED, DeliveryStatus.PARTIAL) else 0
            at = now - timedelta(minutes=step * DAYS * 24 * 60 / each + rng.random() * 10)
            error = "" if status in (DeliveryStatus.PROCESSED, DeliveryStatus.PARTIAL) else "benchmark failure"
            counters = (received, created, max(updated, 0), 0, 0, errors)
            rows.append((uuid.uuid4(), connector.pk, at, status, *counters, error, 1, *defaults))
    with transaction.atomic():
        for start in range(0, len(rows), 5000):
            insert_rows(Delivery, names, rows[start : start + 5000])
    analyze(Delivery._meta.db_table)
    return len(rows)
