"""The worker's peak memory on one delivery, measured in a fresh process.

``python -m connectors_site.bench.memory <delivery id>`` (with ``DATABASE_URL`` of the benchmark database) sets
Django up, imports the worker path and opens the database connection, reads its resident set size (idle), then
resets the kernel's high-water mark (``/proc/self/clear_refs``) and runs the real
:func:`connectors.worker.process_delivery`. It prints one JSON line: idle RSS, peak RSS (``VmHWM``), the time
and the delivery's final status. Without ``clear_refs`` the peak is ``ru_maxrss``, which also covers start-up.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

MIB = 1024 * 1024


def _status_kib(name: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def main(delivery_id: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connectors_site.settings")
    import django

    django.setup()
    from django.db import connection

    from connectors.models import Delivery
    from connectors.worker import process_delivery

    connection.ensure_connection()
    gc.collect()
    idle_kib = _status_kib("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reset = _reset_peak()
    started = time.perf_counter()
    status = process_delivery(delivery_id)
    seconds = time.perf_counter() - started
    peak_kib = _status_kib("VmHWM") if reset else None
    if peak_kib is None:
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    delivery = Delivery.objects.get(pk=delivery_id)
    return {
        "idle_mib": round(idle_kib / 1024, 1),
        "peak_mib": round(peak_kib / 1024, 1),
        "above_idle_mib": round((peak_kib - idle_kib) / 1024, 1),
        "peak_source": "VmHWM after clear_refs" if reset else "ru_maxrss",
        "seconds": round(seconds, 2),
        "status": status,
        "records_received": delivery.records_received,
        "records_errors": delivery.records_errors,
        "last_error": delivery.last_error[:300],
    }


def measure(delivery_id: int, *, root: Path, env: dict[str, str], timeout: float = 1800) -> dict:
    """Run :func:`main` in a subprocess and return what it printed."""
    completed = subprocess.run(
        [sys.executable, "-m", "connectors_site.bench.memory", str(delivery_id)],
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(
            f"memory probe failed ({completed.returncode}):\n{completed.stdout[-2000:]}\n{completed.stderr[-3000:]}"
        )
    return json.loads(lines[-1])


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))), flush=True)
