"""`manage.py benchmark`: identification throughput, intake latency, worker memory and list-page time, in one run.

It never touches your data: it creates its own database (a temporary SQLite file, or a fresh ``bench_…``
database on the PostgreSQL server of ``DATABASE_URL``), migrates it, loads a deterministic inventory of
``--assets`` existing assets, then measures (each part can be skipped):

1. identify + merge: records/s of :func:`assets.services.process_records` (the real service: chunks, engine,
   bulk writes) for batches of ``--sizes`` records with a realistic mix (matches by each rule, ambiguous keys,
   placeholder serials, repeated source keys, new machines). The sizes run one after the other into the same
   inventory with different record sets (a fresh inventory per size would double the setup time);
2. baseline: a plain ``Asset.objects.bulk_create`` of the same number of rows (built before timing, deleted
   after), and the ratio of (1) to it;
3. scaling: time(largest) / time(smallest);
4. queries per chunk for each of ``--chunk-sizes`` (must not depend on the chunk size);
5. intake latency: signed one-asset deliveries over HTTP to gunicorn (``--web-workers``) with each of
   ``--senders`` concurrent senders, and the same POST to a trivial Django view on the same server;
6. the worker's peak memory processing a ``--delivery-mib`` MiB delivery (in a fresh process);
7. the CSAM list page over ``--list-assets`` assets (first page and a filtered page, server time).

It prints one table (with the issue's targets and PASS/MISS) and writes the same figures, with the environment,
as JSON (``--json``). Timing figures on a shared 2-core machine are noisy: the load average at start and end is
in the JSON.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
import traceback
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import django
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from assets import services
from assets.models import Asset
from assets.services import engine_config, process_records
from connectors.inbox import store_delivery
from connectors.models import Connector, Delivery
from connectors.services import do_create_connector
from connectors_site.bench import memory as memory_probe
from connectors_site.bench.database import BenchDatabase
from connectors_site.bench.generator import MAX_INVENTORY, RecordFactory, build_inventory, native_body, to_native
from connectors_site.bench.http_load import GunicornServer, run_load
from connectors_site.bench.loader import insert_list_assets, load_inventory
from connectors_site.bench.report import SCALING_SLACK, build_rows, render, targets

ROOT = Path(settings.BASE_DIR)
MIB = 1024 * 1024
LIST_PAGE_RUNS = 5
FILTERED_QUERY = "?q=web-12&kind=unmanaged"


def _int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"{option} takes comma-separated integers, got {text!r}") from None
    if not values or any(value <= 0 for value in values):
        raise CommandError(f"{option} needs positive integers, got {text!r}")
    return values


def _statement_kind(sql: str) -> str:
    """``INSERT``, ``SELECT``… of a captured query (``executemany`` ones read ``"<n> times: INSERT …"``)."""
    words = sql.split(None, 3)
    if len(words) > 2 and words[0].isdigit() and words[1] == "times:":
        return f"{words[2].upper()} (executemany)"
    return words[0].upper() if words else ""


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


@contextmanager
def _chunk_timer():
    """Time each ``process_chunk`` call that ``process_records`` makes (a thin wrapper around the module
    attribute, restored afterwards): shows whether a chunk gets slower as the inventory grows."""
    original = getattr(services, "process_chunk", None)
    seconds: list[float] = []
    if original is None:  # the service was reorganized: no per-chunk figures, the run itself is unaffected
        yield seconds
        return

    @functools.wraps(original)
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - started)

    services.process_chunk = timed
    try:
        yield seconds
    finally:
        services.process_chunk = original


def _chunk_summary(seconds: list[float]) -> dict:
    """Per-chunk times in ms: median, and the mean of the first and last tenth of the run (drift)."""
    if not seconds:
        return {}
    tenth = max(1, len(seconds) // 10)
    return {
        "count": len(seconds),
        "median_ms": round(statistics.median(seconds) * 1000, 1),
        "first_tenth_mean_ms": round(statistics.mean(seconds[:tenth]) * 1000, 1),
        "last_tenth_mean_ms": round(statistics.mean(seconds[-tenth:]) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
    }


class Command(BaseCommand):
    help = (
        "Benchmark identification throughput, intake latency, worker memory and the asset list page on a "
        "throw-away database (SQLite, or PostgreSQL with DATABASE_URL); prints a table and writes JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("--assets", type=int, default=100_000, help="existing assets in the inventory (N)")
        parser.add_argument("--sizes", default="10000,100000", help="batch sizes M to identify (comma-separated)")
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=None,
            help="chunk size of the throughput runs (default: IDENTIFICATION_CHUNK_SIZE, what the worker uses)",
        )
        parser.add_argument(
            "--chunk-sizes", default="250,1000", help="chunk sizes whose query counts are compared (part 4)"
        )
        parser.add_argument("--senders", default="1,16", help="concurrent HTTP senders to measure (comma-separated)")
        parser.add_argument("--requests", type=int, default=400, help="requests per endpoint and sender count")
        parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument(
            "--intake-task-backend",
            default="django.tasks.backends.dummy.DummyBackend",
            help="TASK_BACKEND of the benchmark's gunicorn (the default enqueues nothing; "
            "django_tasks_db.DatabaseBackend adds the real task row, still without a worker)",
        )
        parser.add_argument("--delivery-mib", type=float, default=10.0, help="size of the memory-test delivery")
        parser.add_argument(
            "--list-assets", type=int, default=1_000_000, help="assets behind the list page (0 skips that part)"
        )
        parser.add_argument("--seed", type=int, default=1, help="generator seed")
        parser.add_argument("--skip-throughput", action="store_true", help="skip parts 1-3")
        parser.add_argument("--skip-queries", action="store_true", help="skip part 4")
        parser.add_argument("--skip-http", action="store_true", help="skip part 5")
        parser.add_argument("--skip-memory", action="store_true", help="skip part 6")
        parser.add_argument("--json", default="benchmark-results.json", help="where to write the JSON results")
        parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")

    # --- output ---

    def log(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()

    # --- main ---

    def handle(self, *args, **options):
        if options["assets"] < 0 or options["assets"] > MAX_INVENTORY:
            raise CommandError(f"--assets must be between 0 and {MAX_INVENTORY}")
        sizes = _int_list(options["sizes"], "--sizes")
        chunk_sizes = _int_list(options["chunk_sizes"], "--chunk-sizes")
        senders = _int_list(options["senders"], "--senders")
        chunk_size = options["chunk_size"] or settings.IDENTIFICATION_CHUNK_SIZE
        started = time.perf_counter()
        self.failed: list[str] = []
        results: dict = {
            "environment": {
                "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "python": platform.python_version(),
                "django": django.get_version(),
                "platform": platform.platform(),
                "cpu_count": os.cpu_count(),
                "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
                "cpu_model": _cpu_model(),
                "load_average_start": [round(value, 2) for value in os.getloadavg()],
                "git_commit": _git_commit(),
            },
            "options": {
                "assets": options["assets"],
                "sizes": sizes,
                "chunk_size": chunk_size,
                "chunk_sizes": chunk_sizes,
                "senders": senders,
                "requests": options["requests"],
                "web_workers": options["web_workers"],
                "intake_task_backend": options["intake_task_backend"],
                "delivery_mib": options["delivery_mib"],
                "list_assets": options["list_assets"],
                "seed": options["seed"],
            },
            "notes": [
                "Throughput sizes run one after the other into the same inventory with different record sets "
                "(each run adds its new assets, ~35% of M); rebuilding the inventory per size would double setup.",
                "SQLite is measured as the product configures it (WAL, synchronous=NORMAL, no ANALYZE); on "
                "PostgreSQL the bulk-loaded tables are ANALYZEd (VACUUM ANALYZE for the list table), as "
                "autovacuum would.",
                "Intake latency: the same gunicorn serves the intake and the trivial view; each sender thread keeps "
                "its own connection (sync workers close it after each reply). With more senders than workers, "
                "client latency includes waiting in the listen backlog; 'server' times come from gunicorn's "
                "access log (request time, no queueing). The task backend is --intake-task-backend "
                "(default: the dummy one, so the intake is measured without the task row).",
                "Memory: a fresh `python -m connectors_site.bench.memory` process runs the worker path "
                "(connectors.worker.process_delivery) on the stored delivery; peak = VmHWM after resetting it.",
                "List page: the assets beyond the inventory are generated in SQL, each with one source record and "
                "its identifiers (host name, FQDN, serial, IP, MAC) as identification writes them, so search and "
                "filters see all of them; times are server-side (Django test client, logged-in superuser), "
                "median of 5 after one warm-up. The connector page is View Assets in CSAM for the inventory's "
                "connector, whose assets are the oldest ids under all the list assets (the same target applies).",
            ],
        }
        workdir = Path(tempfile.mkdtemp(prefix="connector-hub-bench-run-"))
        with BenchDatabase(keep=options["keep"], log=self.log) as db:
            results["environment"]["database"] = {
                "vendor": db.vendor,
                "version": db.server_version,
                "name": db.name,
                "migrate_seconds": round(db.migrate_seconds, 2),
            }
            self.log(
                f"[setup] {db.server_version}: benchmark database {db.name} (migrated in {db.migrate_seconds:.1f} s)"
            )
            env = {
                "DATABASE_URL": db.url,
                "WEBHOOK_RATE_LIMIT_PER_MINUTE": "0",
                "TASK_BACKEND": options["intake_task_backend"],
                "DEBUG": "false",
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
            factory = self._setup(results, options)
            if options["skip_throughput"]:
                for key in ("throughput", "baseline", "scaling"):
                    results[key] = {"skipped": True}
            else:
                self._section(results, "throughput", lambda: self._throughput(results, factory, sizes, chunk_size))
            if options["skip_queries"]:
                results["queries_per_chunk"] = {"skipped": True}
            else:
                self._section(results, "queries_per_chunk", lambda: self._queries(factory, chunk_sizes))
            if options["skip_http"]:
                results["intake"] = {"skipped": True}
            else:
                self._section(
                    results,
                    "intake",
                    lambda: self._intake(factory, env, senders, options["requests"], options["web_workers"], workdir),
                )
            if options["skip_memory"]:
                results["memory"] = {"skipped": True}
            else:
                self._section(results, "memory", lambda: self._memory(factory, env, options["delivery_mib"]))
            if options["list_assets"] <= 0:
                results["list_page"] = {"skipped": True}
            else:
                self._section(results, "list_page", lambda: self._list_page(options["list_assets"]))
        results["environment"]["load_average_end"] = [round(value, 2) for value in os.getloadavg()]
        results["environment"]["duration_seconds"] = round(time.perf_counter() - started, 1)
        rows = build_rows(results)
        results["targets"] = targets(rows)
        path = Path(options["json"])
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")
        self.log("")
        self.log(render(rows))
        self.log("")
        load = results["environment"]
        self.log(
            f"{load['cpus_usable']} CPUs usable, load average {load['load_average_start'][0]:.2f} at start and "
            f"{load['load_average_end'][0]:.2f} at end; {load['duration_seconds']:.0f} s in all. JSON: {path}"
        )
        if self.failed:
            raise CommandError(f"benchmark parts failed: {', '.join(self.failed)} (see {path}; logs in {workdir})")
        if not options["keep"]:
            shutil.rmtree(workdir, ignore_errors=True)

    def _section(self, results: dict, key: str, run) -> None:
        try:
            results[key] = run()
        except Exception as exc:
            self.failed.append(key)
            results[key] = {"error": f"{type(exc).__name__}: {exc}"}
            self.stderr.write(f"[{key}] failed:\n{traceback.format_exc()}")

    # --- setup ---

    def _setup(self, results: dict, options: dict) -> RecordFactory:
        started = time.perf_counter()
        inventory = build_inventory(options["assets"], options["seed"])
        generated = time.perf_counter() - started
        owner, _ = do_create_connector(name="Bench inventory", description="benchmark: the existing inventory")
        started = time.perf_counter()

        def progress(counts: dict) -> None:
            if counts["assets"] % 100_000 == 0 or counts["assets"] == len(inventory.records):
                self.log(f"[setup] loaded {counts['assets']:,} / {len(inventory.records):,} inventory assets")

        counts = load_inventory(inventory, owner, progress=progress)
        loaded = time.perf_counter() - started
        results["setup"] = {
            **counts,
            "ambiguous_pairs": len(inventory.pairs),
            "generate_seconds": round(generated, 2),
            "load_seconds": round(loaded, 2),
        }
        self.log(
            f"[setup] inventory: {counts['assets']:,} assets, {counts['identifiers']:,} identifiers, "
            f"{len(inventory.pairs):,} pairs sharing a key (generated in {generated:.1f} s, loaded in {loaded:.1f} s)"
        )
        return RecordFactory(inventory, options["seed"])

    # --- 1-3: throughput, baseline, scaling ---

    def _throughput(self, results: dict, factory: RecordFactory, sizes: list[int], chunk_size: int) -> dict:
        connector, _ = do_create_connector(name="Bench source", description="benchmark: the measured batches")
        runs, baseline_runs = [], []
        for number, size in enumerate(sizes):
            name = f"m{number}"
            records = factory.batch(name, size)
            gc.collect()
            self.log(f"[1/7] identify+merge M={size:,} into the inventory (chunk {chunk_size}) ...")
            with _chunk_timer() as chunk_seconds:
                started = time.perf_counter()
                outcome = process_records(connector, records, chunk_size=chunk_size)
                seconds = time.perf_counter() - started
            runs.append(
                {
                    "records": size,
                    "seconds": round(seconds, 3),
                    "records_per_second": round(size / seconds, 1),
                    "outcomes": {
                        counter: getattr(outcome, counter)
                        for counter in ("received", "created", "updated", "merged", "skipped", "errors")
                    },
                    "mix": dict(factory.mix[name]),
                    "chunks": _chunk_summary(chunk_seconds),
                }
            )
            chunks = runs[-1]["chunks"]
            self.log(
                f"[1/7] identify+merge M={size:,}: {seconds:.2f} s ({size / seconds:,.0f} records/s; "
                f"chunk median {chunks.get('median_ms', 0):.0f} ms, "
                f"first tenth {chunks.get('first_tenth_mean_ms', 0):.0f} ms, "
                f"last tenth {chunks.get('last_tenth_mean_ms', 0):.0f} ms)"
            )
            baseline_runs.append(self._bulk_create(records))
            self.log(
                f"[2/7] bulk_create baseline M={size:,}: {baseline_runs[-1]['seconds']:.2f} s "
                f"({baseline_runs[-1]['rows_per_second']:,.0f} rows/s)"
            )
            del records
            gc.collect()
        results["baseline"] = {
            "runs": baseline_runs,
            "ratio": {
                str(run["records"]): round(run["seconds"] / base["seconds"], 2)
                for run, base in zip(runs, baseline_runs, strict=True)
            },
        }
        small = min(runs, key=lambda run: run["records"])
        large = max(runs, key=lambda run: run["records"])
        if large["records"] > small["records"]:
            size_ratio = large["records"] / small["records"]
            results["scaling"] = {
                "small": small["records"],
                "large": large["records"],
                "size_ratio": round(size_ratio, 2),
                "time_ratio": round(large["seconds"] / small["seconds"], 2),
                "target": round(SCALING_SLACK * size_ratio, 2),
            }
            self.log(f"[3/7] scaling: time ratio {results['scaling']['time_ratio']:.2f} for {size_ratio:.1f}x records")
        else:
            results["scaling"] = {"skipped": True, "reason": "needs two different sizes"}
        return {"inventory_assets": results["setup"]["assets"], "chunk_size": chunk_size, "runs": runs}

    def _bulk_create(self, records) -> dict:
        """Time ``bulk_create`` of one plain Asset row per record (objects built first), then delete them."""
        now = datetime.now(UTC)
        objects = [
            Asset(
                hostname=record.hostname[:255],
                fqdn=record.fqdn,
                ip_addresses=list(record.ip_addresses),
                mac_addresses=list(record.mac_addresses),
                serial_number=record.serial_number,
                hardware_uuid=record.hardware_uuid,
                os=record.os,
                os_version=record.os_version,
                tags=list(record.tags),
                first_seen=now,
                last_seen=now,
            )
            for record in records
        ]
        gc.collect()
        started = time.perf_counter()
        created = Asset.objects.bulk_create(objects, batch_size=1000)
        seconds = time.perf_counter() - started
        ids = [asset.pk for asset in created]
        table = connection.ops.quote_name(Asset._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE id >= %s AND id <= %s", [min(ids), max(ids)])
            deleted = cursor.rowcount
        if deleted != len(objects):
            raise RuntimeError(f"baseline cleanup deleted {deleted} rows, expected {len(objects)}")
        return {"rows": len(objects), "seconds": round(seconds, 3), "rows_per_second": round(len(objects) / seconds, 1)}

    # --- 4: queries per chunk ---

    def _queries(self, factory: RecordFactory, chunk_sizes: list[int]) -> dict:
        connector, _ = do_create_connector(name="Bench queries", description="benchmark: queries per chunk")
        config = engine_config(connector)
        chunks = {}
        for size in chunk_sizes:
            records = factory.batch(f"q{size}", size)
            # The same records again, newer: every source key now exists (the update path).
            resent = [
                replace(record, os_version=f"{record.os_version}-u", updated_at=record.updated_at + timedelta(days=1))
                for record in records
            ]
            entry = {}
            for label, batch in (("new", records), ("resent", resent)):
                with CaptureQueriesContext(connection) as captured:
                    process_records(connector, batch, chunk_size=size, config=config)
                statements = [query["sql"] for query in captured.captured_queries]
                entry[label] = {
                    "queries": len(statements),
                    "by_statement": dict(Counter(_statement_kind(sql) for sql in statements)),
                    "db_ms": round(sum(float(query["time"]) for query in captured.captured_queries) * 1000, 1),
                    "statements": [sql[:160] for sql in statements],
                }
            chunks[str(size)] = {
                "queries": entry["new"]["queries"],
                "resent_queries": entry["resent"]["queries"],
                **entry,
            }
            self.log(
                f"[4/7] one chunk of {size:,} records: {entry['new']['queries']} queries "
                f"(the same keys re-sent: {entry['resent']['queries']})"
            )
        return {"chunks": chunks}

    # --- 5: intake latency ---

    def _intake(
        self, factory: RecordFactory, env: dict, senders: list[int], requests: int, web_workers: int, workdir: Path
    ) -> dict:
        from standardwebhooks.webhooks import Webhook

        connector, credentials = do_create_connector(name="Bench HTTP", description="benchmark: intake latency")
        signer = Webhook(credentials.signing_secret)
        templates = [to_native(record) for record in factory.batch("http", max(senders))]
        paths = {"intake": f"/webhooks/{connector.uuid}", "trivial": "/bench-trivial/"}
        expect = {"intake": 202, "trivial": 202}

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
        self.log(f"[5/7] starting gunicorn ({web_workers} workers) on the benchmark database ...")
        with GunicornServer(root=ROOT, env=env, workers=web_workers, log_path=workdir / "gunicorn.log") as server:
            warm = max(4 * web_workers, 2 * max(senders))
            for endpoint in ("trivial", "intake"):
                run_load(
                    server.port,
                    requests_for(endpoint, "warm"),
                    senders=min(4, max(senders)),
                    total=warm,
                    expect=expect[endpoint],
                )
            for count in senders:
                for endpoint in ("trivial", "intake"):
                    offset = server.access_log_offset()
                    run = run_load(
                        server.port,
                        requests_for(endpoint, f"s{count}"),
                        senders=count,
                        total=requests,
                        expect=expect[endpoint],
                    )
                    run.update(server.server_times(paths[endpoint], offset))
                    out[endpoint][str(count)] = run
                    self.log(
                        f"[5/7] {endpoint:7} {count:2} sender(s): p50 {run['p50_ms']:.1f} ms, "
                        f"p99 {run['p99_ms']:.1f} ms, {run['requests_per_second']:,.0f} req/s "
                        f"(server time p50 {run['server_p50_ms']:.1f} ms, p99 {run['server_p99_ms']:.1f} ms), "
                        f"statuses {run['statuses']}"
                    )
                for key, field in (("p50_ratio", "p50_ms"), ("server_p50_ratio", "server_p50_ms")):
                    trivial = out["trivial"][str(count)].get(field) or 0
                    intake = out["intake"][str(count)].get(field) or 0
                    out[key][str(count)] = round(intake / trivial, 2) if trivial else 0
            if any(run["unexpected"] for endpoint in ("intake", "trivial") for run in out[endpoint].values()):
                out["server_log_tail"] = server.log_tail()
        out["deliveries_stored"] = Delivery.objects.filter(connector=connector).count()
        return out

    # --- 6: worker memory ---

    def _memory(self, factory: RecordFactory, env: dict, delivery_mib: float) -> dict:
        connector, _ = do_create_connector(name="Bench memory", description="benchmark: worker memory")
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
        self.log(
            f"[6/7] processing a {len(body) / MIB:.1f} MiB delivery ({records:,} records) in a fresh worker process ..."
        )
        probe = memory_probe.measure(received.delivery.pk, root=ROOT, env=env)
        self.log(
            f"[6/7] worker RSS idle {probe['idle_mib']:.0f} MiB, peak {probe['peak_mib']:.0f} MiB "
            f"(+{probe['above_idle_mib']:.0f} MiB) in {probe['seconds']:.1f} s: {probe['status']}"
        )
        if probe["status"] != "processed":
            raise RuntimeError(f"the delivery ended {probe['status']}: {probe.get('last_error')}")
        return {"delivery_bytes": len(body), "delivery_mib": round(len(body) / MIB, 2), "records": records, **probe}

    # --- 7: list page ---

    def _list_page(self, total: int) -> dict:
        started = time.perf_counter()

        def progress(added: int, missing: int) -> None:
            if added % 200_000 == 0 or added == missing:
                self.log(f"[7/7] inserted {added:,} / {missing:,} list assets")

        connector, _ = do_create_connector(name="Bench list", description="benchmark: the list page's assets")
        added = insert_list_assets(total, connector, progress=progress)
        inserted_seconds = time.perf_counter() - started
        count = Asset.objects.count()
        self.log(
            f"[7/7] {count:,} assets in all; added {added['assets']:,} assets, {added['identifiers']:,} identifiers "
            f"in {inserted_seconds:.1f} s"
        )
        user = get_user_model().objects.create_user("bench-admin", is_staff=True, is_superuser=True)
        hosts = list(settings.ALLOWED_HOSTS)
        with override_settings(ALLOWED_HOSTS=[*hosts, "testserver"]):
            client = Client()
            client.force_login(user)
            url = reverse("assets:asset_list")
            out: dict = {"assets": count, "added": added, "insert_seconds": round(inserted_seconds, 2)}
            # View Assets in CSAM for the inventory's connector: its assets are the oldest, under every list asset.
            oldest = Connector.objects.get(name="Bench inventory")
            pages = (
                ("first_page", url),
                ("filtered_page", url + FILTERED_QUERY),
                ("connector_page", f"{url}?connector={oldest.uuid}"),
            )
            for name, target in pages:
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
                out[name] = {
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
                self.log(
                    f"[7/7] {target}: {out[name]['table_rows']} rows, median {out[name]['median_ms']:.0f} ms "
                    f"over {LIST_PAGE_RUNS} runs "
                    f"({out[name]['queries']} queries, slowest {out[name]['slowest_query_ms']:.0f} ms)"
                )
        return out
