"""Part 5 of the benchmark: intake latency over HTTP.

Signed one-asset deliveries go to a real gunicorn with each number of concurrent senders, and the same POST to a
trivial Django view on the same server (:mod:`connectors_site.bench.urls`): the difference is the intake's own
work (authentication, storing, enqueuing).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from connectors.models import Delivery
from connectors.services import create_connector

from .generator import RecordFactory, to_native
from .http_load import GunicornServer, run_load

Log = Callable[[str], None]
ENDPOINTS = ("trivial", "intake")
EXPECTED_STATUS = {"intake": 202, "trivial": 202}


def measure_intake(
    factory: RecordFactory,
    *,
    root: Path,
    env: dict,
    senders: list[int],
    requests: int,
    web_workers: int,
    workdir: Path,
    log: Log,
) -> dict:
    """p50/p99 and requests/s of the intake and of the trivial view, for each sender count."""
    from standardwebhooks.webhooks import Webhook

    connector, credentials = create_connector(name="Bench HTTP", description="benchmark: intake latency")
    signer = Webhook(credentials.signing_secret)
    templates = [to_native(record) for record in factory.batch("http", max(senders))]
    paths = {"intake": f"/webhooks/{connector.uuid}", "trivial": "/bench-trivial/"}

    def requests_for(endpoint: str, label: str):
        def make(index: int, n: int):
            payload = {"assets": [{**templates[index % len(templates)], "source_key": f"{label}-{index}-{n}"}]}
            body = json.dumps(payload).encode()
            message_id = f"msg_{uuid.uuid4().hex}"
            now = datetime.now(UTC)
            headers = {
                "Content-Type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signer.sign(message_id, now, body.decode()),
            }
            return "POST", paths[endpoint], body, headers

        return make

    out: dict = {"web_workers": web_workers, "intake": {}, "trivial": {}, "p50_ratio": {}, "server_p50_ratio": {}}
    log(f"[5/7] starting gunicorn ({web_workers} workers) on the benchmark database ...")
    with GunicornServer(root=root, env=env, workers=web_workers, log_path=workdir / "gunicorn.log") as server:
        _warm_up(server, requests_for, senders, web_workers)
        for count in senders:
            for endpoint in ENDPOINTS:
                run = _load(server, requests_for(endpoint, f"s{count}"), paths[endpoint], endpoint, count, requests)
                out[endpoint][str(count)] = run
                _log_run(log, endpoint, count, run)
            for key, field in (("p50_ratio", "p50_ms"), ("server_p50_ratio", "server_p50_ms")):
                out[key][str(count)] = _ratio(out["intake"][str(count)], out["trivial"][str(count)], field)
        if any(run["unexpected"] for endpoint in ENDPOINTS for run in out[endpoint].values()):
            out["server_log_tail"] = server.log_tail()
    out["deliveries_stored"] = Delivery.objects.filter(connector=connector).count()
    return out


def _warm_up(server: GunicornServer, requests_for, senders: list[int], web_workers: int) -> None:
    warm = max(4 * web_workers, 2 * max(senders))
    for endpoint in ENDPOINTS:
        run_load(
            server.port,
            requests_for(endpoint, "warm"),
            senders=min(4, max(senders)),
            total=warm,
            expect=EXPECTED_STATUS[endpoint],
        )


def _load(server: GunicornServer, make_request, path: str, endpoint: str, count: int, requests: int) -> dict:
    """One measured run, with the server-side times gunicorn logged for it."""
    offset = server.access_log_offset()
    run = run_load(server.port, make_request, senders=count, total=requests, expect=EXPECTED_STATUS[endpoint])
    run.update(server.server_times(path, offset))
    return run


def _log_run(log: Log, endpoint: str, count: int, run: dict) -> None:
    log(
        f"[5/7] {endpoint:7} {count:2} sender(s): p50 {run['p50_ms']:.1f} ms, "
        f"p99 {run['p99_ms']:.1f} ms, {run['requests_per_second']:,.0f} req/s "
        f"(server time p50 {run['server_p50_ms']:.1f} ms, p99 {run['server_p99_ms']:.1f} ms), "
        f"statuses {run['statuses']}"
    )


def _ratio(intake_run: dict, trivial_run: dict, field: str) -> float:
    trivial = trivial_run.get(field) or 0
    intake = intake_run.get(field) or 0
    return round(intake / trivial, 2) if trivial else 0
