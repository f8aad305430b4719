"""What a benchmark run records about where it ran and how to read its figures."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import django

#: How to read the figures; written into the JSON with them.
NOTES = [
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
]


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def describe_environment(root: Path) -> dict:
    """Python, Django, the machine and its load at the start, and the commit being measured."""
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "django": django.get_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "load_average_start": load_average(),
        "git_commit": _git_commit(root),
    }


def _git_commit(root: Path) -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True
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
