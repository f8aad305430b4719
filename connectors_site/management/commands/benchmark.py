"""`manage.py benchmark`: identification quality and throughput, intake latency, worker memory, list page.

The options are here; the run itself is :func:`connectors_site.bench.runner.run_benchmark` (see that module for
what each part measures).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from connectors_site.bench.runner import run_benchmark


class Command(BaseCommand):
    help = (
        "Benchmark identification quality and throughput, intake latency, worker memory and the asset list page on a "
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
        parser.add_argument(
            "--quality-machines",
            type=int,
            default=2000,
            help="machines of the identification-quality estate (part 0: CMDB, MDM and EDR records with traps)",
        )
        parser.add_argument("--skip-quality", action="store_true", help="skip part 0 (identification quality)")
        parser.add_argument("--seed", type=int, default=1, help="generator seed")
        parser.add_argument("--skip-throughput", action="store_true", help="skip parts 1-3")
        parser.add_argument("--skip-queries", action="store_true", help="skip part 4")
        parser.add_argument("--skip-http", action="store_true", help="skip part 5")
        parser.add_argument("--skip-memory", action="store_true", help="skip part 6")
        parser.add_argument("--skip-overview", action="store_true", help="skip part 8 (the Overview page)")
        parser.add_argument(
            "--scaling-records",
            type=int,
            default=50_000,
            help="records of the one delivery run with 1 then 2 workers (part 9, PostgreSQL only; 0 skips it)",
        )
        parser.add_argument(
            "--scaling-repeats", type=int, default=2, help="runs of each worker count in part 9 (the best counts)"
        )
        parser.add_argument(
            "--overview-deliveries",
            type=int,
            default=34_560,
            help="deliveries of history behind the Overview's charts (part 8; 12 connectors over 30 days)",
        )
        parser.add_argument("--json", default="benchmark-results.json", help="where to write the JSON results")
        parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")

    def handle(self, *args, **options):
        run_benchmark(options, log=self.log, warn=self.stderr.write)

    def log(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()
