"""Part 7 of the benchmark: the CSAM list page over a large inventory (server time, Django test client)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from assets.models import Asset
from connectors.models import Connector
from connectors.services import create_connector

from .loader import insert_list_assets

Log = Callable[[str], None]
LIST_PAGE_RUNS = 5
FILTERED_QUERY = "?q=web-12&kind=unmanaged"


def measure_list_page(total: int, log: Log) -> dict:
    """Grow the inventory to ``total`` assets, then time the first page, a filtered page and a connector's page."""
    out = _add_list_assets(total, log)
    user = get_user_model().objects.create_user("bench-admin", is_staff=True, is_superuser=True)
    with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
        client = Client()
        client.force_login(user)
        url = reverse("assets:asset_list")
        # View Assets in CSAM for the inventory's connector: its assets are the oldest, under every list asset.
        oldest = Connector.objects.get(name="Bench inventory")
        pages = (
            ("first_page", url),
            ("filtered_page", url + FILTERED_QUERY),
            ("connector_page", f"{url}?connector={oldest.uuid}"),
        )
        for name, target in pages:
            out[name] = _time_page(client, target)
            log(
                f"[7/7] {target}: {out[name]['table_rows']} rows, median {out[name]['median_ms']:.0f} ms "
                f"over {LIST_PAGE_RUNS} runs "
                f"({out[name]['queries']} queries, slowest {out[name]['slowest_query_ms']:.0f} ms)"
            )
    return out


def _add_list_assets(total: int, log: Log) -> dict:
    started = time.perf_counter()

    def progress(added: int, missing: int) -> None:
        if added % 200_000 == 0 or added == missing:
            log(f"[7/7] inserted {added:,} / {missing:,} list assets")

    connector, _ = create_connector(name="Bench list", description="benchmark: the list page's assets")
    added = insert_list_assets(total, connector, progress=progress)
    inserted_seconds = time.perf_counter() - started
    count = Asset.objects.count()
    log(
        f"[7/7] {count:,} assets in all; added {added['assets']:,} assets, {added['identifiers']:,} identifiers "
        f"in {inserted_seconds:.1f} s"
    )
    return {"assets": count, "added": added, "insert_seconds": round(inserted_seconds, 2)}


def _time_page(client: Client, target: str) -> dict:
    """Median of a few GETs after one warm-up, and the queries of one more."""
    response = client.get(target)  # warm-up (templates, URL resolver, connection)
    if response.status_code != 200:
        raise RuntimeError(f"GET {target} answered {response.status_code}")
    timings = []
    for _ in range(LIST_PAGE_RUNS):
        begun = time.perf_counter()
        response = client.get(target)
        timings.append((time.perf_counter() - begun) * 1000)
    with CaptureQueriesContext(connection) as captured:
        client.get(target)
    slowest = max(captured.captured_queries, key=lambda query: float(query["time"]))
    return {
        "url": target,
        "median_ms": round(statistics.median(timings), 1),
        "runs_ms": [round(value, 1) for value in timings],
        "bytes": len(response.content),
        "table_rows": max(0, response.content.count(b"<tr") - 1),  # minus the header row
        "queries": len(captured.captured_queries),
        "db_ms": round(sum(float(query["time"]) for query in captured.captured_queries) * 1000, 1),
        "slowest_query_ms": round(float(slowest["time"]) * 1000, 1),
        "slowest_query": slowest["sql"][:400],
    }
