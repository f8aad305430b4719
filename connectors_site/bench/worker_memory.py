"""Part 6 of the benchmark: the worker's peak memory on one large delivery, measured in a fresh process
(:mod:`connectors_site.bench.memory`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from connectors.inbox import store_delivery
from connectors.services import create_connector

from . import memory as memory_probe
from .generator import RecordFactory, native_body

MIB = 1024 * 1024


def measure_worker_memory(
    factory: RecordFactory, *, root: Path, env: dict, delivery_mib: float, log: Callable[[str], None]
) -> dict:
    """Store a delivery of about ``delivery_mib`` MiB (within the body limit) and process it in a fresh worker."""
    connector, _ = create_connector(name="Bench memory", description="benchmark: worker memory")
    limit = min(int(delivery_mib * MIB), settings.WEBHOOK_MAX_BODY_BYTES)
    body, records = native_body(factory.stream("memory"), limit)
    received = store_delivery(
        connector,
        body,
        content_type="application/json",
        headers={"user-agent": "connector-hub benchmark"},
        idempotency_key=f"bench-memory-{uuid.uuid4().hex}",
        authenticated_by="token",
    )
    log(f"[6/7] processing a {len(body) / MIB:.1f} MiB delivery ({records:,} records) in a fresh worker process ...")
    probe = memory_probe.measure(received.delivery.pk, root=root, env=env)
    log(
        f"[6/7] worker RSS idle {probe['idle_mib']:.0f} MiB, peak {probe['peak_mib']:.0f} MiB "
        f"(+{probe['above_idle_mib']:.0f} MiB) in {probe['seconds']:.1f} s: {probe['status']}"
    )
    if probe["status"] != "processed":
        raise RuntimeError(f"the delivery ended {probe['status']}: {probe.get('last_error')}")
    return {"delivery_bytes": len(body), "delivery_mib": round(len(body) / MIB, 2), "records": records, **probe}
