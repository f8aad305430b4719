"""One benchmark run: identification quality and throughput, intake latency, worker memory and list-page time.

It never touches your data: it creates its own database (a temporary SQLite file, or a fresh ``bench_…``
database on the PostgreSQL server of ``DATABASE_URL``), migrates it, loads a deterministic inventory of
``assets`` existing assets, then measures (each part can be skipped):

0. identification quality (before the inventory is loaded, on the still empty database): the seeded three-source
   estate of :mod:`.quality` with its traps (``quality_machines`` machines) through the real intake path, for the
   default rules and the alternative orders; pairwise precision/recall/F1 and the errors each trap caused
   (:mod:`.quality_run`), with the targets for the default rules;
1. identify + merge: records/s of :func:`assets.services.process_records` (the real service: chunks, engine,
   bulk writes) for batches of ``sizes`` records with a realistic mix (matches by each rule, ambiguous keys,
   placeholder serials, repeated source keys, new machines). The sizes run one after the other into the same
   inventory with different record sets (a fresh inventory per size would double the setup time);
2. baseline: a plain ``Asset.objects.bulk_create`` of the same number of rows (built before timing, deleted
   after), and the ratio of (1) to it;
3. scaling: time(largest) / time(smallest);
4. queries per chunk for each of ``chunk_sizes`` (must not depend on the chunk size);
5. intake latency: signed one-asset deliveries over HTTP to gunicorn (``web_workers``) with each of
   ``senders`` concurrent senders, and the same POST to a trivial Django view on the same server;
6. the worker's peak memory processing a ``delivery_mib`` MiB delivery (in a fresh process);
7. the CSAM list page over ``list_assets`` assets (first page and a filtered page, server time);
8. the Overview over the same inventory with a month of deliveries: the inventory recount, then the page with
   its counts stored (server time);
9. worker scaling (PostgreSQL only): one big delivery of ``scaling_records`` records processed by 1 worker process,
   then, on a fresh copy of the same state, by 2; records/s of each and the speed-up (:mod:`.scaling`).

It prints one table (with the issue's targets and PASS/MISS) and writes the same figures, with the environment,
as JSON. Timing figures on a shared 2-core machine are noisy: the load average at start and end is in the JSON.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from connectors.services import create_connector

from .database import BenchDatabase
from .environment import NOTES, describe_environment, load_average
from .generator import MAX_INVENTORY, RecordFactory, build_inventory
from .identification import count_queries_per_chunk, measure_throughput
from .intake_latency import measure_intake
from .list_page import measure_list_page
from .loader import load_inventory
from .overview_page import DEFAULT_DELIVERIES, measure_overview
from .quality_run import default_orders, format_quality_table, run_quality
from .report import build_rows, render, targets
from .scaling import measure_scaling
from .worker_memory import measure_worker_memory

ROOT = Path(settings.BASE_DIR)
Log = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """The validated options of a run."""

    assets: int
    sizes: list[int]
    chunk_size: int
    chunk_sizes: list[int]
    senders: list[int]
    options: dict

    @classmethod
    def from_options(cls, options: dict) -> Plan:
        if options["assets"] < 0 or options["assets"] > MAX_INVENTORY:
            raise CommandError(f"--assets must be between 0 and {MAX_INVENTORY}")
        return cls(
            assets=options["assets"],
            sizes=_int_list(options["sizes"], "--sizes"),
            chunk_size=options["chunk_size"] or settings.IDENTIFICATION_CHUNK_SIZE,
            chunk_sizes=_int_list(options["chunk_sizes"], "--chunk-sizes"),
            senders=_int_list(options["senders"], "--senders"),
            options=options,
        )

    def recorded(self) -> dict:
        """The options as the JSON records them."""
        options = self.options
        return {
            "assets": self.assets,
            "sizes": self.sizes,
            "chunk_size": self.chunk_size,
            "chunk_sizes": self.chunk_sizes,
            "senders": self.senders,
            "requests": options["requests"],
            "web_workers": options["web_workers"],
            "intake_task_backend": options["intake_task_backend"],
            "delivery_mib": options["delivery_mib"],
            "list_assets": options["list_assets"],
            "quality_machines": options.get("quality_machines", 2000),
            "scaling_records": options.get("scaling_records", 0),
            "scaling_repeats": options.get("scaling_repeats", 2),
            "seed": options["seed"],
        }


def _int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"{option} takes comma-separated integers, got {text!r}") from None
    if not values or any(value <= 0 for value in values):
        raise CommandError(f"{option} needs positive integers, got {text!r}")
    return values


def run_benchmark(options: dict, *, log: Log, warn: Log) -> None:
    """Run every part ``options`` asks for (the ``benchmark`` command's options), print the table and write
    the JSON. Raises :class:`CommandError` if a part failed (the others still run)."""
    BenchmarkRun(Plan.from_options(options), log=log, warn=warn).run()


class BenchmarkRun:
    def __init__(self, plan: Plan, *, log: Log, warn: Log) -> None:
        self.plan = plan
        self.options = plan.options
        self.log = log
        self.warn = warn
        self.failed: list[str] = []
        self.results: dict = {
            "environment": describe_environment(ROOT),
            "options": plan.recorded(),
            "notes": list(NOTES),
        }

    def run(self) -> None:
        started = time.perf_counter()
        workdir = Path(tempfile.mkdtemp(prefix="connector-hub-bench-run-"))
        with BenchDatabase(keep=self.options["keep"], log=self.log) as db:
            self._record_database(db)
            self._quality()
            factory = self._setup()
            self._run_parts(factory, self._server_env(db), workdir)
            self._workers(db, factory)
        environment = self.results["environment"]
        environment["load_average_end"] = load_average()
        environment["duration_seconds"] = round(time.perf_counter() - started, 1)
        path = self._report()
        if self.failed:
            raise CommandError(f"benchmark parts failed: {', '.join(self.failed)} (see {path}; logs in {workdir})")
        if not self.options["keep"]:
            shutil.rmtree(workdir, ignore_errors=True)

    # --- steps ---

    def _record_database(self, db: BenchDatabase) -> None:
        self.results["environment"]["database"] = {
            "vendor": db.vendor,
            "version": db.server_version,
            "name": db.name,
            "migrate_seconds": round(db.migrate_seconds, 2),
        }
        self.log(f"[setup] {db.server_version}: benchmark database {db.name} (migrated in {db.migrate_seconds:.1f} s)")

    def _quality(self) -> None:
        """Part 0, on the empty database (the quality run needs one and leaves it empty)."""
        machines = self.options.get("quality_machines", 2000)
        if self.options.get("skip_quality") or machines <= 0:
            self.results["quality"] = {"skipped": True}
            return

        def run() -> dict:
            self.log(f"[0/7] identification quality: {machines:,} machines, orders {', '.join(default_orders())}")
            results = run_quality(machines)
            self.log(format_quality_table(results))
            self.log("")
            return results

        self._section("quality", run)

    def _server_env(self, db: BenchDatabase) -> dict:
        """The environment of the benchmark's own processes (gunicorn, the memory probe)."""
        return {
            "DATABASE_URL": db.url,
            "WEBHOOK_RATE_LIMIT_PER_MINUTE": "0",
            "TASK_BACKEND": self.options["intake_task_backend"],
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }

    def _setup(self) -> RecordFactory:
        """Generate and load the existing inventory; returns the factory of the records to identify."""
        started = time.perf_counter()
        inventory = build_inventory(self.plan.assets, self.options["seed"])
        generated = time.perf_counter() - started
        owner, _ = create_connector(name="Bench inventory", description="benchmark: the existing inventory")
        started = time.perf_counter()

        def progress(counts: dict) -> None:
            if counts["assets"] % 100_000 == 0 or counts["assets"] == len(inventory.records):
                self.log(f"[setup] loaded {counts['assets']:,} / {len(inventory.records):,} inventory assets")

        counts = load_inventory(inventory, owner, progress=progress)
        loaded = time.perf_counter() - started
        self.results["setup"] = {
            **counts,
            "ambiguous_pairs": len(inventory.pairs),
            "generate_seconds": round(generated, 2),
            "load_seconds": round(loaded, 2),
        }
        self.log(
            f"[setup] inventory: {counts['assets']:,} assets, {counts['identifiers']:,} identifiers, "
            f"{len(inventory.pairs):,} pairs sharing a key (generated in {generated:.1f} s, loaded in {loaded:.1f} s)"
        )
        return RecordFactory(inventory, self.options["seed"])

    def _run_parts(self, factory: RecordFactory, env: dict, workdir: Path) -> None:
        plan, options, log = self.plan, self.options, self.log
        if options["skip_throughput"]:
            for key in ("throughput", "baseline", "scaling"):
                self.results[key] = {"skipped": True}
        else:
            self._section(
                "throughput", lambda: measure_throughput(self.results, factory, plan.sizes, plan.chunk_size, log)
            )
        if options["skip_queries"]:
            self.results["queries_per_chunk"] = {"skipped": True}
        else:
            self._section("queries_per_chunk", lambda: count_queries_per_chunk(factory, plan.chunk_sizes, log))
        if options["skip_http"]:
            self.results["intake"] = {"skipped": True}
        else:
            self._section(
                "intake",
                lambda: measure_intake(
                    factory,
                    root=ROOT,
                    env=env,
                    senders=plan.senders,
                    requests=options["requests"],
                    web_workers=options["web_workers"],
                    workdir=workdir,
                    log=log,
                ),
            )
        if options["skip_memory"]:
            self.results["memory"] = {"skipped": True}
        else:
            self._section(
                "memory",
                lambda: measure_worker_memory(
                    factory, root=ROOT, env=env, delivery_mib=options["delivery_mib"], log=log
                ),
            )
        if options["list_assets"] <= 0:
            self.results["list_page"] = {"skipped": True}
        else:
            self._section("list_page", lambda: measure_list_page(options["list_assets"], log))
        if options.get("skip_overview"):
            self.results["overview"] = {"skipped": True}
        else:
            self._section(
                "overview",
                lambda: measure_overview(
                    log, deliveries=options.get("overview_deliveries", DEFAULT_DELIVERIES), seed=options["seed"]
                ),
            )

    def _workers(self, db: BenchDatabase, factory: RecordFactory) -> None:
        """Part 9, last: it copies the benchmark database as the other parts left it."""
        records = self.options.get("scaling_records", 0)
        if records <= 0:
            self.results["workers"] = {"skipped": True}
            return
        env = self._server_env(db)
        self._section(
            "workers",
            lambda: measure_scaling(
                db,
                factory,
                root=ROOT,
                env=env,
                records=records,
                log=self.log,
                repeats=self.options.get("scaling_repeats", 2),
            ),
        )

    def _section(self, key: str, run: Callable[[], dict]) -> None:
        """Run one part; a failure is recorded in its section and the run goes on with the next part."""
        try:
            self.results[key] = run()
        except Exception as exc:
            self.failed.append(key)
            self.results[key] = {"error": f"{type(exc).__name__}: {exc}"}
            self.warn(f"[{key}] failed:\n{traceback.format_exc()}")

    def _report(self) -> Path:
        """Print the table and write the JSON; returns the JSON's path."""
        rows = build_rows(self.results)
        self.results["targets"] = targets(rows)
        path = Path(self.options["json"])
        path.write_text(json.dumps(self.results, indent=2, default=str) + "\n")
        self.log("")
        self.log(render(rows))
        self.log("")
        load = self.results["environment"]
        self.log(
            f"{load['cpus_usable']} CPUs usable, load average {load['load_average_start'][0]:.2f} at start and "
            f"{load['load_average_end'][0]:.2f} at end; {load['duration_seconds']:.0f} s in all. JSON: {path}"
        )
        return path
